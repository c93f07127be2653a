// test_train_step.c: five optimiser steps of trainer_step against PyTorch (tests/gen_train.py)
// for four recipes (REPA-E without REPA, the seed recipe, naive end-to-end through the BN, and
// REPA-E with REPA: the VAE-side pass through the frozen SiT with eval-mode BN and the SiT-side
// pass, the projector clipped and updated with the SiT; REPA-E on the naive route, where only
// the diffusion gradient joins the VAE side; REPA-E with batch statistics in the VAE-side BN;
// REPA-E with the GAN term from step 3: generator term, discriminator step, its clip and AdamW):
// the logged metrics of every step (the five losses, total, latent_std, the gradient norms
// before clipping, the learning rates; the GAN's five) and the weights after the fifth step.
// Both sides start from the same weights (train_init.safetensors) and take the same inputs
// (x, labels after dropout, posterior noise, t, eps, t2, eps2), injected through
// train/trainer.h instead of trainer_draw_inputs.
//
// Five AdamW steps of lr 1e-4 move a weight by ~5e-4, far below 2e-2 of its size, so the final
// weights are compared twice: as weights (catches nothing but gross errors) and as updates
// w_final - w_init per tensor, ||dC - dT|| / ||dT|| (catches a wrong gradient, a wrong routing,
// a wrong clip, lr or step count).
#include "test.h"
#include "train/trainer.h"

#define INIT "tests/ref/train_init.safetensors"
#define STEPS 5
#define NM 11 // the metrics compared: all but img_per_s

static const char *recipe_repae[] = {
    "diffusion.path=linear", "diffusion.prediction=velocity", "vae.latent_bn=true", "diffusion.grad_to_vae=false",
    "loss.recon=l1", "align.kind=none", "loss.w_recon=1", "loss.w_kl=1e-6", "loss.kl_reduce=sum", "loss.w_diff=1",
    "loss.w_align=0.5", "loss.w_smooth=0", "train.lr=1e-4", "train.lr_vae=2e-4", "train.warmup=0", "train.clip=1",
    "train.ema=0.9", "train.ema_warmup=true", "sit.num_classes=5", "train.batch_size=4", NULL};
static const char *recipe_seed[] = {
    "diffusion.path=cosine", "diffusion.prediction=score", "vae.latent_bn=false", "diffusion.grad_to_vae=true",
    "loss.recon=mse", "align.kind=score", "loss.w_recon=1", "loss.w_kl=0.1", "loss.kl_reduce=mean", "loss.w_diff=1", "loss.w_align=0.5",
    "loss.w_smooth=0.05", "train.lr=1e-4", "train.lr_vae=0", "train.warmup=2", "train.clip=1", "train.ema=0.9",
    "train.ema_warmup=false",
    "sit.num_classes=5", "train.batch_size=4", NULL};

static const char *recipe_naive[] = {
    "diffusion.path=linear", "diffusion.prediction=noise", "vae.latent_bn=true", "diffusion.grad_to_vae=true",
    "loss.recon=l1", "align.kind=none", "loss.w_recon=1", "loss.w_kl=1e-2", "loss.kl_reduce=sum", "loss.w_diff=1", "loss.w_align=0.5",
    "loss.w_smooth=0.1", "train.lr=1e-4", "train.lr_vae=0", "train.warmup=0", "train.clip=0", "train.ema=0",
    "train.ema_warmup=false",
    "sit.num_classes=5", "train.batch_size=4", NULL};

// REPA-E at the tiny size: align after SiT block 1 of 2, projector width 16; the target encoder
// is the default layout with the weights of enc_weight (gen_train.py builds the same).
static const char *recipe_repa[] = {
    "diffusion.path=linear", "diffusion.prediction=velocity", "vae.latent_bn=true", "diffusion.grad_to_vae=false",
    "loss.recon=l1", "align.kind=repa", "align.depth=1", "align.w_sit=0.5", "align.w_vae=1.5",
    "align.projector_dim=16", "loss.w_recon=1", "loss.w_kl=1e-6", "loss.kl_reduce=sum", "loss.w_diff=1", "loss.w_align=0.5",
    "loss.w_smooth=0", "train.lr=1e-4", "train.lr_vae=2e-4", "train.warmup=0", "train.clip=1", "train.ema=0.9",
    "train.ema_warmup=true", "sit.num_classes=5", "train.batch_size=4", NULL};

