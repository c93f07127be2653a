// trainer.c: one REPA-E style training step: the five losses routed as the spec's table says,
// two AdamW optimisers with warmup and clipping, the SiT EMA; and building the Trainer that
// holds its state. Checkpoints are checkpoint.c, the run loop run.c, the estimate memory.c,
// the GAN term and the discriminator's step gan_step.c.
// align "repa" follows the recipe in repa.h (REPA-E's train_repae.py): a VAE-side pass
// (repa_vae_pass) before the BN's training forward, the SiT side inside diffusion_pass; the
// projector is clipped with the SiT as one set, has its own AdamW moments and is covered by the
// EMA; see configs/README.md ("REPA's target encoder").
#include "train/trainer.h"
#include "train/trainer_dist.h"
#include "data/data.h"
#include "model/encoder.h"
#include "model/model.h"
#include "ops/ops.h"
#include "base/util.h"
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int trainer_sit_needed(const Trainer *tr) {
    const Config *c = &tr->cfg;
    return c->train.train_sit || (c->diffusion.grad_to_vae && c->train.train_vae);
}

// align "repa": the frozen target encoder, the projector and its AdamW moments and EMA.
static int repa_build(Trainer *tr, int mode, char *err) {
    const Config *c = &tr->cfg;
    Model *m = &tr->m;
    const Sit *s = &m->sit;
    int count = mode & TRAINER_COUNT, alloc = count ? ALLOC_COUNT : 0;
    // The projector sees every token of the batch as one row.
    if ((long)tr->B * s->T > INT_MAX)
        return seterr(err, "align.kind \"repa\": train.batch_size %d times %d SiT tokens is more projector rows than "
                           "an int holds; lower train.batch_size or data.image_size, or raise sit.patch", tr->B, s->T);
    if (count || ((mode & TRAINER_SYNTHETIC) && !c->align.encoder[0])) {
        // Bench and tests: a random encoder of the default layout costs what the trained one does.
        EncoderLayout L = encoder_layout_default(m->C, m->S, m->num_classes > 0 ? m->num_classes : 10);
        if (encoder_build(&tr->tgt.enc, &L, tr->B, alloc, err)) return -1;
        if (!count) {
            Rng r;
            rng_seed(&r, (uint64_t)c->train.seed ^ 0xe7c0dedULL);
            encoder_init(&tr->tgt.enc, &r);
        }
        if (repa_target_init(&tr->tgt, s->gh, s->gw, err)) { encoder_free(&tr->tgt.enc); return -1; }
    } else if (repa_target_open_for(&tr->tgt, c->align.target, c->align.encoder, c->data.dataset, m->C, m->S, s->gh, s->gw,
                                    tr->B, err)) {
        char e2[ERRLEN];
        snprintf(e2, sizeof e2, "%s", err);
        return seterr(err, "align.kind \"repa\": %s", e2);
    }
    if (projector_build(&tr->proj, s->D, c->align.projector_dim, tr->tgt.F, tr->B * s->T, alloc | ALLOC_GRAD, err)) {
        repa_target_free(&tr->tgt);
        return -1;
    }
    if (count) return 0; // the moments and EMA: 3 * ntrain floats (memory.c)
    tr->idx = xcalloc(tr->B, sizeof(int));
    size_t np = tr->proj.params.ntrain;
    tr->proj_opt = xcalloc(3 * np, sizeof(float));
    tr->m_proj = tr->proj_opt;
    tr->v_proj = tr->m_proj + np;
    tr->ema_proj = tr->v_proj + np;
    return 0;
}

int trainer_build(Trainer *tr, const Config *cfg, int mode, char *err) {
    return trainer_build_dist(tr, cfg, mode, NULL, err);
}

// The latent BN's SyncBatchNorm reduction.
static void bn_reduce(void *ctx, double *v, int n) { dist_allreduce_sum_d(ctx, v, (size_t)n); }

