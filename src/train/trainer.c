// train.c: one REPA-E style training run: the step (five losses routed as the spec's table
// says), two AdamW optimisers with warmup and clipping, the SiT EMA, sample grids, atomic
// checkpoints and exact resume. Reports only through TrainHooks.
// align "repa" follows the recipe in repa.h (REPA-E's train_repae.py): a VAE-side pass
// (repa_vae_pass) before the BN's training forward, the SiT side inside diffusion_pass; the
// projector is clipped with the SiT as one set, has its own AdamW moments and is covered by the
// EMA; see configs/README.md ("REPA's target encoder").
#include "train/train.h"
#include "train/trainer.h"
#include "data/data.h"
#include "model/encoder.h"
#include "model/model.h"
#include "ops/ops.h"
#include "base/png_io.h"
#include "base/safetensors.h"
#include "base/util.h"
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_FORMAT "repae-train-state"
#define STATE_VERSION "1"
#define KEEP_CHECKPOINTS 2
#define SAMPLE_SEED 0x5a3b1e

static int sit_needed(const Trainer *tr) {
    const Config *c = &tr->cfg;
    return c->train.train_sit || (c->diffusion.grad_to_vae && c->train.train_vae);
}

// align "repa": the frozen target encoder, the projector and its AdamW moments and EMA.
static int repa_build(Trainer *tr, int synthetic, char *err) {
    const Config *c = &tr->cfg;
    Model *m = &tr->m;
    const Sit *s = &m->sit;
    if (synthetic && !c->align.encoder[0]) {
        // Bench and tests: a random encoder of the default layout costs what the trained one does.
        EncoderLayout L = encoder_layout_default(m->C, m->S, m->num_classes > 0 ? m->num_classes : 10);
        if (encoder_build(&tr->tgt.enc, &L, tr->B, 0, err)) return -1;
        Rng r;
        rng_seed(&r, (uint64_t)c->train.seed ^ 0xe7c0dedULL);
        encoder_init(&tr->tgt.enc, &r);
        if (repa_target_init(&tr->tgt, s->gh, s->gw, err)) { encoder_free(&tr->tgt.enc); return -1; }
    } else if (repa_target_open(&tr->tgt, c->align.encoder, c->data.dataset, m->C, m->S, s->gh, s->gw, tr->B, err)) {
        char e2[ERRLEN];
        snprintf(e2, sizeof e2, "%s", err);
        return seterr(err, "align.kind \"repa\": %s", e2);
    }
    if (projector_build(&tr->proj, s->D, c->align.projector_dim, tr->tgt.F, tr->B * s->T, 1, err)) {
        repa_target_free(&tr->tgt);
        return -1;
    }
    size_t np = tr->proj.params.ntrain;
    tr->proj_opt = xcalloc(3 * np, sizeof(float));
    tr->m_proj = tr->proj_opt;
    tr->v_proj = tr->m_proj + np;
    tr->ema_proj = tr->v_proj + np;
    return 0;
}

int trainer_build(Trainer *tr, const Config *cfg, int synthetic, char *err) {
    memset(tr, 0, sizeof *tr);
    tr->cfg = *cfg;
    tr->B = cfg->train.batch_size;
    tr->recon_l1 = strcmp(cfg->loss.recon, "l1") == 0;
    if (strcmp(cfg->align.kind, "score") == 0) tr->align = ALIGN_SCORE;
    else if (strcmp(cfg->align.kind, "repa") == 0) tr->align = ALIGN_REPA;
    if (!synthetic) {
        if (dataset_open(&tr->data, &cfg->data, DATA_TRAIN, err)) return -1;
        int k = dataset_num_classes(tr->data);
        if (cfg->sit.num_classes > k) {
            seterr(err, "sit.num_classes is %d but dataset '%s' has %d classes", cfg->sit.num_classes, cfg->data.dataset, k);
            dataset_close(tr->data);
            return -1;
        }
        loader_init(&tr->loader, tr->data, (uint64_t)cfg->data.seed);
    }
    if (model_build(&tr->m, cfg, tr->B, 1, err)) {
        if (tr->data) { loader_free(&tr->loader); dataset_close(tr->data); }
        return -1;
    }
    Model *m = &tr->m;
    if (tr->align == ALIGN_REPA && repa_build(tr, synthetic, err)) {
        model_free(m);
        if (tr->data) { loader_free(&tr->loader); dataset_close(tr->data); }
        return -1;
    }
    size_t nv = m->vae.params.ntrain, ns = m->sit.params.ntrain, nst = m->sit.params.total;
    tr->opt = xcalloc(2 * nv + 2 * ns + 2 * nst, sizeof(float));
    tr->m_vae = tr->opt;
    tr->v_vae = tr->m_vae + nv;
    tr->m_sit = tr->v_vae + nv;
    tr->v_sit = tr->m_sit + ns;
    tr->ema = tr->v_sit + ns;
    tr->backup = tr->ema + nst;
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
    if (tr->align == ALIGN_REPA) {
        buf_add(&tr->bufs, &tr->targets, (size_t)B * m->sit.T * tr->tgt.F);
        buf_add(&tr->bufs, &tr->dtok, (size_t)B * m->sit.T * m->sit.D);
        buf_add(&tr->bufs, &tr->zv, nz);
    }
    buf_alloc(&tr->bufs);
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
    if (tr->proj_opt) {
        projector_free(&tr->proj);
        repa_target_free(&tr->tgt);
        free(tr->proj_opt);
    }
}

