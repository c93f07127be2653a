// test_sit.c: the SiT against PyTorch (tests/gen_models.py): state_dict names, shapes and order,
// forward output and block-1 tokens, every parameter gradient and dL/dx_t for an upstream
// gradient on both the output and the block-1 tokens, finite differences, the token-only
// backward of REPA-E's VAE path, the unconditional variant, init, checkpoints (also one file
// holding VAE, latent BN and SiT), checkpoint errors and the fm32-small parameter count.
#include "test.h"
#include "testutil.h"
#include "model/latent_bn.h"
#include "model/sit.h"
#include "model/vae.h"
#include <unistd.h>

#define SD "tests/ref/model_sit_sd.safetensors"
#define IO "tests/ref/model_sit_io.safetensors"
#define SD_UNCOND "tests/ref/model_sit_uncond_sd.safetensors"
#define IO_UNCOND "tests/ref/model_sit_uncond_io.safetensors"
#define B 3
#define NX (B * 4 * 8 * 8)
#define NTOK (B * 16 * 32)

static SitConfig tiny_cfg(int num_classes) {
    SitConfig c;
    memset(&c, 0, sizeof c);
    c.hidden = 32; c.depth = 2; c.heads = 2; c.patch = 2; c.mlp_ratio = 4.0f;
    c.num_classes = num_classes; c.class_dropout = 0.1f;
    return c;
}

static double worst_err;
static char worst_name[200];
#define CHECK_REL(got, want, n, tol, what) do { double e_ = test_rel_err((got), (want), (n)); \
    if (!(e_ <= worst_err)) { worst_err = e_; snprintf(worst_name, sizeof worst_name, "%s", (what)); } \
    CHECK(e_ <= (tol), "%s: relative error %.3g > %g", (what), e_, (double)(tol)); } while (0)

TEST(state_dict_names_shapes_order_match_torch) {
    const char *files[2] = {SD, SD_UNCOND};
    for (int k = 0; k < 2; k++) {
        Sit s;
        char err[ERRLEN];
        SitConfig cfg = tiny_cfg(k == 0 ? 3 : 0);
        CHECK(sit_build(&s, &cfg, 4, 8, 8, 1, 0, err) == 0, "build: %s", err);
        SafeTensors st;
        LOAD_REF(st, files[k]);
        int bad = -1, n_c = s.params.n, n_py = st.n;
        for (int i = 0; i < n_c && i < n_py && bad < 0; i++) {
            const ParamInfo *p = &s.params.p[i];
            const StTensor *x = &st.t[i];
            int same = strcmp(p->name, x->name) == 0 && p->ndim == x->ndim;
            for (int d = 0; same && d < p->ndim; d++) same = p->shape[d] == x->shape[d];
            if (!same) bad = i;
        }
        char cn[PARAM_NAMELEN + 1] = "", pn[PARAM_NAMELEN + 1] = "";
        if (bad >= 0) {
            snprintf(cn, sizeof cn, "%s", s.params.p[bad].name);
            snprintf(pn, sizeof pn, "%s", st.t[bad].name);
        }
        st_free(&st);
        sit_free(&s);
        CHECK(bad < 0, "%s: position %d: C has '%s', PyTorch '%s' (or shapes differ)", files[k], bad, cn, pn);
        CHECK(n_c == n_py, "%s: C has %d tensors, PyTorch %d", files[k], n_c, n_py);
    }
}

static int load_sit(Sit *s, int nc, int batch, int with_grad, const char *sd, char *err) {
    SitConfig cfg = tiny_cfg(nc);
    if (sit_build(s, &cfg, 4, 8, 8, batch, with_grad, err)) return -1;
    ParamGroup g = {&s->params, ""};
    return params_load(&g, 1, sd, 0, err);
}

typedef struct {
    const float *x, *t, *gout, *gtok, *out, *tok1, *dx, *pos0;
    int y[B];
} Ref;