int trainer_build_dist(Trainer *tr, const Config *cfg, int mode, const Dist *dist, char *err) {
    memset(tr, 0, sizeof *tr);
    int count = mode & TRAINER_COUNT, alloc = count ? ALLOC_COUNT : 0;
    if (count) mode |= TRAINER_SYNTHETIC;
    tr->cfg = *cfg;
    tr->world = dist_size(dist);
    tr->rank = dist_rank(dist);
    tr->dist = tr->world > 1 ? dist : NULL;
    tr->Bg = cfg->train.batch_size;
    if (tr->Bg % tr->world)
        return seterr(err, "train.batch_size %d does not divide evenly over %d processes: use a multiple of %d, or "
                           "launch a number of processes that divides it", tr->Bg, tr->world, tr->world);
    tr->B = tr->Bg / tr->world;
    tr->off = tr->rank * tr->B;
    tr->recon_l1 = strcmp(cfg->loss.recon, "l1") == 0;
    if (strcmp(cfg->align.kind, "score") == 0) tr->align = ALIGN_SCORE;
    else if (strcmp(cfg->align.kind, "repa") == 0) tr->align = ALIGN_REPA;
    if (!(mode & TRAINER_SYNTHETIC)) {
        if (dataset_open(&tr->data, &cfg->data, DATA_TRAIN, err)) return -1;
        int k = dataset_num_classes(tr->data);
        if (cfg->sit.num_classes > k) {
            seterr(err, "sit.num_classes is %d but dataset '%s' has %d classes", cfg->sit.num_classes, cfg->data.dataset, k);
            dataset_close(tr->data);
            return -1;
        }
        loader_init(&tr->loader, tr->data, (uint64_t)cfg->data.seed);
    }
    if (model_build(&tr->m, cfg, tr->B, alloc | ALLOC_GRAD, err)) {
        if (tr->data) { loader_free(&tr->loader); dataset_close(tr->data); }
        return -1;
    }
    Model *m = &tr->m;
    if (tr->dist && m->use_bn) {
        m->bn.reduce = bn_reduce;
        m->bn.reduce_ctx = (void *)tr->dist;
        m->bn.world = tr->world;
    }
    if (tr->align == ALIGN_REPA && repa_build(tr, mode, err)) {
        model_free(m);
        if (tr->data) { loader_free(&tr->loader); dataset_close(tr->data); }
        return -1;
    }
    // The AdamW moments of both sides, the SiT EMA and its backup: 2 nv + 2 ns + 2 nst floats
    // (counted, not allocated, in a dry run: memory.c adds them).
    size_t nv = m->vae.params.ntrain, ns = m->sit.params.ntrain, nst = m->sit.params.total;
    if (!count) {
        tr->opt = xcalloc(2 * nv + 2 * ns + 2 * nst, sizeof(float));
        tr->m_vae = tr->opt;
        tr->v_vae = tr->m_vae + nv;
        tr->m_sit = tr->v_vae + nv;
        tr->v_sit = tr->m_sit + ns;
        tr->ema = tr->v_sit + ns;
        tr->backup = tr->ema + nst;
    }
    int B = tr->B, n = cfg->sample.n;
    size_t nz = B * m->nz;
    buf_init(&tr->bufs);
    buf_add(&tr->bufs, &tr->x, B * m->nx);
    buf_add(&tr->bufs, &tr->eps_vae, nz);
    buf_add(&tr->bufs, &tr->zn, nz);
    buf_add(&tr->bufs, &tr->eps, nz);
    buf_add(&tr->bufs, &tr->t, B);
    buf_add(&tr->bufs, &tr->t2, B);
    buf_add(&tr->bufs, &tr->eps2, nz);
    buf_add(&tr->bufs, &tr->xt, nz);
    buf_add(&tr->bufs, &tr->dout, nz);
    buf_add(&tr->bufs, &tr->dxt, nz);
    buf_add(&tr->bufs, &tr->dzn, nz);
    buf_add(&tr->bufs, &tr->dxr, B * m->nx);
    buf_add(&tr->bufs, &tr->sample_imgs, (size_t)n * m->nx);
    buf_add(&tr->bufs, &tr->bn_save, 2 * (size_t)m->zc);
    if (tr->dist) buf_add(&tr->bufs, &tr->scratch, m->nx > m->nz ? m->nx : m->nz);
    if (tr->align == ALIGN_REPA) {
        buf_add(&tr->bufs, &tr->targets, (size_t)B * m->sit.T * tr->tgt.F);
        buf_add(&tr->bufs, &tr->dtok, (size_t)B * m->sit.T * m->sit.D);
        buf_add(&tr->bufs, &tr->zv, nz);
    }
    if (gan_build(tr, mode, err) || perc_build(tr, mode, err)) {
        trainer_free(tr);
        return -1;
    }
    buf_alloc(&tr->bufs, alloc);
    if (count) return 0;
    tr->y = xcalloc(B, sizeof(int));
    tr->ydrop = xcalloc(B, sizeof(int));
    tr->ykeep = xcalloc(B, sizeof(int));
    rng_seed(&tr->rng, (uint64_t)cfg->train.seed);
    return 0;
}