// Fresh weights: init from the seed, then init.vae / init.sit if given.
int trainer_init_weights(Trainer *tr, char *err) {
    Rng r;
    rng_seed(&r, (uint64_t)tr->cfg.train.seed ^ 0x1417ULL);
    model_init(&tr->m, &r);
    // The projector always starts fresh (init.sit holds the SiT only, or REPA's projectors,
    // which are then ignored).
    if (tr->align == ALIGN_REPA) projector_init(&tr->proj, &r);
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

_Static_assert(TRAIN_NMETRICS == 12, "metric table");
enum { M_RECON, M_KL, M_DIFF, M_ALIGN, M_SMOOTH, M_TOTAL, M_LSTD, M_GN_VAE, M_GN_SIT, M_LR_VAE, M_LR_SIT, M_IPS, M_COUNT };
const char *const train_metric_names[TRAIN_NMETRICS] = {"recon", "kl", "diffusion", "align", "smooth", "total",
                                                 "latent_std", "grad_norm_vae", "grad_norm_sit", "lr_vae",
                                                 "lr_sit", "img_per_s"};

void trainer_draw_inputs(Trainer *tr) {
    const Config *c = &tr->cfg;
    Model *m = &tr->m;
    int B = tr->B;
    size_t nz = B * m->nz;
    if (tr->data) loader_next(&tr->loader, B, tr->x, tr->y);
    else {
        rng_fill_uniform(&tr->rng, tr->x, B * m->nx, -1.0f, 1.0f);
        for (int b = 0; b < B; b++) tr->y[b] = m->num_classes ? b % m->num_classes : 0;
    }
    for (int b = 0; b < B; b++) {
        int drop = m->num_classes && rng_uniform(&tr->rng) < c->sit.class_dropout;
        tr->ydrop[b] = drop ? m->num_classes : (m->num_classes ? tr->y[b] % m->num_classes : 0);
    }
    rng_fill_normal(&tr->rng, tr->eps_vae, nz, 1.0f);
    for (int b = 0; b < B; b++) tr->t[b] = sample_t(&m->diff, &tr->rng);
    rng_fill_normal(&tr->rng, tr->eps, nz, 1.0f);
    if (tr->align == ALIGN_SCORE) {
        for (int b = 0; b < B; b++) tr->t2[b] = sample_t(&m->diff, &tr->rng);
        rng_fill_normal(&tr->rng, tr->eps2, nz, 1.0f);
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
    vals[M_KL] = kl_forward(v->mean, v->logvar, nz);
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
    latent_bn_forward(&m->bn, tr->zn, m->vae.z, tr->B, m->zh * m->zw, 1);
}

// The diffusion loss. The SiT learns from it when it trains; the VAE only with
// diffusion.grad_to_vae (the naive end-to-end training REPA-E shows collapsing), through x_t,
// the target (velocity) and the BatchNorm, into v->dz.
static void diffusion_pass(Trainer *tr, float *vals) {
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
    sit_backward(s, to_vae ? tr->dxt : NULL, tr->dout, k ? tr->dtok : NULL, k, c->train.train_sit);
    if (!to_vae) return;
    memset(tr->dzn, 0, nz * sizeof(float));
    diffusion_loss_backward(&m->diff, NULL, tr->dzn, tr->dxt, out, tr->zn, tr->eps, tr->t, B, m->nz, c->loss.w_diff);
    if (m->use_bn) latent_bn_backward(&m->bn, m->vae.dz, tr->dzn, m->vae.z, B, m->zh * m->zw);
    else accumulate(m->vae.dz, tr->dzn, nz);
}

// align "repa", REPA-E's VAE side (repa.h, pass (1)): w_vae * align through the frozen SiT
// blocks 1..depth and the projector into the VAE, with the BN in eval mode (running statistics
// as they are before this step's diffusion pass updates them), labels not dropped, and the
// same t and eps as the diffusion pass. Adds into v->dz; touches no SiT or projector gradient.
// Runs before latents_for_sit: that forward overwrites the BN's cache and the SiT's activations.
static float repa_vae_pass(Trainer *tr) {
    const Config *c = &tr->cfg;
    Model *m = &tr->m;
    Sit *s = &m->sit;
    int B = tr->B, HW = m->zh * m->zw, k = c->align.depth;
    size_t nz = B * m->nz;
    if (m->use_bn) latent_bn_forward(&m->bn, tr->zv, m->vae.z, B, HW, 0);
    else memcpy(tr->zv, m->vae.z, nz * sizeof(float));
    diffusion_make_xt(&m->diff, tr->xt, tr->zv, tr->eps, tr->t, B, m->nz);
    for (int b = 0; b < B; b++) tr->ykeep[b] = m->num_classes ? tr->y[b] % m->num_classes : 0;
    sit_forward(s, tr->xt, tr->t, tr->ykeep, B);
    float a = repa_loss_forward(&tr->proj, sit_tokens(s, k), tr->targets, B, s->T);
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
    sit_backward(s, NULL, tr->dout, NULL, 0, 1);
}

// VAE backward: reconstruction into the decoder; smoothness and whatever the SiT passes left
// in v->dz onto z; KL on the posterior; then the encoder.
static void vae_backward_pass(Trainer *tr, const float *xr) {
    const Config *c = &tr->cfg;
    Model *m = &tr->m;
    Vae *v = &m->vae;
    int B = tr->B;
    size_t nx = B * m->nx, nz = B * m->nz;
    memset(tr->dxr, 0, nx * sizeof(float));
    if (tr->recon_l1) l1_backward(tr->dxr, xr, tr->x, nx, c->loss.w_recon);
    else mse_backward(tr->dxr, xr, tr->x, nx, c->loss.w_recon);
    smooth_backward(v->dz, v->z, B, m->zc, m->zh, m->zw, c->loss.w_smooth);
    vae_decode_backward(v, v->dz, tr->dxr);
    kl_backward(v->dmean, v->dlogvar, v->mean, v->logvar, nz, c->loss.w_kl);
    vae_sample_backward(v, v->dmean, v->dlogvar, v->dz, tr->eps_vae, B);
    vae_encode_backward(v, v->dmean, v->dlogvar);
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
    if (c->train.train_vae) {
        clip_scale(v->params.grad, nv, vals[M_GN_VAE], clip);
        adamw_update(v->params.data, v->params.grad, tr->m_vae, tr->v_vae, nv, lr_vae, 0.9f, 0.999f, 1e-8f, 0.0f, t);
    }
    if (c->train.train_sit) {
        clip_scale(s->params.grad, ns, vals[M_GN_SIT], clip);
        adamw_update(s->params.data, s->params.grad, tr->m_sit, tr->v_sit, ns, lr_sit, 0.9f, 0.999f, 1e-8f, 0.0f, t);
        if (c->train.ema > 0) ema_update(tr->ema, s->params.data, ns, c->train.ema);
        else memcpy(tr->ema, s->params.data, ns * sizeof(float));
    }
    if (c->train.train_sit && tr->align == ALIGN_REPA) {
        // The projector: the SiT's lr, step and clip coefficient (grad_norm_sit covers both).
        ParamTable *pp = &tr->proj.params;
        size_t np = pp->ntrain;
        clip_scale(pp->grad, np, vals[M_GN_SIT], clip);
        adamw_update(pp->data, pp->grad, tr->m_proj, tr->v_proj, np, lr_sit, 0.9f, 0.999f, 1e-8f, 0.0f, t);
        if (c->train.ema > 0) ema_update(tr->ema_proj, pp->data, np, c->train.ema);
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
    vals[M_ALIGN] = 0.0f;

    const float *xr = vae_pass(tr, vals);
    if (repa) {
        repa_targets(&tr->tgt, tr->x, tr->B, tr->targets);
        // Logged only when the SiT side does not run (it logs its own align below).
        if (train_vae) vals[M_ALIGN] = repa_vae_pass(tr);
    }
    latents_for_sit(tr);
    if (sit_needed(tr)) {
        diffusion_pass(tr, vals);
        if (tr->align == ALIGN_SCORE && train_sit) score_align_pass(tr, vals);
    }
    float diff = isnan(vals[M_DIFF]) ? 0.0f : vals[M_DIFF];
    float w_align = repa ? c->align.w_sit : c->loss.w_align;
    vals[M_TOTAL] = c->loss.w_recon * vals[M_RECON] + c->loss.w_kl * vals[M_KL] + c->loss.w_diff * diff +
                    w_align * vals[M_ALIGN] + c->loss.w_smooth * vals[M_SMOOTH];
    static const int checked[] = {M_RECON, M_KL, M_DIFF, M_ALIGN, M_SMOOTH};
    for (size_t i = 0; i < sizeof checked / sizeof checked[0]; i++) {
        float x = vals[checked[i]];
        if (isinf(x) || (isnan(x) && !(checked[i] == M_DIFF && !sit_needed(tr))))
            return step_abort(tr, train_metric_names[checked[i]]);
    }
    if (train_vae) vae_backward_pass(tr, xr);

    // Gradient norms of both sides before any update: finite losses can still overflow a
    // gradient, and AdamW would then write NaN into every weight (and the next checkpoint).
    vals[M_GN_VAE] = train_vae ? global_norm(v->params.grad, v->params.ntrain) : NAN;
    vals[M_GN_SIT] = train_sit ? global_norm(s->params.grad, s->params.ntrain) : NAN;
    if (train_sit && repa) { // one norm over SiT + projector, as REPA's clip_grad_norm_(model.parameters())
        float gp = global_norm(tr->proj.params.grad, tr->proj.params.ntrain);
        vals[M_GN_SIT] = sqrtf(vals[M_GN_SIT] * vals[M_GN_SIT] + gp * gp);
    }
    if (train_vae && !isfinite(vals[M_GN_VAE])) return step_abort(tr, train_metric_names[M_GN_VAE]);
    if (train_sit && !isfinite(vals[M_GN_SIT])) return step_abort(tr, train_metric_names[M_GN_SIT]);

    update_pass(tr, vals);
    tr->step++;
    return NULL;
}

// ---- checkpoints -----------------------------------------------------------------------------

static void ckpt_path(char *buf, size_t n, const char *run_dir, long step, const char *suffix) {
    snprintf(buf, n, "%s/ckpt/%08ld%s", run_dir, step, suffix);
}

static int is_digits(const char *s) {
    if (!*s) return 0;
    for (; *s; s++) if (*s < '0' || *s > '9') return 0;
    return 1;
}

// ---- checkpoint integrity ----------------------------------------------------------------------
// A checkpoint directory is renamed into place only when complete, but its files can still be
// cut short afterwards (a full disk under a copy, a machine crash before the data reached the
// disk) or lose a file. Resume then falls back to the older checkpoint KEEP_CHECKPOINTS leaves.

static const char *const ckpt_files[] = {"vae.safetensors", "sit.safetensors", "sit_ema.safetensors",
                                         "state.safetensors"};

// One safetensors file: present, with a header that parses and data reaching as far as the
// header says. Reads the header only (an fm32-small checkpoint is ~100 MB).
static int st_file_check(const char *dir, const char *name, char *why) {
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return seterr(why, "%s: %s", name, errno == ENOENT ? "missing" : strerror(errno));
    struct stat sb;
    unsigned char h8[8];
    int rc = -1;
    char *hdr = NULL;
    cJSON *root = NULL;
    if (fstat(fileno(f), &sb) != 0) { seterr(why, "%s: %s", name, strerror(errno)); goto done; }
    uint64_t size = (uint64_t)sb.st_size, hlen = 0;
    if (fread(h8, 1, 8, f) != 8) { seterr(why, "%s: cut short (%" PRIu64 " bytes, no header)", name, size); goto done; }
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | h8[i];
    if (hlen > size - 8 || hlen > (100u << 20)) {
        seterr(why, "%s: cut short or not safetensors (header of %" PRIu64 " bytes, file of %" PRIu64 ")", name, hlen, size);
        goto done;
    }
    hdr = xmalloc(hlen + 1);
    if (fread(hdr, 1, hlen, f) != hlen) { seterr(why, "%s: read error", name); goto done; }
    root = cJSON_ParseWithLength(hdr, hlen);
    if (!root || !cJSON_IsObject(root)) { seterr(why, "%s: its header is not valid JSON", name); goto done; }
    double end = 0;
    for (cJSON *it = root->child; it; it = it->next) {
        if (strcmp(it->string, "__metadata__") == 0) continue;
        cJSON *off = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        cJSON *e = cJSON_IsArray(off) && cJSON_GetArraySize(off) == 2 ? cJSON_GetArrayItem(off, 1) : NULL;
        if (!cJSON_IsNumber(e)) { seterr(why, "%s: tensor '%s' has no data_offsets", name, it->string); goto done; }
        if (e->valuedouble > end) end = e->valuedouble;
    }
    double want = 8.0 + (double)hlen + end;
    if ((double)size < want) {
        seterr(why, "%s: cut short (%" PRIu64 " bytes, its header needs %.0f)", name, size, want);
        goto done;
    }
    rc = 0;
done:
    cJSON_Delete(root);
    free(hdr);
    fclose(f);
    return rc;
}

static int checkpoint_check(const char *dir, char *why) {
    for (size_t i = 0; i < sizeof ckpt_files / sizeof ckpt_files[0]; i++)
        if (st_file_check(dir, ckpt_files[i], why)) return -1;
    return 0;
}

static int cmp_desc(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x < y) - (x > y);
}

// The steps of run_dir/ckpt/NNNNNNNN, newest first (malloc'd); *has_corrupt (if not NULL) tells
// whether set-aside <step>.corrupt directories exist.
static int list_checkpoints(const char *run_dir, long **out, int *has_corrupt) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/ckpt", run_dir);
    *out = NULL;
    if (has_corrupt) *has_corrupt = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        // Only fully renamed directories count: a crash mid-write leaves "<step>.tmp".
        if (!is_digits(e->d_name)) {
            if (has_corrupt && strstr(e->d_name, ".corrupt")) *has_corrupt = 1;
            continue;
        }
        if (n == cap) *out = xrealloc(*out, (cap = cap ? 2 * cap : 8) * sizeof(long));
        (*out)[n++] = strtol(e->d_name, NULL, 10);
    }
    closedir(d);
    if (n) qsort(*out, n, sizeof(long), cmp_desc);
    return n;
}