#define LOAD_IO(io, r, with_y) do { \
    REF_TENSOR(rx_, io, "ref.x", NX); REF_TENSOR(rt_, io, "ref.t", B); \
    REF_TENSOR(rgo_, io, "ref.gout", NX); REF_TENSOR(rgt_, io, "ref.gtok", NTOK); \
    REF_TENSOR(ro_, io, "ref.out", NX); REF_TENSOR(rk_, io, "ref.tok1", NTOK); \
    REF_TENSOR(rp_, io, "ref.init_pos_embed", 16 * 32); \
    r.x = rx_; r.t = rt_; r.gout = rgo_; r.gtok = rgt_; r.out = ro_; r.tok1 = rk_; r.pos0 = rp_; \
    if (with_y) { REF_TENSOR(ry_, io, "ref.y", B); for (int i_ = 0; i_ < B; i_++) r.y[i_] = (int)ry_[i_]; } \
    } while (0)

TEST(forward_backward_match_torch) {
    Sit s;
    char err[ERRLEN];
    CHECK(load_sit(&s, 3, B, 1, SD, err) == 0, "%s", err);
    SafeTensors io;
    LOAD_REF(io, IO);
    Ref r;
    LOAD_IO(io, r, 1);
    REF_TENSOR(dxref, io, "ref.dx", NX);
    CHECK(r.y[2] == 3, "the reference should use the null class for sample 2");
    params_zero_grad(&s.params);
    const float *out = sit_forward(&s, r.x, r.t, r.y, B);
    CHECK_REL(out, r.out, NX, 1e-4, "output");
    CHECK_REL(sit_tokens(&s, 1), r.tok1, NTOK, 1e-4, "tokens after block 1");
    float dx[NX] = {0};
    sit_backward(&s, dx, r.gout, r.gtok, 1, 1);
    CHECK_REL(dx, dxref, NX, 2e-2, "dL/dx_t");
    for (int i = 0; i < s.params.n; i++) {
        const ParamInfo *p = &s.params.p[i];
        if (!p->trainable) {
            CHECK(param_grad(&s.params, s.params.data + p->offset) == NULL, "%s has a gradient", p->name);
            continue;
        }
        char name[160];
        snprintf(name, sizeof name, "grad.%s", p->name);
        REF_TENSOR(g, io, name, p->numel);
        CHECK_REL(s.params.grad + p->offset, g, p->numel, 2e-2, name);
    }
    printf("sit: worst relative error vs PyTorch %.3g (%s)\n", worst_err, worst_name);
    st_free(&io);
    sit_free(&s);
}

TEST(token_only_backward_is_the_alignment_path) {
    // full = (output part) + (token part); the token-only call must touch no parameter gradient
    Sit s;
    char err[ERRLEN];
    CHECK(load_sit(&s, 3, B, 1, SD, err) == 0, "%s", err);
    SafeTensors io;
    LOAD_REF(io, IO);
    Ref r;
    LOAD_IO(io, r, 1);
    REF_TENSOR(dxref, io, "ref.dx", NX);
    sit_forward(&s, r.x, r.t, r.y, B);
    float dx[NX] = {0};
    params_zero_grad(&s.params);
    sit_backward(&s, dx, r.gout, NULL, 1, 1);
    float *g1 = xmalloc(s.params.ntrain * sizeof(float));
    memcpy(g1, s.params.grad, s.params.ntrain * sizeof(float));
    sit_backward(&s, dx, NULL, r.gtok, 1, 0);
    CHECK(memcmp(g1, s.params.grad, s.params.ntrain * sizeof(float)) == 0, "param_grads=0 changed a gradient");
    free(g1);
    CHECK_REL(dx, dxref, NX, 2e-2, "dL/dx_t from the two partial backwards");
    st_free(&io);
    sit_free(&s);
}

TEST(unconditional_variant_matches_torch) {
    Sit s;
    char err[ERRLEN];
    CHECK(load_sit(&s, 0, B, 1, SD_UNCOND, err) == 0, "%s", err);
    CHECK(s.y_table == NULL && params_find(&s.params, "y_embedder.embedding_table.weight") == NULL,
          "an unconditional SiT has a label table");
    SafeTensors io;
    LOAD_REF(io, IO_UNCOND);
    Ref r;
    LOAD_IO(io, r, 0);
    const float *out = sit_forward(&s, r.x, r.t, NULL, B);
    CHECK_REL(out, r.out, NX, 1e-4, "output");
    CHECK_REL(sit_tokens(&s, 1), r.tok1, NTOK, 1e-4, "tokens after block 1");
    float dx[NX] = {0};
    sit_backward(&s, dx, r.gout, r.gtok, 1, 1);
    for (size_t i = 0; i < s.params.ntrain; i++) CHECK(isfinite(s.params.grad[i]), "gradient %zu not finite", i);
    for (int i = 0; i < NX; i++) CHECK(isfinite(dx[i]), "dx %d not finite", i);
    st_free(&io);
    sit_free(&s);
}