void trainer_free(Trainer *tr) {
    model_free(&tr->m);
    if (tr->data) { loader_free(&tr->loader); dataset_close(tr->data); }
    buf_free(&tr->bufs);
    free(tr->opt); free(tr->y); free(tr->ydrop); free(tr->ykeep);
    gan_free(tr);
    if (tr->align == ALIGN_REPA) { // built (or counted) with the trainer
        projector_free(&tr->proj);
        repa_target_free(&tr->tgt);
        trainer_targets_free(tr);
        free(tr->proj_opt);
    }
    perc_free(tr);
}

// Fresh weights: init from the seed, then init.vae / init.sit if given.
int trainer_init_weights(Trainer *tr, char *err) {
    Rng r;
    rng_seed(&r, (uint64_t)tr->cfg.train.seed ^ 0x1417ULL);
    model_init(&tr->m, &r);
    // The projector always starts fresh (init.sit holds the SiT only, or REPA's projectors,
    // which are then ignored).
    if (tr->align == ALIGN_REPA) projector_init(&tr->proj, &r);
    gan_init_weights(tr);
    if (tr->cfg.init.vae[0] && model_load_vae(&tr->m, tr->cfg.init.vae, err)) return -1;
    if (tr->cfg.init.sit[0] && model_load_sit(&tr->m, tr->cfg.init.sit, err)) return -1;
    memcpy(tr->ema, tr->m.sit.params.data, tr->m.sit.params.total * sizeof(float));
    if (tr->align == ALIGN_REPA)
        memcpy(tr->ema_proj, tr->proj.params.data, tr->proj.params.ntrain * sizeof(float));
    return 0;
}

static float lr_at(float lr, int warmup, long step) {
    if (warmup > 0 && step < warmup) return lr * (float)(step + 1) / (float)warmup;
    return lr;
}

_Static_assert(TRAIN_NMETRICS == M_COUNT, "metric table");
const char *const train_metric_names[TRAIN_NMETRICS] = {"recon", "kl", "diffusion", "align", "smooth", "total",
                                                 "latent_std", "grad_norm_vae", "grad_norm_sit", "lr_vae",
                                                 "lr_sit", "img_per_s", "latent_sstd", "collapse",
                                                 "gan_g", "gan_d", "logits_real", "logits_fake",
                                                 "grad_norm_disc", "perc"};

// Where global sample j's k draws go: its row of buf when it is this process's, else scratch.
static float *row(Trainer *tr, float *buf, int j, size_t k) {
    return j >= tr->off && j < tr->off + tr->B ? buf + (size_t)(j - tr->off) * k : tr->scratch;
}

// n normals (or t values) for every sample of the global batch, in sample order, keeping ours.
static void fill_normal_rows(Trainer *tr, float *buf, size_t k) {
    if (!tr->dist) { rng_fill_normal(&tr->rng, buf, (size_t)tr->B * k, 1.0f); return; }
    for (int j = 0; j < tr->Bg; j++) rng_fill_normal(&tr->rng, row(tr, buf, j, k), k, 1.0f);
}

static void fill_t(Trainer *tr, float *t) {
    for (int j = 0; j < tr->Bg; j++) *row(tr, t, j, 1) = sample_t(&tr->m.diff, &tr->rng);
}

// Every draw is made for the whole global batch in the order one process makes them (the
// data, then class dropout, eps_vae, t, eps, and t2, eps2), so that global sample j gets the
// same inputs whatever the world size; this process keeps rows off .. off + B - 1.
void trainer_draw_inputs(Trainer *tr) {
    const Config *c = &tr->cfg;
    Model *m = &tr->m;
    int B = tr->B, K = m->num_classes;
    if (tr->data) {
        LoaderState before = loader_state(&tr->loader);
        loader_next_part(&tr->loader, tr->Bg, tr->off, B, tr->x, tr->y);
        trainer_note_batch(tr, before);
    } else {
        if (!tr->dist) rng_fill_uniform(&tr->rng, tr->x, B * m->nx, -1.0f, 1.0f);
        else
            for (int j = 0; j < tr->Bg; j++) rng_fill_uniform(&tr->rng, row(tr, tr->x, j, m->nx), m->nx, -1.0f, 1.0f);
        for (int b = 0; b < B; b++) tr->y[b] = K ? (tr->off + b) % K : 0;
    }
    for (int j = 0; j < tr->Bg; j++) {
        int drop = K && rng_uniform(&tr->rng) < c->sit.class_dropout;
        int b = j - tr->off;
        if (b >= 0 && b < B) tr->ydrop[b] = drop ? K : (K ? tr->y[b] % K : 0);
    }
    fill_normal_rows(tr, tr->eps_vae, m->nz);
    fill_t(tr, tr->t);
    fill_normal_rows(tr, tr->eps, m->nz);
    if (tr->align == ALIGN_SCORE) {
        fill_t(tr, tr->t2);
        fill_normal_rows(tr, tr->eps2, m->nz);
    }
}