long train_latest_checkpoint(const char *run_dir) {
    long *steps, best = -1;
    int n = list_checkpoints(run_dir, &steps, NULL);
    for (int i = 0; i < n && best < 0; i++) {
        char dir[4200], why[ERRLEN];
        ckpt_path(dir, sizeof dir, run_dir, steps[i], "");
        if (checkpoint_check(dir, why) == 0) best = steps[i];
    }
    free(steps);
    return best;
}

// Renames a checkpoint that cannot be used to <step>.corrupt (.corrupt.2, ... when an earlier
// one of the same step was set aside): kept for inspection, and no longer a name that
// train_latest_checkpoint or the pruning counts. kept gets the new path. Fails (errno set)
// only if the rename does: left in place, the pruning would count it and could remove the
// older checkpoint the run continues from.
static int set_aside(const char *run_dir, long step, char *kept, size_t n) {
    char from[4200];
    ckpt_path(from, sizeof from, run_dir, step, "");
    for (int k = 1; k < 1000; k++) {
        char suffix[32];
        if (k == 1) snprintf(suffix, sizeof suffix, ".corrupt");
        else snprintf(suffix, sizeof suffix, ".corrupt.%d", k);
        ckpt_path(kept, n, run_dir, step, suffix);
        struct stat sb;
        if (lstat(kept, &sb) == 0) continue;
        return rename(from, kept);
    }
    errno = EEXIST;
    return -1;
}

static void warn_stderr(void *ctx, const char *msg) {
    (void)ctx;
    fprintf(stderr, "repae: warning: %s\n", msg);
}

// Sets checkpoint i aside and warns, naming what the resume tries next; fails (err set) if
// the rename does.
static int set_aside_warn(const char *run_dir, const long *steps, int n, int i, const char *dir, const char *why,
                          void (*warn)(void *, const char *), void *ctx, char *err) {
    char kept[4200], next[64], msg[2 * ERRLEN + 9000];
    if (set_aside(run_dir, steps[i], kept, sizeof kept) != 0)
        return seterr(err, "cannot resume: checkpoint %s cannot be used (%.200s), and renaming it to %s failed: %s; "
                           "move it out of %s/ckpt by hand and resume again", dir, why, kept, strerror(errno), run_dir);
    if (i + 1 < n) snprintf(next, sizeof next, "trying the older one of step %ld", steps[i + 1]);
    else snprintf(next, sizeof next, "no older checkpoint is left");
    snprintf(msg, sizeof msg, "checkpoint %s cannot be used (%s); kept as %s; %s", dir, why, kept, next);
    warn(ctx, msg);
    return 0;
}