// ---- finite differences -----------------------------------------------------------------------
// A few entries spread over each tensor (each costs two full forward passes).
#define CHECK_GRAD_FEW(x, analytic, n, lossfn, ctx, what) do { \
    size_t wi_ = 0; double wa_ = 0, wf_ = 0; \
    double r_ = test_gradcheck((x), (analytic), (n), (lossfn), (ctx), 1e-2f, 5e-2, 2e-3, 8, &wi_, &wa_, &wf_); \
    CHECK(r_ <= 1.0, "%s: gradient at %zu is %.6g, finite difference %.6g", (what), wi_, wa_, wf_); } while (0)
typedef struct {
    Sit *s;
    Ref *r;
    float *x;
} FdCtx;

static double fd_loss(void *p) {
    FdCtx *c = p;
    const float *out = sit_forward(c->s, c->x, c->r->t, c->r->y, B);
    return test_dot(out, c->r->gout, NX) + test_dot(sit_tokens(c->s, 1), c->r->gtok, NTOK);
}

TEST(finite_differences) {
    Sit s;
    char err[ERRLEN];
    CHECK(load_sit(&s, 3, B, 1, SD, err) == 0, "%s", err);
    SafeTensors io;
    LOAD_REF(io, IO);
    Ref r;
    LOAD_IO(io, r, 1);
    float x[NX], dx[NX] = {0};
    memcpy(x, r.x, sizeof x);
    FdCtx c = {&s, &r, x};
    params_zero_grad(&s.params);
    fd_loss(&c);
    sit_backward(&s, dx, r.gout, r.gtok, 1, 1);
    const char *names[] = {"x_embedder.proj.weight", "t_embedder.mlp.0.weight", "t_embedder.mlp.2.bias",
                           "y_embedder.embedding_table.weight", "blocks.0.attn.qkv.weight",
                           "blocks.0.adaLN_modulation.1.bias", "blocks.1.mlp.fc1.weight",
                           "final_layer.adaLN_modulation.1.weight", "final_layer.linear.bias"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        const ParamInfo *p = params_find(&s.params, names[k]);
        CHECK(p, "no parameter %s", names[k]);
        float *w = s.params.data + p->offset;
        CHECK_GRAD_FEW(w, s.params.grad + p->offset, p->numel, fd_loss, &c, names[k]);
    }
    CHECK_GRAD_FEW(x, dx, (size_t)NX, fd_loss, &c, "x_t");
    st_free(&io);
    sit_free(&s);
}

// ---- init, checkpoints, errors ----------------------------------------------------------------
static int all_zero(const float *w, size_t n) {
    for (size_t i = 0; i < n; i++) if (w[i] != 0.0f) return 0;
    return 1;
}