// A step that found a non-finite value leaves the state as it was: no weight, moment or EMA
// has changed yet, and the BatchNorm's running statistics (updated by its forward) go back.
static const char *step_abort(Trainer *tr, const char *what) {
    LatentBn *bn = &tr->m.bn;
    if (tr->m.use_bn) {
        memcpy(bn->running_mean, tr->bn_save, bn->C * sizeof(float));
        memcpy(bn->running_var, tr->bn_save + bn->C, bn->C * sizeof(float));
    }
    gan_abort(tr);
    dist_grads_wait(tr->dist); // the SiT's pieces already on the wire
    return what;
}

// torch.nn.utils.clip_grad_norm_ given the norm: scale by max/(norm + 1e-6) when that is < 1
// (float arithmetic, as torch does on its float32 norm).
static void clip_scale(float *g, size_t n, float norm, float max_norm) {
    if (max_norm <= 0) return;
    float coef = max_norm / (norm + 1e-6f);
    if (coef < 1.0f) scale_inplace(g, n, coef);
}

// ---- the step, phase by phase -----------------------------------------------------------------
// trainer_step runs: VAE forward and its losses -> latents for the SiT (BN) -> the diffusion
// pass -> the alignment pass -> finiteness check -> VAE backward -> clip and update. The SiT
// passes leave their gradient on the VAE in v->dz (read by the VAE backward); every backward
// adds into the parameter gradients cleared at the start of the step.

// The KL's divisor: loss.kl_reduce "sum" is REPA-E's (and LDM's) sum over C,H,W averaged over
// the batch, so that w_kl 1e-6 weighs what the paper's does; "mean" (over every latent element,
// C*H*W times weaker) is what runs stored before the key existed trained with.
static double kl_div(const Trainer *tr) {
    return strcmp(tr->cfg.loss.kl_reduce, "mean") == 0 ? (double)tr->B * tr->m.nz : (double)tr->B;
}

// Encode, sample the posterior with eps_vae, decode; recon, kl, smooth, latent_std.
static const float *vae_pass(Trainer *tr, float *vals) {
    Model *m = &tr->m;
    Vae *v = &m->vae;
    int B = tr->B;
    size_t nx = B * m->nx, nz = B * m->nz;
    vae_encode(v, tr->x, B); // also clears v->dmean, v->dlogvar, v->dz
    vae_sample(v, tr->eps_vae, B);
    const float *xr = vae_decode(v, v->z, B);
    vals[M_RECON] = tr->recon_l1 ? l1_forward(xr, tr->x, nx) : mse_forward(xr, tr->x, nx);
    vals[M_KL] = kl_forward_div(v->mean, v->logvar, nz, kl_div(tr));
    vals[M_SMOOTH] = smooth_forward(v->z, B, m->zc, m->zh, m->zw);
    vals[M_LSTD] = (float)(latent_std_sum(v->z, B, m->zc, m->zh * m->zw) / (B * m->zc));
    return xr;
}

// tr->zn: the latents the SiT sees, normalised by the latent BatchNorm when it is on. Its
// running statistics track the encoder even when only the VAE trains, so that sampling can
// undo the normalisation; they are saved first so that an aborted step can put them back.
static void latents_for_sit(Trainer *tr) {
    Model *m = &tr->m;
    if (!m->use_bn) {
        memcpy(tr->zn, m->vae.z, tr->B * m->nz * sizeof(float));
        return;
    }
    memcpy(tr->bn_save, m->bn.running_mean, m->zc * sizeof(float));
    memcpy(tr->bn_save + m->zc, m->bn.running_var, m->zc * sizeof(float));
    latent_bn_forward(&m->bn, tr->zn, m->vae.z, tr->B, m->zh * m->zw, LBN_TRAIN);
}

