// model.c: see model.h.
#include "model/model.h"
#include "base/safetensors.h"
#include "base/util.h"
#include "ops/gemm.h"
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int model_build(Model *m, const Config *cfg, int max_batch, int mode, char *err) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->max_batch = max_batch;
    m->C = cfg->data.channels;
    m->S = cfg->data.image_size;
    m->num_classes = cfg->sit.num_classes;
    if (diffusion_init(&m->diff, cfg->diffusion.path, cfg->diffusion.prediction, cfg->diffusion.t_sampling, err))
        return -1;
    if (vae_build(&m->vae, &cfg->vae, m->C, m->S, max_batch, mode, err)) return -1;
    m->zc = m->vae.zc; m->zh = m->vae.zh; m->zw = m->vae.zw;
    m->nx = (size_t)m->C * m->S * m->S;
    m->nz = (size_t)m->zc * m->zh * m->zw;
    m->use_bn = cfg->vae.latent_bn;
    latent_bn_build(&m->bn, m->zc);
    if (sit_build(&m->sit, &cfg->sit, m->zc, m->zh, m->zw, max_batch, mode, err)) {
        vae_free(&m->vae);
        latent_bn_free(&m->bn);
        return -1;
    }
    // train.precision: carried by the VAE's workspace (its convs) and the SiT (its linears),
    // so that two models in one process may differ.
    m->bf16 = model_precision_bf16(cfg, m->precision_note, sizeof m->precision_note);
    m->vae.ws.bf16 = m->bf16;
    m->sit.bf16 = m->bf16;
    return 0;
}

int model_precision_bf16(const Config *cfg, char *note, size_t n) {
    if (note && n) note[0] = 0;
    if (strcmp(cfg->train.precision, "bf16") != 0) return 0;
    if (gemm_bf16_ok()) {
        double v = gemm_bf16_speed();
        // Below 0.8 (not 1, so that a noisy measurement near parity stays quiet) bf16 is slower.
        if (note && n && v < 0.8)
            snprintf(note, n, "bf16 runs slower than fp32 on this CPU: its vdpbf16ps does %.2fx the flops of its "
                              "fp32 FMA (train.precision; measured at start, build/bench/bench_isa; "
                              "REPAE_BF16_SPEED=1 silences this)", v);
        return 1;
    }
    if (note && n)
        snprintf(note, n, "train.precision is \"bf16\" but %s; training in fp32 instead "
                          "(set train.precision=\"fp32\" to silence this)",
                 gemm_own() ? "this CPU has no AVX512-BF16 (vdpbf16ps)"
                            : "the own AVX-512 kernel is off (REPAE_GEMM=openblas or no AVX-512)");
    return 0;
}

void model_free(Model *m) {
    vae_free(&m->vae);
    latent_bn_free(&m->bn);
    sit_free(&m->sit);
}

void model_init(Model *m, Rng *rng) {
    vae_init(&m->vae, rng);
    sit_init(&m->sit, rng);
}

int model_load_vae(Model *m, const char *path, char *err) {
    // init.vae: the BN buffers travel with the VAE when the file has them; a VAE trained
    // without BN has none, and then the running statistics keep their initial values (mean 0,
    // var 1) and adapt in training. The error of the VAE-only attempt is the one to report:
    // it names the VAE tensors that are missing or wrongly shaped.
    ParamGroup g[2] = {{&m->vae.params, ""}, {&m->bn.params, "bn."}};
    char e2[ERRLEN];
    if (params_load(g, 2, path, 1, e2) == 0) return 0;
    if (params_load(g, 1, path, 1, err) == 0) return 0;
    return -1;
}

// REPA's projector ("projectors.*") lives in the SiT's state_dict, so a checkpoint of an
// align "repa" run holds it beside the SiT: it is skipped here (the trainer reads it itself).
// Any other tensor the SiT does not have is still an error.
static int only_projectors_extra(const ParamTable *t, const char *path) {
    SafeTensors st;
    char e[ERRLEN];
    if (st_read(&st, path, e)) return 0; // params_load reports the problem
    int ok = 1, seen = 0;
    for (int i = 0; i < st.n && ok; i++) {
        if (strncmp(st.t[i].name, "projectors.", 11) == 0) { seen = 1; continue; }
        ok = params_find(t, st.t[i].name) != NULL;
    }
    st_free(&st);
    return ok && seen;
}