TEST(init_follows_dit) {
    Sit s;
    char err[ERRLEN];
    SitConfig cfg = tiny_cfg(3);
    CHECK(sit_build(&s, &cfg, 4, 8, 8, 1, 0, err) == 0, "%s", err);
    Rng rng;
    rng_seed(&rng, 3);
    sit_init(&s, &rng);
    SafeTensors io;
    LOAD_REF(io, IO);
    REF_TENSOR(pos0, io, "ref.init_pos_embed", 16 * 32);
    CHECK_CLOSE(s.pos_embed, pos0, 16 * 32, 1e-6, 1e-6, "pos_embed (MAE 2-D sin-cos)");
    st_free(&io);
    int D = 32;
    CHECK(all_zero(s.blocks[1].ada_w, 6 * D * D) && all_zero(s.blocks[0].ada_b, 6 * D), "block adaLN not zero");
    CHECK(all_zero(s.fa_w, 2 * D * D) && all_zero(s.fa_b, 2 * D), "final adaLN not zero");
    CHECK(all_zero(s.fl_w, 16 * D) && all_zero(s.fl_b, 16), "final linear not zero");
    CHECK(all_zero(s.blocks[0].qkv_b, 3 * D) && all_zero(s.xe_b, D) && all_zero(s.t0_b, D), "biases not zero");
    // xavier-uniform: |w| <= sqrt(6/(fan_in+fan_out)), std bound/sqrt(3)
    double a = sqrt(6.0 / (D + 4 * D)), mx = 0, s2 = 0;
    size_t n = (size_t)4 * D * D;
    for (size_t i = 0; i < n; i++) { double w = s.blocks[0].fc1_w[i]; s2 += w * w; if (fabs(w) > mx) mx = fabs(w); }
    CHECK(mx <= a && mx > 0.95 * a, "fc1 max %g, xavier bound %g", mx, a);
    CHECK(fabs(sqrt(s2 / n) - a / sqrt(3.0)) < 0.05 * a, "fc1 std %g, want %g", sqrt(s2 / n), a / sqrt(3.0));
    a = sqrt(6.0 / (16 + D)); // x_embedder.proj as a (D, 4*2*2) linear
    mx = 0;
    for (int i = 0; i < D * 16; i++) if (fabs(s.xe_w[i]) > mx) mx = fabs(s.xe_w[i]);
    CHECK(mx <= a && mx > 0.9 * a, "x_embedder max %g, xavier bound %g", mx, a);
    s2 = 0;
    for (int i = 0; i < D * 256; i++) s2 += (double)s.t0_w[i] * s.t0_w[i];
    CHECK(fabs(sqrt(s2 / (D * 256)) - 0.02) < 0.002, "t_embedder.mlp.0 std %g, want 0.02", sqrt(s2 / (D * 256)));
    s2 = 0;
    for (int i = 0; i < 4 * D; i++) s2 += (double)s.y_table[i] * s.y_table[i];
    CHECK(fabs(sqrt(s2 / (4 * D)) - 0.02) < 0.005, "label table std %g, want 0.02", sqrt(s2 / (4 * D)));
    // zero-initialised output: the model starts out predicting 0
    float x[4 * 64], t = 0.5f;
    rng_fill_normal(&rng, x, 4 * 64, 1);
    int y = 1;
    const float *out = sit_forward(&s, x, &t, &y, 1);
    CHECK(all_zero(out, 4 * 64), "initial output not zero");
    sit_free(&s);
}

TEST(checkpoint_roundtrip_and_combined_file) {
    Sit a, b;
    Vae va, vb;
    LatentBn bna, bnb;
    char err[ERRLEN];
    SitConfig cfg = tiny_cfg(3);
    VaeConfig vc;
    memset(&vc, 0, sizeof vc);
    vc.ch[0] = 8; vc.ch[1] = 16; vc.nlevels = 2; vc.num_res_blocks = 1; vc.z_channels = 4; vc.groups = 4;
    vc.mid_attn = 1;
    CHECK(sit_build(&a, &cfg, 4, 8, 8, 2, 0, err) == 0, "%s", err);
    CHECK(sit_build(&b, &cfg, 4, 8, 8, 2, 0, err) == 0, "%s", err);
    CHECK(vae_build(&va, &vc, 3, 16, 1, 0, err) == 0, "%s", err);
    CHECK(vae_build(&vb, &vc, 3, 16, 1, 0, err) == 0, "%s", err);
    latent_bn_build(&bna, 4);
    latent_bn_build(&bnb, 4);
    Rng rng;
    rng_seed(&rng, 5);
    // random everywhere (the DiT init leaves the output at zero, which would prove nothing)
    rng_fill_normal(&rng, a.params.data, a.params.ntrain, 0.1f);
    sit_init(&b, &rng);
    vae_init(&va, &rng);
    bna.running_mean[2] = 0.5f;
    char path[] = "/tmp/repae_sit_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    ParamGroup all_a[3] = {{&va.params, ""}, {&bna.params, "bn."}, {&a.params, ""}};
    ParamGroup all_b[3] = {{&vb.params, ""}, {&bnb.params, "bn."}, {&b.params, ""}};
    CHECK(params_save(all_a, 3, path, err) == 0, "save: %s", err);
    // strict load of everything at once
    int rc_all = params_load(all_b, 3, path, 0, err);
    char err_all[ERRLEN];
    memcpy(err_all, err, ERRLEN);
    // the SiT alone from the combined file: strict fails (VAE names unexpected), lenient works
    int rc_strict = params_load(&all_b[2], 1, path, 0, err);
    char err_strict[ERRLEN];
    memcpy(err_strict, err, ERRLEN);
    int rc_lenient = params_load(&all_b[2], 1, path, 1, err);
    unlink(path);
    CHECK(rc_all == 0, "combined load: %s", err_all);
    CHECK(rc_strict != 0 && strstr(err_strict, "unexpected tensor") && strstr(err_strict, "encoder.conv_in.weight"),
          "strict SiT-only load: %s", err_strict);
    CHECK(rc_lenient == 0, "lenient SiT-only load: %s", err);
    CHECK(bnb.running_mean[2] == 0.5f, "bn buffer not reloaded");
    CHECK(memcmp(va.params.data, vb.params.data, va.params.total * sizeof(float)) == 0, "VAE weights differ");
    float x[2 * 4 * 64], t[2] = {0.3f, 0.9f};
    int y[2] = {0, 3};
    rng_fill_normal(&rng, x, 2 * 4 * 64, 1);
    const float *oa = sit_forward(&a, x, t, y, 2), *ob = sit_forward(&b, x, t, y, 2);
    CHECK(memcmp(oa, ob, sizeof x) == 0, "outputs differ after reload");
    sit_free(&a); sit_free(&b);
    vae_free(&va); vae_free(&vb);
    latent_bn_free(&bna); latent_bn_free(&bnb);
}