// latent_sstd: per channel the spatial std of z over the running std the BN divides by (after
// this step's update, as sampling uses it), averaged over images and channels.
static void latent_sstd(Trainer *tr, float *vals) {
    Model *m = &tr->m;
    int B = tr->B, C = m->zc, HW = m->zh * m->zw;
    double s = 0;
    for (int c = 0; c < C; c++) {
        double r = m->use_bn ? 1.0 / sqrt((double)m->bn.running_var[c] + LATENT_BN_EPS) : 1.0;
        double sc = 0;
        for (int b = 0; b < B; b++) sc += latent_std_sum(m->vae.z + ((size_t)b * C + c) * HW, 1, 1, HW);
        s += sc * r;
    }
    vals[M_SSTD] = (float)(s / ((double)B * C));
}

// The collapse watch, on the global batch's latent_sstd.
static void collapse_watch(Trainer *tr, float *vals) {
    float v = vals[M_SSTD];
    if (isfinite(v) && v > tr->sstd_peak) tr->sstd_peak = v;
    if (!tr->collapsed && v < tr->sstd_peak / TRAIN_COLLAPSE_FACTOR) tr->collapsed = 1;
    vals[M_COLLAPSE] = tr->collapsed ? 1.0f : 0.0f; // run.c marks the warned state 2
}

// The diffusion loss. The SiT learns from it when it trains; the VAE only with
// diffusion.grad_to_vae (the naive end-to-end training REPA-E shows collapsing), through x_t,
// the target (velocity) and the BatchNorm, into v->dz. The SiT side's w_sit * align never
// reaches the VAE (its VAE side is repa_vae_pass, with its own weight w_vae).
// last: this pass's SiT backward is the step's last (no score alignment pass follows).
static void diffusion_pass(Trainer *tr, float *vals, int last) {
    const Config *c = &tr->cfg;
    Model *m = &tr->m;
    Sit *s = &m->sit;
    int B = tr->B, to_vae = c->diffusion.grad_to_vae && c->train.train_vae;
    size_t nz = B * m->nz;
    diffusion_make_xt(&m->diff, tr->xt, tr->zn, tr->eps, tr->t, B, m->nz);
    const float *out = sit_forward(s, tr->xt, tr->t, tr->ydrop, B);
    vals[M_DIFF] = diffusion_loss_forward(&m->diff, out, tr->zn, tr->eps, tr->t, B, m->nz);
    memset(tr->dout, 0, nz * sizeof(float));
    diffusion_loss_backward(&m->diff, tr->dout, NULL, NULL, out, tr->zn, tr->eps, tr->t, B, m->nz, c->loss.w_diff);
    // REPA's SiT side: the logged align, w_sit * its gradient into the SiT blocks 1..depth and
    // (when the SiT trains) the projector.
    int k = 0;
    if (tr->align == ALIGN_REPA) {
        k = c->align.depth;
        vals[M_ALIGN] = repa_loss_forward(&tr->proj, sit_tokens(s, k), tr->targets, B, s->T);
        memset(tr->dtok, 0, (size_t)B * s->T * s->D * sizeof(float));
        repa_loss_backward(&tr->proj, tr->dtok, c->align.w_sit, c->train.train_sit);
    }
    if (to_vae) memset(tr->dxt, 0, nz * sizeof(float));
    if (to_vae && k) {
        // Only the diffusion gradient goes on to the VAE (the naive route adds just that to
        // REPA-E): a backward of the diffusion loss alone gives dx_t, then one of w_sit * align
        // (blocks 1..k) adds the rest of the SiT's parameter gradients.
        sit_backward(s, tr->dxt, tr->dout, NULL, 0, c->train.train_sit);
        trainer_sit_reduce_during(tr, last && c->train.train_sit);
        if (c->train.train_sit) sit_backward(s, NULL, NULL, tr->dtok, k, 1);
    } else {
        trainer_sit_reduce_during(tr, last && c->train.train_sit);
        sit_backward(s, to_vae ? tr->dxt : NULL, tr->dout, k ? tr->dtok : NULL, k, c->train.train_sit);
    }
    trainer_sit_reduce_during(tr, 0);
    if (!to_vae) return;
    memset(tr->dzn, 0, nz * sizeof(float));
    diffusion_loss_backward(&m->diff, NULL, tr->dzn, tr->dxt, out, tr->zn, tr->eps, tr->t, B, m->nz, c->loss.w_diff);
    if (m->use_bn) latent_bn_backward(&m->bn, m->vae.dz, tr->dzn, m->vae.z, B, m->zh * m->zw);
    else accumulate(m->vae.dz, tr->dzn, nz);
}