// REPA on the naive route: only the diffusion gradient joins the VAE side (gen_train.py
// "repa_naive"); and the VAE-side pass with batch statistics ("repa_batch").
static const char *recipe_repa_naive[] = {
    "diffusion.path=linear", "diffusion.prediction=velocity", "vae.latent_bn=true", "diffusion.grad_to_vae=true",
    "loss.recon=l1", "align.kind=repa", "align.depth=1", "align.w_sit=0.5", "align.w_vae=1.5",
    "align.projector_dim=16", "loss.w_recon=1", "loss.w_kl=1e-6", "loss.kl_reduce=sum", "loss.w_diff=1",
    "loss.w_align=0.5", "loss.w_smooth=0", "train.lr=1e-4", "train.lr_vae=2e-4", "train.warmup=0", "train.clip=1",
    "train.ema=0.9", "train.ema_warmup=true", "sit.num_classes=5", "train.batch_size=4", NULL};
static const char *recipe_repa_batch[] = {
    "diffusion.path=linear", "diffusion.prediction=velocity", "vae.latent_bn=true", "diffusion.grad_to_vae=false",
    "loss.recon=l1", "align.kind=repa", "align.depth=1", "align.w_sit=0.5", "align.w_vae=1.5",
    "align.vae_bn=batch", "align.projector_dim=16", "loss.w_recon=1", "loss.w_kl=1e-6", "loss.kl_reduce=sum",
    "loss.w_diff=1", "loss.w_align=0.5", "loss.w_smooth=0", "train.lr=1e-4", "train.lr_vae=2e-4", "train.warmup=0",
    "train.clip=1", "train.ema=0.9", "train.ema_warmup=true", "sit.num_classes=5", "train.batch_size=4", NULL};

// "repa" with the GAN term (gen_train.py "repa_gan"): on from step index 2.
static const char *recipe_repa_gan[] = {
    "diffusion.path=linear", "diffusion.prediction=velocity", "vae.latent_bn=true", "diffusion.grad_to_vae=false",
    "loss.recon=l1", "align.kind=repa", "align.depth=1", "align.w_sit=0.5", "align.w_vae=1.5",
    "align.projector_dim=16", "loss.w_recon=1", "loss.w_kl=1e-6", "loss.kl_reduce=sum", "loss.w_diff=1",
    "loss.w_align=0.5", "loss.w_smooth=0", "train.lr=1e-4", "train.lr_vae=2e-4", "train.warmup=0", "train.clip=1",
    "train.ema=0.9", "train.ema_warmup=true", "sit.num_classes=5", "train.batch_size=4", "loss.w_gan=0.5",
    "loss.gan_start=2", "disc.layers=2", "disc.ch=8", "disc.lr=1e-3", NULL};

// gen_train.py's enc_weight: element i of tensor j (state_dict order) of the target encoder.
static void fill_encoder(ParamTable *t) {
    for (int j = 0; j < t->n; j++) {
        const ParamInfo *p = &t->p[j];
        size_t len = strlen(p->name);
        int nw = len >= 11 && strcmp(p->name + len - 11, "norm.weight") == 0;
        for (size_t i = 0; i < p->numel; i++)
            t->data[p->offset + i] = (float)(0.3 * sin(0.37 * (double)i + 1.3 * j) + (nw ? 1.0 : 0.0));
    }
}

static double worst_metric, worst_update, worst_weight;
static char worst_metric_name[128], worst_update_name[128];