static int load_checkpoint(Trainer *tr, const char *run_dir, long step, char *err);

// Resume: loads the newest checkpoint that loads into tr, setting aside those that do not.
// *from gets its step, or -1 when run_dir has no checkpoint at all. A failed load may have
// overwritten part of the state; the next load overwrites all of it (weights, BN statistics,
// projector, EMA, moments, step, RNG, data cursor).
static int resume_checkpoint(Trainer *tr, const char *run_dir, const TrainRunOpts *o, long *from, char *err) {
    void (*warn)(void *, const char *) = o && o->warn ? o->warn : warn_stderr;
    void *ctx = o ? o->ctx : NULL;
    long *steps;
    int corrupt, n = list_checkpoints(run_dir, &steps, &corrupt);
    *from = -1;
    if (n == 0) {
        if (!corrupt) return 0;
        return seterr(err, "cannot resume: every checkpoint in %s/ckpt was set aside as corrupt (*.corrupt); move "
                           "a good one back as ckpt/<step> to resume from it, or delete them to train this run again "
                           "from step 0", run_dir);
    }
    // A checkpoint whose files are damaged (checkpoint_check) is set aside at once. One whose
    // whole files do not fit the model is set aside only if an older one then loads: when
    // none does, the config differs from the run's (other sizes or names) rather than the
    // checkpoints being bad, and renaming them would leave a later resume with the right
    // config nothing to load.
    char tried[ERRLEN] = "";
    size_t tl = 0;
    int *misfit = xcalloc((size_t)n, sizeof(int)), nmisfit = 0, rc = -1;
    char (*misfit_why)[ERRLEN] = xcalloc((size_t)n, ERRLEN);
    for (int i = 0; i < n && rc < 0; i++) {
        char dir[4200], why[ERRLEN];
        ckpt_path(dir, sizeof dir, run_dir, steps[i], "");
        if (checkpoint_check(dir, why) == 0) {
            if (load_checkpoint(tr, run_dir, steps[i], why) == 0) {
                *from = steps[i];
                rc = 0;
                break;
            }
            misfit[i] = 1;
            nmisfit++;
            snprintf(misfit_why[i], ERRLEN, "%s", why);
        } else if (set_aside_warn(run_dir, steps, n, i, dir, why, warn, ctx, err)) {
            rc = -2;
            break;
        }
        // The newest reason in full, older ones shortened: err has one line's room.
        if (tl < sizeof tried - 1)
            tl += (size_t)snprintf(tried + tl, sizeof tried - tl, i ? "; step %ld: %.120s" : "step %ld: %.300s", steps[i], why);
    }
    if (rc == 0) { // an older checkpoint loaded: the misfits were inconsistent in themselves
        for (int i = 0; i < n && rc == 0; i++) {
            if (!misfit[i]) continue;
            char dir[4200];
            ckpt_path(dir, sizeof dir, run_dir, steps[i], "");
            char why[ERRLEN + 80];
            snprintf(why, sizeof why, "%.*s; an older checkpoint loads", ERRLEN - 1, misfit_why[i]);
            if (set_aside_warn(run_dir, steps, n, i, dir, why, warn, ctx, err)) rc = -2;
        }
    } else if (rc == -1) {
        int first = 0;
        while (first < n - 1 && !misfit[first]) first++;
        if (nmisfit)
            seterr(err, "cannot resume: %.*s (no checkpoint in %s/ckpt fits this config; resume with the config the "
                        "run was started with)", ERRLEN / 2, misfit_why[first], run_dir);
        else
            seterr(err, "cannot resume: no checkpoint loads (%s). They were kept as <step>.corrupt in %s/ckpt", tried,
                   run_dir);
    }
    free(misfit);
    free(misfit_why);
    free(steps);
    return rc == 0 ? 0 : -1;
}

static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        char p[8192];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(p, sizeof p, "%s/%s", path, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(path);
}

// A leftover of an interrupted write: "<step>.tmp" (and nothing else: "<step>.corrupt" is kept).
static int is_tmp_leftover(const char *name) {
    const char *dot = strchr(name, '.');
    if (!dot || dot == name || strcmp(dot, ".tmp") != 0) return 0;
    for (const char *c = name; c < dot; c++) if (*c < '0' || *c > '9') return 0;
    return 1;
}

// Keeps the newest KEEP_CHECKPOINTS checkpoints (an fm32-small checkpoint with optimiser
// state is ~100 MB) and removes leftovers of interrupted writes. Set-aside <step>.corrupt
// directories are neither counted nor removed.
static void prune_checkpoints(const char *run_dir, long newest) {
    char dir[4096], p[8192];
    snprintf(dir, sizeof dir, "%s/ckpt", run_dir);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_tmp_leftover(e->d_name)) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        remove_tree(p);
    }
    closedir(d);
    long *steps;
    int n = list_checkpoints(run_dir, &steps, NULL); // newest first
    for (int i = KEEP_CHECKPOINTS; i < n; i++) {
        if (steps[i] == newest) continue;
        ckpt_path(p, sizeof p, run_dir, steps[i], "");
        remove_tree(p);
    }
    free(steps);
}

static int save_checkpoint(Trainer *tr, const char *run_dir, const TrainHooks *h, char *err) {
    Model *m = &tr->m;
    char tmp[4096], fin[4096], p[4400];
    snprintf(tmp, sizeof tmp, "%s/ckpt", run_dir);
    if (mkdir_p(tmp, err)) return -1;
    ckpt_path(tmp, sizeof tmp, run_dir, tr->step, ".tmp");
    ckpt_path(fin, sizeof fin, run_dir, tr->step, "");
    remove_tree(tmp);
    if (mkdir(tmp, 0755) != 0) return seterr(err, "%s: cannot create checkpoint directory: %s", tmp, strerror(errno));
    ParamGroup gv[2] = {{&m->vae.params, ""}, {&m->bn.params, "bn."}};
    snprintf(p, sizeof p, "%s/vae.safetensors", tmp);
    if (params_save(gv, m->use_bn ? 2 : 1, p, err)) return -1;
    // With repa the projector is a second group under its REPA names ("projectors.*"), in the
    // weights and in the EMA file, as in REPA's SiT state_dict.
    int ng = tr->align == ALIGN_REPA ? 2 : 1;
    ParamGroup gs[2] = {{&m->sit.params, ""}, {&tr->proj.params, ""}};
    snprintf(p, sizeof p, "%s/sit.safetensors", tmp);
    if (params_save(gs, ng, p, err)) return -1;
    ParamTable ema = m->sit.params, pema = tr->proj.params; // same names and offsets, the EMA's storage
    ema.data = tr->ema;
    pema.data = tr->ema_proj;
    gs[0].t = &ema;
    gs[1].t = &pema;
    snprintf(p, sizeof p, "%s/sit_ema.safetensors", tmp);
    if (params_save(gs, ng, p, err)) return -1;

    StWriter w;
    st_writer_init(&w);
    int64_t nv = (int64_t)m->vae.params.ntrain, ns = (int64_t)m->sit.params.ntrain;
    st_writer_add(&w, "adam.vae.exp_avg", tr->m_vae, 1, &nv);
    st_writer_add(&w, "adam.vae.exp_avg_sq", tr->v_vae, 1, &nv);
    st_writer_add(&w, "adam.sit.exp_avg", tr->m_sit, 1, &ns);
    st_writer_add(&w, "adam.sit.exp_avg_sq", tr->v_sit, 1, &ns);
    int64_t np = (int64_t)tr->proj.params.ntrain;
    if (tr->align == ALIGN_REPA) {
        st_writer_add(&w, "adam.proj.exp_avg", tr->m_proj, 1, &np);
        st_writer_add(&w, "adam.proj.exp_avg_sq", tr->v_proj, 1, &np);
    }
    char buf[256];
    st_writer_meta(&w, "format", STATE_FORMAT);
    st_writer_meta(&w, "version", STATE_VERSION);
    snprintf(buf, sizeof buf, "%ld", tr->step);
    st_writer_meta(&w, "step", buf);
    snprintf(buf, sizeof buf, "%016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %016" PRIx64, tr->rng.s[0], tr->rng.s[1],
             tr->rng.s[2], tr->rng.s[3]);
    st_writer_meta(&w, "rng", buf);
    LoaderState ls = tr->data ? loader_state(&tr->loader) : (LoaderState){0};
    snprintf(buf, sizeof buf, "%" PRIu64 " %" PRId64 " %" PRId64, ls.seed, ls.epoch, ls.cursor);
    st_writer_meta(&w, "loader", buf);
    snprintf(p, sizeof p, "%s/state.safetensors", tmp);
    int rc = st_writer_save(&w, p, err);
    st_writer_free(&w);
    if (rc) return -1;
    remove_tree(fin);
    if (rename(tmp, fin) != 0) return seterr(err, "%s: cannot rename checkpoint into place: %s", fin, strerror(errno));
    prune_checkpoints(run_dir, tr->step);
    if (h && h->checkpoint) {
        snprintf(p, sizeof p, "%s/state.safetensors", fin);
        h->checkpoint(h->ctx, tr->step, fin, p);
    }
    return 0;
}