// align "repa", REPA-E's VAE side (repa.h, pass (1)): w_vae * align through the frozen SiT
// blocks 1..depth (the forward stops there) and the projector into the VAE, labels not
// dropped, and the same t and eps as the diffusion pass. The BN: align.vae_bn "running" is
// REPA-E's eval mode (running statistics as they are before this step's diffusion pass updates
// them), which lets the VAE grow z to raise this pass's SNR while the statistics lag
// (configs/README.md, align.vae_bn); "batch" normalises with this batch's statistics (and
// backpropagates through them), scale-free, leaving the running ones alone. Adds into v->dz; touches no SiT or projector gradient.
// Runs before latents_for_sit: that forward overwrites the BN's cache and the SiT's activations.
static float repa_vae_pass(Trainer *tr) {
    const Config *c = &tr->cfg;
    Model *m = &tr->m;
    Sit *s = &m->sit;
    int B = tr->B, HW = m->zh * m->zw, k = c->align.depth;
    size_t nz = B * m->nz;
    int bn_mode = strcmp(c->align.vae_bn, "batch") == 0 ? LBN_BATCH : LBN_EVAL;
    if (m->use_bn) latent_bn_forward(&m->bn, tr->zv, m->vae.z, B, HW, bn_mode);
    else memcpy(tr->zv, m->vae.z, nz * sizeof(float));
    diffusion_make_xt(&m->diff, tr->xt, tr->zv, tr->eps, tr->t, B, m->nz);
    for (int b = 0; b < B; b++) tr->ykeep[b] = m->num_classes ? tr->y[b] % m->num_classes : 0;
    // Blocks 1..k only, as REPA-E's align_only forward (the rest would be thrown away).
    const float *h = sit_forward_tokens(s, tr->xt, tr->t, tr->ykeep, B, k);
    float a = repa_loss_forward(&tr->proj, h, tr->targets, B, s->T);
    memset(tr->dtok, 0, (size_t)B * s->T * s->D * sizeof(float));
    repa_loss_backward(&tr->proj, tr->dtok, c->align.w_vae, 0);
    memset(tr->dxt, 0, nz * sizeof(float));
    sit_backward(s, tr->dxt, NULL, tr->dtok, k, 0);
    // x_t = alpha(t) zv + sigma(t) eps is linear in zv: dzv = alpha(t) dx_t (into zv's buffer).
    for (int b = 0; b < B; b++) {
        float al, sg, dal, dsg;
        path_coeffs(&m->diff, tr->t[b], &al, &sg, &dal, &dsg);
        const float *g = tr->dxt + (size_t)b * m->nz;
        float *d = tr->zv + (size_t)b * m->nz;
        for (size_t i = 0; i < m->nz; i++) d[i] = al * g[i];
    }
    if (m->use_bn) latent_bn_backward(&m->bn, m->vae.dz, tr->zv, m->vae.z, B, HW);
    else accumulate(m->vae.dz, tr->zv, nz);
    return a;
}

// align "score", the write-up's alignment: a second denoising loss of the SiT on the detached
// latents with a fresh t2 and eps2 (weight loss.w_align); it updates only the SiT.
static void score_align_pass(Trainer *tr, float *vals) {
    const Config *c = &tr->cfg;
    Model *m = &tr->m;
    Sit *s = &m->sit;
    int B = tr->B;
    diffusion_make_xt(&m->diff, tr->xt, tr->zn, tr->eps2, tr->t2, B, m->nz);
    const float *out = sit_forward(s, tr->xt, tr->t2, tr->ydrop, B);
    vals[M_ALIGN] = diffusion_loss_forward(&m->diff, out, tr->zn, tr->eps2, tr->t2, B, m->nz);
    memset(tr->dout, 0, B * m->nz * sizeof(float));
    diffusion_loss_backward(&m->diff, tr->dout, NULL, NULL, out, tr->zn, tr->eps2, tr->t2, B, m->nz, c->loss.w_align);
    trainer_sit_reduce_during(tr, 1);
    sit_backward(s, NULL, tr->dout, NULL, 0, 1);
    trainer_sit_reduce_during(tr, 0);
}

