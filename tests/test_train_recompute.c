// test_train_recompute.c: the activations the VAE and the SiT no longer keep (silu(norm(.)) of
// every RES block and of the norm_out stages, the SiT's modulate and GELU outputs) are recomputed in backward, and the
// forward leaves them only in the backward scratch. Backward must not read what forward left
// there: with every scratch buffer overwritten by NaN between forward and backward, every
// gradient is the same, bit for bit, as without. (If backward read a stale scratch value, NaN
// would reach the gradients.) Also the memory this saves: the VAE keeps no per-block copy of
// the norm outputs any more.
#include "test.h"
#include "testutil.h"
#include "base/rng.h"
#include "model/vae.h"
#include "model/sit.h"

#define B 3

static VaeConfig vae_cfg(void) {
    VaeConfig c;
    memset(&c, 0, sizeof c);
    c.ch[0] = 8; c.ch[1] = 16; c.nlevels = 2; // level 1's first block has a nin shortcut
    c.num_res_blocks = 1; c.z_channels = 4; c.groups = 4; c.mid_attn = 1;
    return c;
}

static void fill_nan(const BufTable *t, float **slot) {
    for (int i = 0; i < t->n; i++)
        if (t->e[i].slot == slot)
            for (size_t j = 0; j < t->e[i].n; j++) (*slot)[j] = NAN;
}

// One VAE forward and backward (encode, decode, both backwards); with poison, every backward
// scratch buffer is NaN before each backward. Gradients into grad (ntrain floats).
static void vae_round(Vae *v, const float *x, const float *dxr, int poison, float *grad) {
    params_zero_grad(&v->params);
    vae_encode(v, x, B);
    vae_sample(v, NULL, B);
    vae_decode(v, v->z, B);
    for (int pass = 0; pass < 2; pass++) {
        if (poison) {
            for (int i = 0; i < 2; i++) fill_nan(&v->acts, &v->g[i]);
            for (int i = 0; i < 4; i++) fill_nan(&v->acts, &v->t[i]);
        }
        if (pass == 0) vae_decode_backward(v, v->dz, dxr);
        else {
            vae_sample_backward(v, v->dmean, v->dlogvar, v->dz, NULL, B);
            vae_encode_backward(v, v->dmean, v->dlogvar);
        }
    }
    memcpy(grad, v->params.grad, v->params.ntrain * sizeof(float));
}

TEST(vae_backward_reads_no_forward_scratch) {
    Vae v;
    char err[ERRLEN];
    VaeConfig cfg = vae_cfg();
    CHECK(vae_build(&v, &cfg, 3, 16, B, ALLOC_GRAD, err) == 0, "build: %s", err);
    Rng r;
    rng_seed(&r, 7);
    vae_init(&v, &r);
    size_t nx = (size_t)B * 3 * 16 * 16, np = v.params.ntrain;
    float *x = malloc(nx * sizeof(float)), *dxr = malloc(nx * sizeof(float));
    float *g0 = malloc(np * sizeof(float)), *g1 = malloc(np * sizeof(float));
    uint64_t s = 11;
    for (size_t i = 0; i < nx; i++) { x[i] = test_urand(&s); dxr[i] = test_urand(&s); }
    vae_round(&v, x, dxr, 0, g0);
    vae_round(&v, x, dxr, 1, g1);
    size_t bad = np;
    for (size_t i = 0; i < np && bad == np; i++)
        if (memcmp(&g0[i], &g1[i], sizeof(float)) != 0) bad = i;
    double gsum = 0;
    for (size_t i = 0; i < np; i++) gsum += fabs(g0[i]);
    free(x); free(dxr); free(g0); free(g1);
    vae_free(&v);
    CHECK(gsum > 0, "no gradient at all: the test checks nothing");
    CHECK(bad == np, "gradient %zu differs when the backward scratch is NaN after forward", bad);
}