static int load_checkpoint(Trainer *tr, const char *run_dir, long step, char *err) {
    Model *m = &tr->m;
    char dir[4096], p[4400];
    ckpt_path(dir, sizeof dir, run_dir, step, "");
    if (model_load(m, dir, 0, err)) return -1;
    int repa = tr->align == ALIGN_REPA, ng = repa ? 2 : 1;
    ParamGroup gs[2] = {{&m->sit.params, ""}, {&tr->proj.params, ""}};
    if (repa) { // model_load read the SiT; now the projector beside it
        snprintf(p, sizeof p, "%s/sit.safetensors", dir);
        if (params_load(gs, 2, p, 0, err)) return -1;
    }
    ParamTable ema = m->sit.params, pema = tr->proj.params;
    ema.data = tr->ema;
    pema.data = tr->ema_proj;
    gs[0].t = &ema;
    gs[1].t = &pema;
    snprintf(p, sizeof p, "%s/sit_ema.safetensors", dir);
    if (params_load(gs, ng, p, 0, err)) return -1;
    SafeTensors st;
    snprintf(p, sizeof p, "%s/state.safetensors", dir);
    if (st_read(&st, p, err)) return -1;
    int rc = -1;
    const char *fmt = st_meta(&st, "format"), *ver = st_meta(&st, "version");
    const char *sstep = st_meta(&st, "step"), *srng = st_meta(&st, "rng"), *sload = st_meta(&st, "loader");
    if (!fmt || strcmp(fmt, STATE_FORMAT) || !ver || strcmp(ver, STATE_VERSION) || !sstep || !srng || !sload) {
        seterr(err, "%s: not a repae training-state file of version %s", p, STATE_VERSION);
        goto done;
    }
    size_t np = tr->proj.params.ntrain;
    struct { const char *name; float *dst; size_t n; } t[6] = {
        {"adam.vae.exp_avg", tr->m_vae, m->vae.params.ntrain}, {"adam.vae.exp_avg_sq", tr->v_vae, m->vae.params.ntrain},
        {"adam.sit.exp_avg", tr->m_sit, m->sit.params.ntrain}, {"adam.sit.exp_avg_sq", tr->v_sit, m->sit.params.ntrain},
        {"adam.proj.exp_avg", tr->m_proj, np}, {"adam.proj.exp_avg_sq", tr->v_proj, np}};
    for (int i = 0; i < (repa ? 6 : 4); i++) {
        const StTensor *x = st_find(&st, t[i].name);
        if (!x || x->numel != t[i].n) {
            seterr(err, "%s: tensor %s is missing or has the wrong size (want %zu)", p, t[i].name, t[i].n);
            goto done;
        }
        memcpy(t[i].dst, x->data, t[i].n * sizeof(float));
    }
    tr->step = strtol(sstep, NULL, 10);
    if (sscanf(srng, "%" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64, &tr->rng.s[0], &tr->rng.s[1], &tr->rng.s[2],
               &tr->rng.s[3]) != 4) {
        seterr(err, "%s: bad rng state '%s'", p, srng);
        goto done;
    }
    LoaderState ls;
    if (sscanf(sload, "%" SCNu64 " %" SCNd64 " %" SCNd64, &ls.seed, &ls.epoch, &ls.cursor) != 3) {
        seterr(err, "%s: bad loader state '%s'", p, sload);
        goto done;
    }
    if (tr->data) loader_restore(&tr->loader, ls);
    rc = 0;
done:
    st_free(&st);
    return rc;
}

// ---- samples ---------------------------------------------------------------------------------

// A grid of sample.n images from fixed noise (the same at every step, so that the step slider
// shows one set of samples evolving), with the EMA weights when EMA is on.
static int emit_samples(Trainer *tr, const TrainHooks *h, char *err) {
    if (!h || !h->sample || tr->cfg.sample.n < 1) return 0;
    Model *m = &tr->m;
    SampleOpts o;
    if (sample_opts_from_config(&o, &tr->cfg.sample, err)) return -1;
    size_t ns = m->sit.params.total;
    int use_ema = tr->cfg.train.ema > 0;
    if (use_ema) {
        memcpy(tr->backup, m->sit.params.data, ns * sizeof(float));
        memcpy(m->sit.params.data, tr->ema, ns * sizeof(float));
    }
    int n = tr->cfg.sample.n;
    model_sample(m, n, NULL, &o, (uint64_t)tr->cfg.train.seed ^ SAMPLE_SEED, tr->sample_imgs);
    if (use_ema) memcpy(m->sit.params.data, tr->backup, ns * sizeof(float));
    int cols = (int)ceil(sqrt((double)n)), gw, gh;
    uint8_t *rgb = image_grid(tr->sample_imgs, n, m->C, m->S, m->S, cols, 1, &gw, &gh);
    h->sample(h->ctx, tr->step, rgb, gw, gh);
    free(rgb);
    return 0;
}

// ---- the run ---------------------------------------------------------------------------------

// train.threads > 0 caps this run's OpenMP loops and BLAS calls; 0 leaves the process setting
// (all cores, or OMP_NUM_THREADS). omp_set_num_threads changes only the calling thread's
// setting (a dashboard training thread does not slow the UI thread), and the OpenMP build of
// OpenBLAS follows the caller's omp_get_max_threads(); the previous values are restored when
// the run ends, so that a process running several runs one after another is not left capped.
typedef struct { int omp, blas, set; } ThreadSave;

static ThreadSave threads_apply(int n) {
    ThreadSave t = {omp_get_max_threads(), openblas_get_num_threads(), n > 0};
    if (t.set) {
        omp_set_num_threads(n);
        openblas_set_num_threads(n);
    }
    return t;
}

static void threads_restore(ThreadSave t) {
    if (!t.set) return;
    openblas_set_num_threads(t.blas);
    omp_set_num_threads(t.omp);
}