// VAE backward: the image losses on xr into the decoder; smoothness and whatever the SiT
// passes left in v->dz onto z; KL on the posterior; then the encoder.
static void vae_backward_pass(Trainer *tr, const float *xr) {
    const Config *c = &tr->cfg;
    Model *m = &tr->m;
    Vae *v = &m->vae;
    int B = tr->B;
    size_t nx = B * m->nx, nz = B * m->nz;
    memset(tr->dxr, 0, nx * sizeof(float));
    // The image losses on xr, each adding its weighted gradient into dxr: reconstruction, then
    // the GAN's generator term (computed by gan_pass with the forward). Further losses on the
    // decoder output add theirs here: the perceptual term (targets.c).
    if (tr->recon_l1) l1_backward(tr->dxr, xr, tr->x, nx, c->loss.w_recon);
    else mse_backward(tr->dxr, xr, tr->x, nx, c->loss.w_recon);
    if (gan_on(tr)) accumulate(tr->dxr, tr->dxr_gan, nx);
    perc_backward_pass(tr, tr->dxr);
    smooth_backward(v->dz, v->z, B, m->zc, m->zh, m->zw, c->loss.w_smooth);
    vae_decode_backward(v, v->dz, tr->dxr);
    trainer_reduce_vae_half(tr, 1);
    kl_backward_div(v->dmean, v->dlogvar, v->mean, v->logvar, nz, kl_div(tr), c->loss.w_kl);
    vae_sample_backward(v, v->dmean, v->dlogvar, v->dz, tr->eps_vae, B);
    vae_encode_backward(v, v->dmean, v->dlogvar);
    trainer_reduce_vae_half(tr, 0);
}

// The EMA decay of the update after n earlier ones. With train.ema_warmup, min(ema, (1+n)/(10+n))
// (timm's ModelEmaV2 warm-up): a short run's EMA then forgets its random initialisation (a fixed
// 0.9999 over 1000 steps leaves the sampled weights ~90% at their init, so samples are noise).
static float ema_decay(const Config *c, long n) {
    float d = c->train.ema;
    if (c->train.ema_warmup) {
        float w = (float)((1.0 + (double)n) / (10.0 + (double)n));
        if (w < d) d = w;
    }
    return d;
}

// Clip (as torch.nn.utils.clip_grad_norm_, given the norms) and update each trained side with
// its own AdamW; then the SiT EMA.
static void update_pass(Trainer *tr, float *vals) {
    const Config *c = &tr->cfg;
    Vae *v = &tr->m.vae;
    Sit *s = &tr->m.sit;
    size_t nv = v->params.ntrain, ns = s->params.ntrain;
    float clip = c->train.clip, lr_sit = lr_at(c->train.lr, c->train.warmup, tr->step);
    float lr_vae = lr_at(c->train.lr_vae > 0 ? c->train.lr_vae : c->train.lr, c->train.warmup, tr->step);
    int t = (int)tr->step + 1;
    float ema = ema_decay(c, tr->step);
    if (c->train.train_vae) {
        clip_scale(v->params.grad, nv, vals[M_GN_VAE], clip);
        adamw_update(v->params.data, v->params.grad, tr->m_vae, tr->v_vae, nv, lr_vae, 0.9f, 0.999f, 1e-8f, 0.0f, t);
    }
    if (c->train.train_sit) {
        clip_scale(s->params.grad, ns, vals[M_GN_SIT], clip);
        adamw_update(s->params.data, s->params.grad, tr->m_sit, tr->v_sit, ns, lr_sit, 0.9f, 0.999f, 1e-8f, 0.0f, t);
        if (c->train.ema > 0) ema_update(tr->ema, s->params.data, ns, ema);
        else memcpy(tr->ema, s->params.data, ns * sizeof(float));
    }
    if (c->train.train_sit && tr->align == ALIGN_REPA) {
        // The projector: the SiT's lr, step and clip coefficient (grad_norm_sit covers both).
        ParamTable *pp = &tr->proj.params;
        size_t np = pp->ntrain;
        clip_scale(pp->grad, np, vals[M_GN_SIT], clip);
        adamw_update(pp->data, pp->grad, tr->m_proj, tr->v_proj, np, lr_sit, 0.9f, 0.999f, 1e-8f, 0.0f, t);
        if (c->train.ema > 0) ema_update(tr->ema_proj, pp->data, np, ema);
        else memcpy(tr->ema_proj, pp->data, np * sizeof(float));
    }
    vals[M_LR_VAE] = c->train.train_vae ? lr_vae : 0.0f;
    vals[M_LR_SIT] = c->train.train_sit ? lr_sit : 0.0f;
}