int model_load_sit(Model *m, const char *path, char *err) {
    ParamGroup g = {&m->sit.params, ""};
    return params_load(&g, 1, path, only_projectors_extra(&m->sit.params, path), err);
}

int model_load(Model *m, const char *dir, int use_ema, char *err) {
    // A checkpoint of this config: exactly the VAE, plus the BN buffers when latent BN is on
    // (sampling cannot undo the normalisation without them).
    char path[4096];
    snprintf(path, sizeof path, "%s/" MODEL_VAE_FILE, dir);
    ParamGroup g[2] = {{&m->vae.params, ""}, {&m->bn.params, "bn."}};
    if (params_load(g, m->use_bn ? 2 : 1, path, 0, err)) return -1;
    snprintf(path, sizeof path, "%s/" MODEL_SIT_EMA_FILE, dir);
    if (!use_ema || access(path, R_OK) != 0) snprintf(path, sizeof path, "%s/" MODEL_SIT_FILE, dir);
    return model_load_sit(m, path, err);
}

int sample_opts_from_config(SampleOpts *o, const SampleConfig *c, char *err) {
    o->steps = c->steps;
    o->cfg_scale = c->cfg;
    o->cfg_lo = c->cfg_interval[0];
    o->cfg_hi = c->cfg_interval[1];
    return solver_parse(&o->solver, c->solver, err);
}

typedef struct {
    Model *m;
    const SampleOpts *o;
    const int *labels;   // (B) class labels of this chunk
    int *null_labels;    // (B) all num_classes
    float *tt, *vu;      // (B), (B, nz)
} VelCtx;

// The SiT's output as a velocity, with classifier-free guidance inside [cfg_lo, cfg_hi].
static void guided_velocity(void *p, float *v, const float *x, float t, int B) {
    VelCtx *c = p;
    Model *m = c->m;
    for (int b = 0; b < B; b++) c->tt[b] = t;
    const float *out = sit_forward(&m->sit, x, c->tt, m->num_classes ? c->labels : NULL, B);
    for (int b = 0; b < B; b++) diffusion_to_velocity(&m->diff, v + b * m->nz, out + b * m->nz, x + b * m->nz, t, m->nz);
    int guided = m->num_classes > 0 && c->o->cfg_scale != 1.0f && t >= c->o->cfg_lo && t <= c->o->cfg_hi;
    if (!guided) return;
    out = sit_forward(&m->sit, x, c->tt, c->null_labels, B);
    for (int b = 0; b < B; b++) diffusion_to_velocity(&m->diff, c->vu + b * m->nz, out + b * m->nz, x + b * m->nz, t, m->nz);
    float w = c->o->cfg_scale;
    size_t N = (size_t)B * m->nz;
    for (size_t i = 0; i < N; i++) v[i] = c->vu[i] + w * (v[i] - c->vu[i]);
}