// ||a - b|| / ||b||, or NaN-safe 0 when both are zero.
static double norm_rel(const float *a, const float *b, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        r += (double)b[i] * b[i];
    }
    if (r == 0) return d == 0 ? 0 : INFINITY;
    return sqrt(d / r);
}

// Loads one group of init tensors (prefix "init.vae." etc.) into a table, tests' way of copying
// PyTorch's weights in by name.
static int load_init(ParamTable *t, const char *prefix, char *err) {
    ParamGroup g = {t, prefix};
    return params_load(&g, 1, INIT, 1, err);
}

// Compares a table's weights with "final.<side>.<name>" and its update with final - init.
static int check_table(const ParamTable *t, const SafeTensors *ref, const SafeTensors *init, const char *side,
                       const char *init_prefix, const float *data, double tol, char *why) {
    for (int i = 0; i < t->n; i++) {
        const ParamInfo *p = &t->p[i];
        if (!p->trainable && strcmp(side, "ema") == 0) continue; // the EMA averages trainable tensors
        char name[256];
        snprintf(name, sizeof name, "final.%s.%s", side, p->name);
        const StTensor *f = st_find(ref, name);
        if (!f || f->numel != p->numel) return seterr(why, "reference lacks %s (or its size differs)", name);
        const float *c = data + p->offset;
        double werr = 0, m = 1e-3;
        for (size_t k = 0; k < p->numel; k++) {
            double e = fabs((double)c[k] - f->data[k]);
            if (!(e <= werr)) werr = e;
            if (fabs(f->data[k]) > m) m = fabs(f->data[k]);
        }
        werr /= m;
        if (werr > worst_weight) worst_weight = werr;
        if (!(werr <= 2e-2)) return seterr(why, "%s: weight relative error %.3g", name, werr);
        if (!p->trainable || !init_prefix) continue;
        snprintf(name, sizeof name, "%s%s", init_prefix, p->name);
        const StTensor *w0 = st_find(init, name);
        if (!w0 || w0->numel != p->numel) return seterr(why, "init file lacks %s", name);
        float *dc = xmalloc(p->numel * sizeof(float)), *dt = xmalloc(p->numel * sizeof(float));
        for (size_t k = 0; k < p->numel; k++) {
            dc[k] = c[k] - w0->data[k];
            dt[k] = f->data[k] - w0->data[k];
        }
        double e = norm_rel(dc, dt, p->numel);
        free(dc);
        free(dt);
        if (!(e <= worst_update)) {
            worst_update = e;
            snprintf(worst_update_name, sizeof worst_update_name, "%s.%s", side, p->name);
        }
        if (!(e <= tol)) return seterr(why, "%s.%s: update (final - init) relative error %.3g > %g", side, p->name, e, tol);
    }
    return 0;
}