// Reports vals (one step's metrics) through the hooks, with images/s since the last report.
static void log_metrics(Trainer *tr, const TrainHooks *h, float *vals) {
    double now = now_seconds();
    vals[M_IPS] = (float)((tr->step - tr->last_log_step) * tr->B / (now - tr->last_log_time + 1e-9));
    tr->last_log_time = now;
    tr->last_log_step = tr->step;
    if (!h || !h->metrics) return;
    // Skip what was not computed (NaN placeholders), so that curves have no fake points.
    const char *keys[M_COUNT];
    float v2[M_COUNT];
    int n = 0;
    for (int i = 0; i < M_COUNT; i++)
        if (!isnan(vals[i])) { keys[n] = train_metric_names[i]; v2[n++] = vals[i]; }
    h->metrics(h->ctx, tr->step, n, keys, v2);
}

TrainStatus train_run(const Config *cfg, const char *run_dir, int resume, const TrainHooks *h, char *err) {
    return train_run_opts(cfg, run_dir, resume, h, NULL, err);
}

TrainStatus train_run_opts(const Config *cfg, const char *run_dir, int resume, const TrainHooks *h,
                           const TrainRunOpts *o, char *err) {
    ThreadSave threads = threads_apply(cfg->train.threads);
    Trainer *tr = xcalloc(1, sizeof(Trainer));
    TrainStatus status = TRAIN_FAILED;
    if (trainer_build(tr, cfg, 0, err)) { free(tr); threads_restore(threads); return TRAIN_FAILED; }
    long from = -1;
    if (resume && resume_checkpoint(tr, run_dir, o, &from, err)) goto done;
    if (from < 0 && trainer_init_weights(tr, err)) goto done;
    if (o && o->start && o->start(o->ctx, from, err)) goto done;
    if (mkdir_p(run_dir, err)) goto done;

    float vals[M_COUNT];
    int stepped = 0;
    long total = cfg->train.steps;
    int log_every = cfg->train.log_every > 0 ? cfg->train.log_every : 1;
    tr->last_log_time = now_seconds();
    tr->last_log_step = tr->step;
    status = TRAIN_DONE;
    while (tr->step < total) {
        if (h && h->should_stop && h->should_stop(h->ctx)) { status = TRAIN_STOPPED; break; }
        trainer_draw_inputs(tr);
        const char *bad = trainer_step(tr, vals);
        if (bad) {
            long last = train_latest_checkpoint(run_dir);
            char kept[64] = "there is no checkpoint yet";
            if (last >= 0) snprintf(kept, sizeof kept, "the checkpoint of step %ld is kept", last);
            seterr(err, "step %ld: %s is not finite; stopped before updating the weights (%s). "
                        "Try a lower train.lr, a lower loss weight or train.clip",
                   tr->step + 1, bad, kept);
            status = TRAIN_DIVERGED;
            goto done;
        }
        stepped = 1;
        if (tr->step % log_every == 0 || tr->step == total) log_metrics(tr, h, vals);
        if (cfg->train.sample_every > 0 && tr->step % cfg->train.sample_every == 0 && tr->step != total)
            if (emit_samples(tr, h, err)) { status = TRAIN_FAILED; goto done; }
        if (cfg->train.ckpt_every > 0 && tr->step % cfg->train.ckpt_every == 0 && tr->step != total)
            if (save_checkpoint(tr, run_dir, h, err)) { status = TRAIN_FAILED; goto done; }
    }
    // Done or stopped: the last step's metrics (so the run's step matches its checkpoint), the
    // final samples and checkpoint.
    if (stepped && tr->last_log_step != tr->step) log_metrics(tr, h, vals);
    if (emit_samples(tr, h, err) || save_checkpoint(tr, run_dir, h, err)) status = TRAIN_FAILED;
done:
    trainer_free(tr);
    free(tr);
    threads_restore(threads);
    return status;
}

// ---- memory ----------------------------------------------------------------------------------
// The estimate walks the layers as vae_build, sit_build, projector_build, encoder_build and
// trainer_build lay out their allocations, in float counts held in doubles (an absurd config
// overflows size_t). tests/test_robust_memory.c holds it to the allocations of built trainers.

typedef struct {
    double params, acts, ws; // floats: weights (trainable and buffers), activations, largest scratch
    double train;            // trainable floats (gradients, AdamW moments)
} MemCount;

static double dmax(double a, double b) { return a > b ? a : b; }

// conv2d_workspace_min of one image of a conv on an H x H input, padded as the VAE pads
// (k 3 stride 1: one pixel around; stride 2: right and bottom; k 1: none).
static double conv_ws_one(double cin, double cout, int k, int stride, double H) {
    int pad = k == 3 && stride == 1, p2 = k == 3;
    double Ho = floor((H + pad + p2 - k) / stride) + 1;
    Conv2d c = {.B = 1, .Cin = (int)cin, .H = (int)H, .W = (int)H, .Cout = (int)cout, .k = k, .stride = stride,
                .pad_t = pad, .pad_l = pad, .pad_b = p2, .pad_r = p2, .Ho = (int)Ho, .Wo = (int)Ho};
    return (double)conv2d_workspace_min(&c);
}

enum { EST_CONV, EST_RES, EST_ATTN, EST_UP, EST_NORM };

// One VAE stage (vae.c: reg_stage_params, reg_stage_acts, stage_max_floats, stage_ws).
static void vae_stage(MemCount *c, double *maxact, int kind, double cin, double cout, double H, int k, int stride,
                      int G, double B) {
    double Ho = kind == EST_CONV && stride == 2 ? floor((H + 1 - 3) / 2) + 1 : kind == EST_UP ? 2 * H : H;
    double hw = H * H, in = B * cin * hw, out = B * cout * Ho * Ho, mid = B * cout * hw;
    double g1 = B * (G < cin ? G : cin), g2 = B * (G < cout ? G : cout), b4 = B < 4 ? B : 4, p, a = 0, w = 0;
    switch (kind) {
    case EST_CONV:
        p = cout * cin * k * k + cout;
        a = out;
        w = conv_ws_one(cin, cout, k, stride, H) * b4;
        break;
    case EST_UP: {
        p = cout * cin * 9 + cout;
        a = out;
        // upconv_workspace_floats, linear in B past 16 images: extended from there in doubles
        int ci = (int)cin, co = (int)cout, h = (int)H, b = B < 16 ? (int)B : 16;
        double f16 = (double)upconv_workspace_floats(16, ci, h, h, co);
        w = (double)upconv_workspace_floats(b, ci, h, h, co) +
            (B - b) * ((double)upconv_workspace_floats(17, ci, h, h, co) - f16);
        break;
    }
    case EST_NORM:
        p = 2 * cin;
        a = 2 * g1 + out;
        break;
    case EST_RES:
        p = 2 * cin + cout * cin * 9 + cout + 2 * cout + cout * cout * 9 + cout + (cin != cout ? cout * cin + cout : 0);
        a = 2 * g1 + in + mid + 2 * g2 + mid + out;
        w = dmax(conv_ws_one(cin, cout, 3, 1, H), conv_ws_one(cout, cout, 3, 1, H)) * b4;
        if (cin != cout) w = dmax(w, conv_ws_one(cin, cout, 1, 1, H) * b4);
        break;
    default: // EST_ATTN
        p = 2 * cin + 4 * (cin * cin + cin);
        a = 5 * in + 2 * g1 + B * hw * hw + out;
        w = dmax(conv_ws_one(cin, cin, 1, 1, H) * b4, (double)spatial_attention_scratch_floats(1, (int)cin, (int)hw));
        break;
    }
    double m = dmax(cin * (kind == EST_UP ? Ho * Ho : hw), cout * Ho * Ho);
    if (kind == EST_RES) m = dmax(m, cout * hw);
    c->params += p;
    c->acts += a;
    c->ws = dmax(c->ws, w);
    *maxact = dmax(*maxact, m * B);
}