void model_sample(Model *m, int n, const int *labels, const SampleOpts *o, uint64_t seed, float *images) {
    int MB = m->max_batch;
    size_t nz = m->nz;
    float *x = xmalloc(MB * nz * sizeof(float)), *scratch = xmalloc(sampler_scratch_floats(MB, nz) * sizeof(float));
    float *tt = xmalloc(MB * sizeof(float)), *vu = xmalloc(MB * nz * sizeof(float));
    int *lab = xmalloc(MB * sizeof(int)), *nul = xmalloc(MB * sizeof(int));
    Rng r;
    rng_seed(&r, seed);
    for (int i0 = 0; i0 < n; i0 += MB) {
        int B = n - i0 < MB ? n - i0 : MB;
        for (int b = 0; b < B; b++) {
            int k = i0 + b;
            lab[b] = m->num_classes ? (labels ? labels[k] : k % m->num_classes) : 0;
            nul[b] = m->num_classes;
        }
        rng_fill_normal(&r, x, B * nz, 1.0f);
        VelCtx c = {m, o, lab, nul, tt, vu};
        sampler_run(x, B, nz, o->steps, o->solver, &m->diff, guided_velocity, &c, &r, scratch);
        // Generated latents live in the BatchNorm's normalised space: map them back first.
        if (m->use_bn) latent_bn_denormalize(&m->bn, x, x, B, m->zh * m->zw);
        const float *img = vae_decode(&m->vae, x, B);
        float *dst = images + (size_t)i0 * m->nx;
        for (size_t i = 0; i < (size_t)B * m->nx; i++) dst[i] = img[i] < -1 ? -1 : img[i] > 1 ? 1 : img[i];
    }
    free(x); free(scratch); free(tt); free(vu); free(lab); free(nul);
}

void model_reconstruct(Model *m, const float *x, int n, float *xr) {
    for (int i0 = 0; i0 < n; i0 += m->max_batch) {
        int B = n - i0 < m->max_batch ? n - i0 : m->max_batch;
        vae_encode(&m->vae, x + (size_t)i0 * m->nx, B);
        vae_sample(&m->vae, NULL, B);
        const float *img = vae_decode(&m->vae, m->vae.z, B);
        memcpy(xr + (size_t)i0 * m->nx, img, (size_t)B * m->nx * sizeof(float));
    }
}

// ---- FLOP counts -----------------------------------------------------------------------------

static double conv_flops(const VaeConv *L) {
    const Conv2d *c = &L->c;
    return 2.0 * c->Cout * c->Cin * c->k * c->k * c->Ho * c->Wo;
}

static double stages_flops(const VaeStage *st, int n) {
    double f = 0;
    for (int i = 0; i < n; i++) {
        const VaeStage *s = &st[i];
        switch (s->kind) {
        case VST_CONV: case VST_UPCONV: f += conv_flops(&s->conv1); break;
        case VST_RES: f += conv_flops(&s->conv1) + conv_flops(&s->conv2) + (s->has_nin ? conv_flops(&s->nin) : 0); break;
        case VST_ATTN: {
            double hw = (double)s->Hin * s->Win;
            f += conv_flops(&s->q) + conv_flops(&s->k) + conv_flops(&s->v) + conv_flops(&s->proj);
            f += 2 * (2.0 * hw * hw * s->cin); // q.k over all position pairs, then att.v
            break;
        }
        case VST_NORMSILU: break;
        }
    }
    return f;
}

ModelFlops model_flops(const Model *m) {
    ModelFlops r;
    r.enc = stages_flops(m->vae.enc, m->vae.nenc);
    r.dec = stages_flops(m->vae.dec, m->vae.ndec);
    const Sit *s = &m->sit;
    double T = s->T, D = s->D, M = s->M, P = (double)s->zc * s->p * s->p;
    double f = 2 * T * P * D                    // x_embedder
               + 2 * (SIT_FREQ_DIM * D + D * D) // t_embedder
               + 2 * D * 2 * D + 2 * T * D * P; // final layer: adaLN, linear
    double blk = 2 * D * 6 * D                  // adaLN
                 + 2 * T * D * 3 * D + 2 * T * D * D // qkv, proj
                 + 2 * (2 * T * T * D)          // q.k and att.v over all heads
                 + 2 * (2 * T * D * M);         // fc1, fc2
    r.sit = f + s->cfg.depth * blk;
    return r;
}

double latent_std_sum(const float *z, int B, int C, int HW) {
    double acc = 0;
    for (int i = 0; i < B * C; i++) {
        const float *p = z + (size_t)i * HW;
        double mean = 0, q = 0;
        for (int j = 0; j < HW; j++) mean += p[j];
        mean /= HW;
        for (int j = 0; j < HW; j++) q += (p[j] - mean) * (p[j] - mean);
        acc += sqrt(q / HW);
    }
    return acc;
}