static void run_recipe(const char *name, const char *const *sets) {
    char err[ERRLEN], path[256];
    Config cfg;
    config_defaults(&cfg);
    for (int i = 0; sets[i]; i++) CHECK(config_set(&cfg, sets[i], err) == 0, "%s: %s", sets[i], err);
    CHECK(config_validate(&cfg, err) == 0, "%s", err);
    Trainer *tr = xcalloc(1, sizeof *tr);
    CHECK(trainer_build(tr, &cfg, 1, err) == 0, "%s", err);
    Model *m = &tr->m;
    CHECK(load_init(&m->vae.params, "init.vae.", err) == 0, "%s", err);
    CHECK(load_init(&m->sit.params, "init.sit.", err) == 0, "%s", err);
    memcpy(tr->ema, m->sit.params.data, m->sit.params.total * sizeof(float));
    SafeTensors ref, init;
    snprintf(path, sizeof path, "tests/ref/train_%s.safetensors", name);
    LOAD_REF(ref, path);
    LOAD_REF(init, INIT);
    int repa = tr->align == ALIGN_REPA;
    if (repa) {
        CHECK(tr->tgt.stage == 2 && tr->tgt.factor == 1 && tr->tgt.F == 64, "target stage %d factor %d F %d",
              tr->tgt.stage, tr->tgt.factor, tr->tgt.F);
        fill_encoder(&tr->tgt.enc.params);
        ParamGroup g = {&tr->proj.params, "init.proj."};
        CHECK(params_load(&g, 1, path, 1, err) == 0, "%s", err);
        memcpy(tr->ema_proj, tr->proj.params.data, tr->proj.params.ntrain * sizeof(float));
    }
    if (tr->gan) { // the discriminator's init (and BN buffers) is in the recipe's file too
        ParamGroup g = {&tr->disc.params, "init.disc."};
        CHECK(params_load(&g, 1, path, 1, err) == 0, "%s", err);
    }
    size_t nx = (size_t)tr->B * m->nx, nz = (size_t)tr->B * m->nz;
    CHECK(tr->B == 4 && nx == 4 * 3 * 16 * 16 && nz == 4 * 4 * 8 * 8, "tiny shapes");
    for (int k = 0; k < STEPS; k++) {
        char n[64];
#define INJECT(field, count) do { snprintf(n, sizeof n, "in.%s.%d", #field, k); \
        REF_TENSOR(src_, ref, n, (count)); memcpy(tr->field, src_, (count) * sizeof(float)); } while (0)
        INJECT(x, nx);
        INJECT(eps_vae, nz);
        INJECT(t, (size_t)tr->B);
        INJECT(eps, nz);
        if (!repa) {
            INJECT(t2, (size_t)tr->B);
            INJECT(eps2, nz);
        }
        snprintf(n, sizeof n, "in.ydrop.%d", k);
        REF_TENSOR(yd, ref, n, tr->B);
        for (int b = 0; b < tr->B; b++) tr->y[b] = tr->ydrop[b] = (int)yd[b];
        if (repa) { // the VAE side sees the labels before dropout
            snprintf(n, sizeof n, "in.y.%d", k);
            REF_TENSOR(yk, ref, n, tr->B);
            for (int b = 0; b < tr->B; b++) tr->y[b] = (int)yk[b];
        }
        float vals[TRAIN_NMETRICS];
        const char *bad = trainer_step(tr, vals);
        CHECK(!bad, "step %d: %s not finite", k + 1, bad);
        snprintf(n, sizeof n, "ref.metrics.%d", k);
        REF_TENSOR(want, ref, n, NM);
        for (int i = 0; i < NM; i++) {
            if (i == M_ALIGN && tr->align == ALIGN_NONE) { // PyTorch's zero term; not logged here
                CHECK(isnan(vals[i]) && want[i] == 0, "%s step %d: align is %g without alignment (PyTorch's term %g): "
                      "it should be absent (NaN)", name, k + 1, vals[i], want[i]);
                continue;
            }
            double e = fabs((double)vals[i] - want[i]) / (1e-6 + fabs(want[i]));
            if (!(e <= worst_metric)) {
                worst_metric = e;
                snprintf(worst_metric_name, sizeof worst_metric_name, "%s %s step %d", name, train_metric_names[i], k + 1);
            }
            CHECK(e <= 2e-2, "%s step %d: %s is %.6g, PyTorch %.6g", name, k + 1, train_metric_names[i], vals[i], want[i]);
        }
        if (tr->gan) { // from loss.gan_start: gan_g, gan_d, logits_real, logits_fake, grad_norm_disc
            snprintf(n, sizeof n, "ref.gan.%d", k);
            const StTensor *g = st_find(&ref, n);
            for (int i = M_GAN_G; i <= M_GN_DISC; i++) {
                if (!g) {
                    CHECK(k < cfg.loss.gan_start && isnan(vals[i]), "%s step %d: %s is %g before loss.gan_start", name,
                          k + 1, train_metric_names[i], vals[i]);
                    continue;
                }
                double w = g->data[i - M_GAN_G], e = fabs((double)vals[i] - w) / (1e-6 + fabs(w));
                if (!(e <= worst_metric)) {
                    worst_metric = e;
                    snprintf(worst_metric_name, sizeof worst_metric_name, "%s %s step %d", name, train_metric_names[i], k + 1);
                }
                CHECK(e <= 2e-2, "%s step %d: %s is %.6g, PyTorch %.6g", name, k + 1, train_metric_names[i], vals[i], w);
            }
        }
        snprintf(n, sizeof n, "ref.sstd.%d", k);
        REF_TENSOR(sstd, ref, n, 1);
        CHECK(fabs(vals[M_SSTD] - sstd[0]) <= 1e-4 * fabs(sstd[0]), "%s step %d: latent_sstd %.6g, PyTorch %.6g", name,
              k + 1, vals[M_SSTD], sstd[0]);
    }
    // Updates: 5e-2 of the update's norm (float32 against float64 over 5 steps; Adam's
    // g / sqrt(v) amplifies noise only where a gradient is near zero).
    CHECK(check_table(&m->vae.params, &ref, &init, "vae", "init.vae.", m->vae.params.data, 5e-2, err) == 0, "%s", err);
    CHECK(check_table(&m->sit.params, &ref, &init, "sit", "init.sit.", m->sit.params.data, 5e-2, err) == 0, "%s", err);
    if (!repa)
        CHECK(check_table(&m->sit.params, &ref, &init, "ema", "init.sit.", tr->ema, 5e-2, err) == 0, "%s", err);
    else {
        // The projector's init is in the recipe's own file (ref doubles as init).
        CHECK(check_table(&tr->proj.params, &ref, &ref, "proj", "init.proj.", tr->proj.params.data, 5e-2, err) == 0,
              "%s", err);
        CHECK(check_table(&tr->proj.params, &ref, &ref, "ema_proj", "init.proj.", tr->ema_proj, 5e-2, err) == 0, "%s",
              err);
    }
    if (tr->gan) // weights, BN running statistics, and the updates of the weights
        CHECK(check_table(&tr->disc.params, &ref, &ref, "disc", "init.disc.", tr->disc.params.data, 5e-2, err) == 0,
              "%s", err);
    if (m->use_bn) {
        REF_TENSOR(rm, ref, "final.bn.running_mean", m->zc);
        REF_TENSOR(rv, ref, "final.bn.running_var", m->zc);
        CHECK_CLOSE(m->bn.running_mean, rm, (size_t)m->zc, 1e-3, 1e-5, "bn.running_mean");
        CHECK_CLOSE(m->bn.running_var, rv, (size_t)m->zc, 1e-3, 1e-5, "bn.running_var");
    }
    st_free(&ref);
    st_free(&init);
    trainer_free(tr);
    free(tr);
}