static MemCount vae_count(const Config *cfg, double B) {
    const VaeConfig *v = &cfg->vae;
    MemCount c = {0};
    double maxact = 0, H = cfg->data.image_size, C = cfg->data.channels, zc = v->z_channels;
    int L = v->nlevels, G = v->groups;
    vae_stage(&c, &maxact, EST_CONV, C, v->ch[0], H, 3, 1, G, B);
    double cin = v->ch[0];
    for (int i = 0; i < L; i++) {
        for (int j = 0; j < v->num_res_blocks; j++) {
            vae_stage(&c, &maxact, EST_RES, cin, v->ch[i], H, 3, 1, G, B);
            cin = v->ch[i];
        }
        if (i != L - 1) {
            vae_stage(&c, &maxact, EST_CONV, cin, cin, H, 3, 2, G, B);
            H = floor(H / 2);
        }
    }
    for (int k = 0; k < 2; k++) { // encoder mid, then decoder mid
        if (k) {
            vae_stage(&c, &maxact, EST_CONV, zc, zc, H, 1, 1, G, B); // post_quant_conv
            cin = v->ch[L - 1];
            vae_stage(&c, &maxact, EST_CONV, zc, cin, H, 3, 1, G, B);
        }
        vae_stage(&c, &maxact, EST_RES, cin, cin, H, 3, 1, G, B);
        if (v->mid_attn) vae_stage(&c, &maxact, EST_ATTN, cin, cin, H, 1, 1, G, B);
        vae_stage(&c, &maxact, EST_RES, cin, cin, H, 3, 1, G, B);
        if (!k) {
            vae_stage(&c, &maxact, EST_NORM, cin, cin, H, 1, 1, G, B);
            vae_stage(&c, &maxact, EST_CONV, cin, 2 * zc, H, 3, 1, G, B);
            vae_stage(&c, &maxact, EST_CONV, 2 * zc, 2 * zc, H, 1, 1, G, B); // quant_conv
        }
    }
    double zh = H;
    for (int i = L - 1; i >= 0; i--) {
        for (int j = 0; j < v->num_res_blocks + 1; j++) {
            vae_stage(&c, &maxact, EST_RES, cin, v->ch[i], H, 3, 1, G, B);
            cin = v->ch[i];
        }
        if (i != 0) {
            vae_stage(&c, &maxact, EST_UP, cin, cin, H, 3, 1, G, B);
            H *= 2;
        }
    }
    vae_stage(&c, &maxact, EST_NORM, cin, cin, H, 1, 1, G, B);
    vae_stage(&c, &maxact, EST_CONV, cin, C, H, 3, 1, G, B);
    double lat = B * zc * zh * zh;
    c.acts += B * C * cfg->data.image_size * cfg->data.image_size + 9 * lat + 7 * maxact;
    c.train = c.params;
    return c;
}

static MemCount sit_count(const Config *cfg, double B, double zc, double zh) {
    const SitConfig *s = &cfg->sit;
    MemCount c = {0};
    double D = s->hidden, M = floor(D * s->mlp_ratio), p = s->patch, P = zc * p * p, NH = s->heads;
    double T = floor(zh / p) * floor(zh / p), BT = B * T, BTD = BT * D, F = SIT_FREQ_DIM;
    double block = 3 * D * D + 3 * D + D * D + D + M * D + M + D * M + D + 6 * D * D + 6 * D;
    c.train = D * P + D + D * F + D + D * D + D + (s->num_classes > 0 ? (s->num_classes + 1) * D : 0) +
              s->depth * block + P * D + P + 2 * D * D + 2 * D;
    c.params = c.train + T * D; // + pos_embed
    double per_block = B * 6 * D + 11 * BTD + 4 * BT + B * NH * T * T + 2 * BT * M;
    c.acts = 2 * B + BT * P + BTD + B * F + 5 * B * D + s->depth * per_block + B * 2 * D + 2 * BTD + 2 * BT +
             2 * BT * P + 3 * BTD + BT * dmax(M, D) + BT * dmax(M, 3 * D) + B * 6 * D + 4 * B * D + 2 * BT * P +
             (double)attention_scratch_floats((int)B, (int)T, (int)D, (int)NH);
    return c;
}

// align "repa": the projector (with gradients and its AdamW moments and EMA) and the frozen
// target encoder, counted with encoder_layout_default (a trained one is usually that layout).
static MemCount repa_count(const Config *cfg, double B, double T, double D) {
    MemCount c = {0};
    EncoderLayout L = encoder_layout_default(cfg->data.channels, cfg->data.image_size, 10);
    double P = cfg->align.projector_dim, F = L.ch[L.nlevels - 1], N = B * T;
    double np = P * D + P + P * P + P + F * P + F;
    c.params = np + np + 3 * np; // weights, gradients, moments and EMA
    c.train = 0;                 // counted above
    c.acts = N * (D + 6 * P + 2 * F);
    double cin = L.channels, H = L.size, K = L.num_classes;
    c.acts += B * cin * H * H + B * (F + 2 * K);
    for (int i = 0; i < L.nlevels; i++)
        for (int j = 0; j < L.convs; j++) {
            double cout = L.ch[i];
            if (i > 0 && j == 0) H = floor((H + 2 - 3) / 2) + 1;
            c.params += cout * cin * 9 + 3 * cout;
            c.acts += 3 * B * cout * H * H + 2 * B * (L.groups < cout ? L.groups : cout);
            c.ws = dmax(c.ws, (cin * 9 + cout) * H * H * dmax(1, fmin(B, ceil(4096 / (H * H)))));
            cin = cout;
        }
    c.params += K * F + K;
    return c;
}

static double memory_floats(const Config *cfg, double B) {
    MemCount v = vae_count(cfg, B);
    int L = cfg->vae.nlevels;
    double zc = cfg->vae.z_channels, zh = cfg->data.image_size;
    for (int i = 1; i < L; i++) zh = floor(zh / 2);
    MemCount s = sit_count(cfg, B, zc, zh);
    double nx = (double)cfg->data.channels * cfg->data.image_size * cfg->data.image_size, nz = zc * zh * zh;
    double total = v.params + v.train + v.acts + v.ws + s.params + s.train + s.acts + s.ws;
    total += 2 * v.train + 2 * s.train + 2 * s.params; // AdamW moments of both; the SiT EMA and its backup
    total += 2 * B * nx + 8 * B * nz + 2 * B + (double)cfg->sample.n * nx + 2 * zc; // trainer buffers
    if (strcmp(cfg->align.kind, "repa") == 0) {
        double T = floor(zh / cfg->sit.patch) * floor(zh / cfg->sit.patch);
        MemCount r = repa_count(cfg, B, T, cfg->sit.hidden);
        EncoderLayout el = encoder_layout_default(1, 1, 1);
        total += r.params + r.acts + r.ws + B * T * (el.ch[el.nlevels - 1] + cfg->sit.hidden) + B * nz;
    }
    return total;
}