TEST(vae_keeps_no_norm_outputs) {
    // Per RES block only h1 (conv1's output) and its output are stored at activation size: the
    // table's activation-sized entries are counted against the blocks.
    Vae v;
    char err[ERRLEN];
    VaeConfig cfg = vae_cfg();
    CHECK(vae_build(&v, &cfg, 3, 16, B, ALLOC_COUNT, err) == 0, "build: %s", err);
    int res = 0, bad = -1;
    for (int k = 0; k < 2; k++) {
        VaeStage *ss = k ? v.dec : v.enc;
        int n = k ? v.ndec : v.nenc;
        for (int i = 0; i < n; i++)
            if (ss[i].kind == VST_RES) {
                res++;
                // the table entries of a RES block: m1 r1 h1 m2 r2 out
                int e = 0;
                for (int j = 0; j < v.acts.n; j++)
                    if (v.acts.e[j].slot == &ss[i].m1 || v.acts.e[j].slot == &ss[i].r1 || v.acts.e[j].slot == &ss[i].h1 ||
                        v.acts.e[j].slot == &ss[i].m2 || v.acts.e[j].slot == &ss[i].r2 || v.acts.e[j].slot == &ss[i].out)
                        e++;
                int all = 0;
                for (int j = 0; j < v.acts.n; j++) {
                    float **sl = v.acts.e[j].slot;
                    if ((char *)sl >= (char *)&ss[i] && (char *)sl < (char *)(&ss[i] + 1)) all++;
                }
                if (e != 6 || all != 6) bad = i;
            } else if (ss[i].kind == VST_NORMSILU) { // norm_out: only its statistics
                int all = 0;
                for (int j = 0; j < v.acts.n; j++) {
                    float **sl = v.acts.e[j].slot;
                    if ((char *)sl >= (char *)&ss[i] && (char *)sl < (char *)(&ss[i] + 1)) all++;
                }
                if (all != 2) bad = i;
            }
    }
    vae_free(&v);
    CHECK(res > 0, "no RES blocks in the test model");
    CHECK(bad < 0, "stage %d registers buffers beyond m1 r1 h1 m2 r2 out (RES) or m1 r1 (NORMSILU)", bad);
}

static SitConfig sit_cfg(void) {
    SitConfig c;
    memset(&c, 0, sizeof c);
    c.hidden = 32; c.depth = 2; c.heads = 2; c.patch = 2; c.mlp_ratio = 4.0f;
    c.num_classes = 5; c.class_dropout = 0.1f;
    return c;
}

static void sit_round(Sit *s, const float *x, const float *t, const int *y, const float *dout, int poison,
                      float *grad, float *dx) {
    params_zero_grad(&s->params);
    sit_forward(s, x, t, y, B);
    if (poison) {
        fill_nan(&s->acts, &s->s1);
        fill_nan(&s->acts, &s->s2);
        fill_nan(&s->acts, &s->s3);
    }
    memset(dx, 0, (size_t)B * 4 * 8 * 8 * sizeof(float));
    sit_backward(s, dx, dout, NULL, 0, 1);
    memcpy(grad, s->params.grad, s->params.ntrain * sizeof(float));
}

TEST(sit_backward_reads_no_forward_scratch) {
    Sit s;
    char err[ERRLEN];
    SitConfig cfg = sit_cfg();
    CHECK(sit_build(&s, &cfg, 4, 8, 8, B, ALLOC_GRAD, err) == 0, "build: %s", err);
    Rng r;
    rng_seed(&r, 5);
    sit_init(&s, &r);
    // sit_init zeroes the adaLN and final layers (DiT's init); give them values so that every
    // path carries a gradient.
    uint64_t q = 3;
    for (size_t i = 0; i < s.params.ntrain; i++)
        if (s.params.data[i] == 0.0f) s.params.data[i] = 0.05f * test_urand(&q);
    size_t nx = (size_t)B * 4 * 8 * 8, np = s.params.ntrain;
    float *x = malloc(nx * sizeof(float)), *dout = malloc(nx * sizeof(float));
    float *dx0 = malloc(nx * sizeof(float)), *dx1 = malloc(nx * sizeof(float));
    float *g0 = malloc(np * sizeof(float)), *g1 = malloc(np * sizeof(float));
    float t[B] = {0.1f, 0.5f, 0.9f};
    int y[B] = {0, 3, 5};
    for (size_t i = 0; i < nx; i++) { x[i] = test_urand(&q); dout[i] = test_urand(&q); }
    sit_round(&s, x, t, y, dout, 0, g0, dx0);
    sit_round(&s, x, t, y, dout, 1, g1, dx1);
    size_t bad = np;
    for (size_t i = 0; i < np && bad == np; i++)
        if (memcmp(&g0[i], &g1[i], sizeof(float)) != 0) bad = i;
    int dx_same = memcmp(dx0, dx1, nx * sizeof(float)) == 0;
    double gsum = 0;
    for (size_t i = 0; i < np; i++) gsum += fabs(g0[i]);
    free(x); free(dout); free(dx0); free(dx1); free(g0); free(g1);
    sit_free(&s);
    CHECK(gsum > 0, "no gradient at all: the test checks nothing");
    CHECK(bad == np, "SiT gradient %zu differs when the backward scratch is NaN after forward", bad);
    CHECK(dx_same, "SiT dx differs when the backward scratch is NaN after forward");
}

int main(void) {
    RUN(vae_backward_reads_no_forward_scratch);
    RUN(vae_keeps_no_norm_outputs);
    RUN(sit_backward_reads_no_forward_scratch);
    return test_summary();
}