const char *trainer_step(Trainer *tr, float *vals) {
    const Config *c = &tr->cfg;
    Vae *v = &tr->m.vae;
    Sit *s = &tr->m.sit;
    int train_vae = c->train.train_vae, train_sit = c->train.train_sit;
    params_zero_grad(&v->params);
    params_zero_grad(&s->params);
    int repa = tr->align == ALIGN_REPA;
    if (repa) params_zero_grad(&tr->proj.params);
    vals[M_DIFF] = NAN; // not computed when no SiT pass is needed
    // No alignment configured: align is not a loss of this run, so it is not logged (NaN is
    // "absent" to the log, the dashboard and the exports) rather than logged as a 0.
    vals[M_ALIGN] = tr->align == ALIGN_NONE ? NAN : 0.0f;
    int gan = gan_on(tr);
    for (int i = M_GAN_G; i <= M_GN_DISC; i++) vals[i] = NAN; // before loss.gan_start, or no GAN

    const float *xr = vae_pass(tr, vals);
    if (gan) gan_pass(tr, xr, vals);
    perc_forward_pass(tr, xr, vals);
    if (repa) {
        trainer_targets(tr);
        // Logged only when the SiT side does not run (it logs its own align below).
        if (train_vae) vals[M_ALIGN] = repa_vae_pass(tr);
    }
    latents_for_sit(tr);
    latent_sstd(tr, vals);
    if (trainer_sit_needed(tr)) {
        int score = tr->align == ALIGN_SCORE && train_sit;
        diffusion_pass(tr, vals, !score);
        if (score) score_align_pass(tr, vals);
    }
    trainer_reduce_metrics(tr, vals);
    collapse_watch(tr, vals);
    float diff = isnan(vals[M_DIFF]) ? 0.0f : vals[M_DIFF];
    float align = tr->align == ALIGN_NONE ? 0.0f : vals[M_ALIGN];
    float w_align = repa ? c->align.w_sit : c->loss.w_align;
    vals[M_TOTAL] = c->loss.w_recon * vals[M_RECON] + c->loss.w_kl * vals[M_KL] + c->loss.w_diff * diff +
                    w_align * align + c->loss.w_smooth * vals[M_SMOOTH];
    if (gan) vals[M_TOTAL] += c->loss.w_gan * vals[M_GAN_G];
    if (tr->perc_on) vals[M_TOTAL] += c->loss.w_perc * vals[M_PERC];
    static const int checked[] = {M_RECON, M_KL, M_DIFF, M_ALIGN, M_SMOOTH, M_GAN_G, M_GAN_D, M_PERC};
    for (size_t i = 0; i < sizeof checked / sizeof checked[0]; i++) {
        int k = checked[i];
        float x = vals[k];
        int absent = (k == M_DIFF && !trainer_sit_needed(tr)) || ((k == M_GAN_G || k == M_GAN_D) && !gan) ||
                     (k == M_PERC && !tr->perc_on) || (k == M_ALIGN && tr->align == ALIGN_NONE);
        if (isinf(x) || (isnan(x) && !absent)) return step_abort(tr, train_metric_names[k]);
    }
    // The gradients of the global batch's mean loss: the average of the shares' gradients,
    // before any norm or clipping (every process then takes the same update). The SiT's left
    // during its backward, the VAE's leave during its own.
    if (train_sit && repa) trainer_reduce_grads(tr, tr->proj.params.grad, tr->proj.params.ntrain);
    trainer_vae_progress_during(tr, 1);
    if (train_vae) vae_backward_pass(tr, xr);
    trainer_vae_progress_during(tr, 0);
    dist_grads_wait(tr->dist);

    // Gradient norms of both sides before any update: finite losses can still overflow a
    // gradient, and AdamW would then write NaN into every weight (and the next checkpoint).
    vals[M_GN_VAE] = train_vae ? global_norm(v->params.grad, v->params.ntrain) : NAN;
    vals[M_GN_SIT] = train_sit ? global_norm(s->params.grad, s->params.ntrain) : NAN;
    if (train_sit && repa) { // one norm over SiT + projector, as REPA's clip_grad_norm_(model.parameters())
        float gp = global_norm(tr->proj.params.grad, tr->proj.params.ntrain);
        vals[M_GN_SIT] = sqrtf(vals[M_GN_SIT] * vals[M_GN_SIT] + gp * gp);
    }
    if (gan) gan_grad_norm(tr, vals);
    if (train_vae && !isfinite(vals[M_GN_VAE])) return step_abort(tr, train_metric_names[M_GN_VAE]);
    if (train_sit && !isfinite(vals[M_GN_SIT])) return step_abort(tr, train_metric_names[M_GN_SIT]);
    if (gan && !isfinite(vals[M_GN_DISC])) return step_abort(tr, train_metric_names[M_GN_DISC]);

    update_pass(tr, vals);
    if (gan) gan_update(tr, vals);
    tr->step++;
    return NULL;
}