double train_memory_estimate(const Config *cfg, double *per_image) {
    double B = cfg->train.batch_size;
    // The slope for large batches: scratch sized for min(B, 4) or min(B, 16) images stops
    // growing, and the largest scratch of a few images gives way to one that grows with B.
    if (per_image) *per_image = 4 * (memory_floats(cfg, 8192) - memory_floats(cfg, 4096)) / 4096;
    return 4 * memory_floats(cfg, B);
}

// The first number after key in a "key value" text file (/proc/meminfo), or -1.
static double file_number(const char *path, const char *key) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[512];
    double v = -1;
    size_t kl = key ? strlen(key) : 0;
    while (fgets(line, sizeof line, f)) {
        if (key && strncmp(line, key, kl) != 0) continue;
        char *end;
        double x = strtod(line + kl, &end);
        if (end != line + kl) v = x;
        break;
    }
    fclose(f);
    return v;
}

// The cgroup (v2, else v1) memory limit minus usage, or -1 if there is no limit.
static double cgroup_room(void) {
    char rel[1024] = "", p[1400];
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (f) {
        char line[1200];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "0::", 3) == 0) { snprintf(rel, sizeof rel, "%.1000s", line + 3); rel[strcspn(rel, "\n")] = 0; }
        fclose(f);
    }
    const char *bases[] = {rel, ""};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "/sys/fs/cgroup%s/memory.max", strcmp(bases[i], "/") ? bases[i] : "");
        double lim = file_number(p, NULL); // "max" parses as no number: -1
        if (lim < 0) continue;
        snprintf(p, sizeof p, "/sys/fs/cgroup%s/memory.current", strcmp(bases[i], "/") ? bases[i] : "");
        double cur = file_number(p, NULL);
        return lim - (cur > 0 ? cur : 0);
    }
    double lim = file_number("/sys/fs/cgroup/memory/memory.limit_in_bytes", NULL);
    if (lim > 0 && lim < 1e18) {
        double cur = file_number("/sys/fs/cgroup/memory/memory.usage_in_bytes", NULL);
        return lim - (cur > 0 ? cur : 0);
    }
    return -1;
}

double train_memory_available(const char **what) {
    double best = -1, x;
    const char *name = "unknown";
    if ((x = file_number("/proc/meminfo", "MemAvailable:")) >= 0) { best = x * 1024; name = "MemAvailable in /proc/meminfo"; }
    if ((x = cgroup_room()) >= 0 && (best < 0 || x < best)) { best = x; name = "the cgroup's memory.max"; }
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        double pages = file_number("/proc/self/statm", NULL);
        x = (double)rl.rlim_cur - (pages > 0 ? pages * (double)sysconf(_SC_PAGESIZE) : 0);
        if (best < 0 || x < best) { best = x; name = "the address-space limit (ulimit -v)"; }
    }
    if (what) *what = name;
    return best;
}

static void fmt_bytes(char *buf, size_t n, double b) {
    if (b >= 1e15) snprintf(buf, n, "%.3g PB", b / 1e15);
    else if (b >= 1e12) snprintf(buf, n, "%.1f TB", b / 1e12);
    else if (b >= 1e9) snprintf(buf, n, "%.1f GB", b / 1e9);
    else if (b >= 1e7) snprintf(buf, n, "%.0f MB", b / 1e6);
    else snprintf(buf, n, "%.2g MB", b / 1e6);
}

// Beyond the estimate: BLAS and thread buffers, the dataset, the store's writer, sampling.
#define MEM_SLACK_BYTES (128.0 * 1024 * 1024)
static double with_headroom(double est) { return est * 1.1 + MEM_SLACK_BYTES; }

int train_memory_check(const Config *cfg, char *err) {
    const char *env = getenv("REPAE_MEM_CHECK");
    if (env && strcmp(env, "0") == 0) return 0;
    const char *what;
    double avail = train_memory_available(&what);
    if (avail < 0) return 0; // nothing to compare with: let the allocation decide
    double per, est = train_memory_estimate(cfg, &per), need = with_headroom(est);
    if (need <= avail) return 0;
    double B = cfg->train.batch_size, fixed = est - B * per;
    if (fixed < 0) fixed = 0;
    char sneed[32], savail[32], sfixed[32], sacts[32], sper[32], advice[256];
    fmt_bytes(sneed, sizeof sneed, need);
    fmt_bytes(savail, sizeof savail, avail > 0 ? avail : 0);
    fmt_bytes(sfixed, sizeof sfixed, fixed);
    fmt_bytes(sacts, sizeof sacts, B * per);
    fmt_bytes(sper, sizeof sper, per);
    double bmax = per > 0 ? floor(((avail - MEM_SLACK_BYTES) / 1.1 - fixed) / per) : 0;
    if (bmax >= 1)
        snprintf(advice, sizeof advice, "lower train.batch_size to at most %.0f (about %s per image), or the model's "
                 "size (vae.ch, sit.hidden, sit.depth, data.image_size)", bmax, sper);
    else
        snprintf(advice, sizeof advice, "even one image per batch does not fit: lower the model's size (vae.ch, "
                 "sit.hidden, sit.depth, sit.patch up, data.image_size)");
    return seterr(err, "this config needs about %s of memory (%s for weights, gradients and optimiser state; %s "
                  "for the activations of train.batch_size=%.0f) but only %s is available (%s): %s. "
                  "REPAE_MEM_CHECK=0 skips this check",
                  sneed, sfixed, sacts, B, savail, what, advice);
}

// ---- throughput --------------------------------------------------------------------------------

// FLOPs of one training step from the model's shapes (model_flops): every forward pass the step
// makes, plus backward at twice the forward where weights train (input and weight gradients)
// and once the forward where only an input gradient flows (a frozen SiT under grad_to_vae).
double trainer_step_gflop(const Trainer *tr) {
    const Config *c = &tr->cfg;
    ModelFlops f = model_flops(&tr->m);
    double vae = (f.enc + f.dec) * (c->train.train_vae ? 3 : 1), sit = 0;
    if (sit_needed(tr)) sit += f.sit * (c->train.train_sit ? 3 : 2);
    if (tr->align == ALIGN_SCORE && c->train.train_sit) sit += f.sit * 3;
    // repa's VAE side: a full SiT forward and an input-gradient backward through blocks
    // 1..depth (counted as that share of the SiT). The projector and the target encoder's
    // forward are left out (small beside the SiT at the recipe sizes).
    if (tr->align == ALIGN_REPA && c->train.train_vae)
        sit += f.sit * (1.0 + (double)c->align.depth / c->sit.depth);
    return tr->B * (vae + sit) / 1e9;
}

int train_bench(const Config *cfg, int steps, TrainBench *out, char *err) {
    ThreadSave threads = threads_apply(cfg->train.threads);
    Trainer *tr = xcalloc(1, sizeof(Trainer));
    int rc = -1;
    if (trainer_build(tr, cfg, 1, err)) { free(tr); threads_restore(threads); return -1; }
    if (trainer_init_weights(tr, err)) goto done;
    float vals[M_COUNT];
    trainer_draw_inputs(tr);
    trainer_step(tr, vals); // warm-up: first-touch page faults, BLAS buffers
    double t0 = now_seconds();
    for (int i = 0; i < steps; i++) {
        trainer_draw_inputs(tr);
        trainer_step(tr, vals);
    }
    double dt = (now_seconds() - t0) / steps;
    out->step_s = dt;
    out->img_per_s = tr->B / dt;
    out->gflop_per_step = trainer_step_gflop(tr);
    out->gflops = out->gflop_per_step / dt;
    rc = 0;
done:
    trainer_free(tr);
    free(tr);
    threads_restore(threads);
    return rc;
}