TEST(five_steps_repae_recipe_match_torch) { run_recipe("repae", recipe_repae); }
TEST(five_steps_seed_recipe_match_torch) { run_recipe("seed", recipe_seed); }
TEST(five_steps_naive_bn_recipe_match_torch) { run_recipe("naive", recipe_naive); }
TEST(five_steps_repa_recipe_match_torch) { run_recipe("repa", recipe_repa); }
TEST(five_steps_repa_naive_route_match_torch) { run_recipe("repa_naive", recipe_repa_naive); }
TEST(five_steps_repa_batch_bn_match_torch) { run_recipe("repa_batch", recipe_repa_batch); }
TEST(five_steps_repa_gan_match_torch) { run_recipe("repa_gan", recipe_repa_gan); }

int main(void) {
    RUN(five_steps_repae_recipe_match_torch);
    RUN(five_steps_seed_recipe_match_torch);
    RUN(five_steps_naive_bn_recipe_match_torch);
    RUN(five_steps_repa_recipe_match_torch);
    RUN(five_steps_repa_naive_route_match_torch);
    RUN(five_steps_repa_batch_bn_match_torch);
    RUN(five_steps_repa_gan_match_torch);
    printf("worst metric error %.3g (%s); worst update error %.3g (%s); worst weight error %.3g\n", worst_metric,
           worst_metric_name, worst_update, worst_update_name, worst_weight);
    return test_summary();
}