TEST(bad_checkpoints_give_clear_errors) {
    Sit s;
    char err[ERRLEN];
    CHECK(load_sit(&s, 3, 1, 0, SD_UNCOND, err) != 0, "a conditional SiT loaded an unconditional checkpoint");
    CHECK(strstr(err, "1 missing tensor [y_embedder.embedding_table.weight]"), "missing: %s", err);
    sit_free(&s);
    CHECK(load_sit(&s, 0, 1, 0, SD, err) != 0, "an unconditional SiT loaded a conditional checkpoint");
    CHECK(strstr(err, "1 unexpected tensor [y_embedder.embedding_table.weight]"), "unexpected: %s", err);
    sit_free(&s);
    CHECK(load_sit(&s, 5, 1, 0, SD, err) != 0, "5 classes loaded a 3-class checkpoint");
    CHECK(strstr(err, "y_embedder.embedding_table.weight is (4,32), want (6,32)"), "shape: %s", err);
    sit_free(&s);
    SitConfig cfg = tiny_cfg(3);
    cfg.heads = 3;
    CHECK(sit_build(&s, &cfg, 4, 8, 8, 1, 0, err) != 0 && strstr(err, "heads"), "heads 3: %s", err);
    cfg = tiny_cfg(3);
    CHECK(sit_build(&s, &cfg, 4, 7, 7, 1, 0, err) != 0 && strstr(err, "patch"), "size 7: %s", err);
}

TEST(fm32_small_parameter_count) {
    Sit s;
    char err[ERRLEN];
    SitConfig cfg = tiny_cfg(10);
    cfg.hidden = 192; cfg.depth = 6; cfg.heads = 6;
    CHECK(sit_build(&s, &cfg, 4, 8, 8, 1, 0, err) == 0, "%s", err);
    SafeTensors st;
    LOAD_REF(st, "tests/ref/model_counts.safetensors");
    REF_TENSOR(want, st, "ref.fm32_sit_params", 1);
    size_t n = sit_num_params(&s);
    printf("fm32-small SiT: %zu parameters (%.2f M; PyTorch %.0f)\n", n, n / 1e6, want[0]);
    CHECK((double)n == want[0], "%zu parameters, PyTorch counts %.0f", n, want[0]);
    CHECK(fabs(n / 1e6 - 4.17) < 0.005, "%zu parameters, spec says about 4.17 M", n);
    st_free(&st);
    sit_free(&s);
}

int main(void) {
    RUN(state_dict_names_shapes_order_match_torch);
    RUN(forward_backward_match_torch);
    RUN(token_only_backward_is_the_alignment_path);
    RUN(unconditional_variant_matches_torch);
    RUN(finite_differences);
    RUN(init_follows_dit);
    RUN(checkpoint_roundtrip_and_combined_file);
    RUN(bad_checkpoints_give_clear_errors);
    RUN(fm32_small_parameter_count);
    return test_summary();
}
