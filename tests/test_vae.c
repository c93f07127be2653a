// test_vae.c: the VAE and the latent BatchNorm against PyTorch (tests/gen_models.py): names,
// shapes and order of the state_dict, forward outputs, every parameter gradient and dL/dz,
// finite differences, variants, checkpoint round trip and checkpoint errors, init, and the
// fm32-small parameter count.
#include "test.h"
#include "testutil.h"
#include "model/latent_bn.h"
#include "model/vae.h"
#include <unistd.h>

#define SD "tests/ref/model_vae_sd.safetensors"
#define IO "tests/ref/model_vae_io.safetensors"
#define SD_NOATTN "tests/ref/model_vae_noattn_sd.safetensors"
#define IO_NOATTN "tests/ref/model_vae_noattn_io.safetensors"
#define B 3

static VaeConfig tiny_cfg(int mid_attn) {
    VaeConfig c;
    memset(&c, 0, sizeof c);
    c.ch[0] = 8; c.ch[1] = 16; c.nlevels = 2;
    c.num_res_blocks = 1; c.z_channels = 4; c.groups = 4; c.mid_attn = mid_attn; c.latent_bn = 1;
    return c;
}

// The worst error over tensors of real scale; all-but-zero references are reported apart.
static double worst_err, worst_tiny;
static char worst_name[200];
#define CHECK_REL(got, want, n, tol, what) do { double e_ = test_rel_err((got), (want), (n)); \
    if (test_max_abs((want), (n)) < 1e-3) { if (e_ > worst_tiny) worst_tiny = e_; } \
    else if (!(e_ <= worst_err)) { worst_err = e_; snprintf(worst_name, sizeof worst_name, "%s", (what)); } \
    CHECK(e_ <= (tol), "%s: relative error %.3g > %g", (what), e_, (double)(tol)); } while (0)

// The C table must list exactly the reference file's tensors, in the same order, same shapes.
static int names_match(const ParamTable *t, const SafeTensors *st, const char *prefix, int offset, char *why) {
    size_t pl = strlen(prefix);
    for (int i = 0; i < t->n; i++) {
        if (offset + i >= st->n) return seterr(why, "file ends before '%s'", t->p[i].name);
        const StTensor *x = &st->t[offset + i];
        if (strncmp(x->name, prefix, pl) != 0 || strcmp(x->name + pl, t->p[i].name) != 0)
            return seterr(why, "position %d: C has '%s%s', PyTorch has '%s'", i, prefix, t->p[i].name, x->name);
        int same = x->ndim == t->p[i].ndim;
        for (int d = 0; same && d < x->ndim; d++) same = x->shape[d] == t->p[i].shape[d];
        if (!same) return seterr(why, "'%s': shapes differ", x->name);
    }
    return 0;
}

TEST(state_dict_names_shapes_order_match_torch) {
    const char *files[2] = {SD, SD_NOATTN};
    for (int k = 0; k < 2; k++) {
        Vae v;
        char err[ERRLEN];
        VaeConfig cfg = tiny_cfg(k == 0);
        CHECK(vae_build(&v, &cfg, 3, 16, 1, 0, err) == 0, "build: %s", err);
        SafeTensors st;
        LOAD_REF(st, files[k]);
        int ok = names_match(&v.params, &st, "", 0, err);
        int n_c = v.params.n, n_py = st.n;
        st_free(&st);
        vae_free(&v);
        CHECK(ok == 0, "%s: %s", files[k], err);
        CHECK(n_c == n_py, "%s: C has %d tensors, PyTorch %d", files[k], n_c, n_py);
    }
}

static int load_vae(Vae *v, int mid_attn, int batch, int with_grad, const char *sd, char *err) {
    VaeConfig cfg = tiny_cfg(mid_attn);
    if (vae_build(v, &cfg, 3, 16, batch, with_grad, err)) return -1;
    ParamGroup g = {&v->params, ""};
    return params_load(&g, 1, sd, 0, err);
}

TEST(forward_backward_match_torch) {
    Vae v;
    char err[ERRLEN];
    CHECK(load_vae(&v, 1, B, 1, SD, err) == 0, "%s", err);
    SafeTensors io;
    LOAD_REF(io, IO);
    size_t nx = (size_t)B * 3 * 16 * 16, nz = (size_t)B * 4 * 8 * 8;
    REF_TENSOR(x, io, "ref.x", nx);
    REF_TENSOR(eps, io, "ref.eps", nz);
    REF_TENSOR(gx, io, "ref.gx", nx);
    REF_TENSOR(gmean, io, "ref.gmean", nz);
    REF_TENSOR(glogvar, io, "ref.glogvar", nz);
    REF_TENSOR(gbn, io, "ref.gbn", nz);
    REF_TENSOR(mean, io, "ref.mean", nz);
    REF_TENSOR(logvar, io, "ref.logvar", nz);
    REF_TENSOR(z, io, "ref.z", nz);
    REF_TENSOR(xrec, io, "ref.xrec", nx);
    REF_TENSOR(zbn, io, "ref.zbn", nz);
    REF_TENSOR(rm0, io, "ref.bn_running_mean0", 4);
    REF_TENSOR(rv0, io, "ref.bn_running_var0", 4);
    REF_TENSOR(rm1, io, "ref.bn_running_mean1", 4);
    REF_TENSOR(rv1, io, "ref.bn_running_var1", 4);
    REF_TENSOR(dz, io, "ref.dz", nz);
    REF_TENSOR(xrec_mean, io, "ref.xrec_mean", nx);

    LatentBn bn;
    latent_bn_build(&bn, 4);
    memcpy(bn.running_mean, rm0, 4 * sizeof(float));
    memcpy(bn.running_var, rv0, 4 * sizeof(float));
    float *zb = xmalloc(nz * sizeof(float));

    params_zero_grad(&v.params);
    vae_encode(&v, x, B);
    vae_sample(&v, eps, B);
    const float *xr = vae_decode(&v, v.z, B);
    latent_bn_forward(&bn, zb, v.z, B, 64, 1);
    CHECK_REL(v.mean, mean, nz, 1e-4, "mean");
    CHECK_REL(v.logvar, logvar, nz, 1e-4, "logvar");
    CHECK_REL(v.z, z, nz, 1e-4, "z");
    CHECK_REL(xr, xrec, nx, 1e-4, "xrec");
    CHECK_REL(zb, zbn, nz, 1e-4, "bn output");
    CHECK_REL(bn.running_mean, rm1, 4, 1e-4, "bn.running_mean");
    CHECK_REL(bn.running_var, rv1, 4, 1e-4, "bn.running_var");
    int clamped = 0;
    for (size_t i = 0; i < nz; i++) clamped += v.logvar[i] == -30.0f;
    CHECK(clamped == B * 64, "expected channel 3 of logvar clamped at -30 everywhere, %d values are", clamped);

    // backward: loss = <xrec, gx> + <mean, gmean> + <logvar, glogvar> + <bn(z), gbn>
    vae_decode_backward(&v, v.dz, gx);
    latent_bn_backward(&bn, v.dz, gbn, v.z, B, 64);
    CHECK_REL(v.dz, dz, nz, 2e-2, "dL/dz");
    memcpy(v.dmean, gmean, nz * sizeof(float));
    memcpy(v.dlogvar, glogvar, nz * sizeof(float));
    vae_sample_backward(&v, v.dmean, v.dlogvar, v.dz, eps, B);
    vae_encode_backward(&v, v.dmean, v.dlogvar);
    for (int i = 0; i < v.params.n; i++) {
        const ParamInfo *p = &v.params.p[i];
        char name[160];
        snprintf(name, sizeof name, "grad.%s", p->name);
        REF_TENSOR(g, io, name, p->numel);
        CHECK_REL(v.params.grad + p->offset, g, p->numel, 2e-2, name);
    }
    printf("vae: worst relative error vs PyTorch %.3g (%s); near-zero references (attention k bias): "
           "error %.3g of 1e-3\n", worst_err, worst_name, worst_tiny);

    // the posterior-mean path of reconstruct/eval
    vae_encode(&v, x, B);
    vae_sample(&v, NULL, B);
    xr = vae_decode(&v, v.z, B);
    CHECK_REL(xr, xrec_mean, nx, 1e-4, "xrec from the posterior mean");
    free(zb);
    latent_bn_free(&bn);
    st_free(&io);
    vae_free(&v);
}

TEST(no_mid_attn_variant_matches_torch) {
    Vae v;
    char err[ERRLEN];
    CHECK(load_vae(&v, 0, B, 1, SD_NOATTN, err) == 0, "%s", err);
    SafeTensors io;
    LOAD_REF(io, IO_NOATTN);
    size_t nx = (size_t)B * 3 * 16 * 16, nz = (size_t)B * 4 * 8 * 8;
    REF_TENSOR(x, io, "ref.x", nx);
    REF_TENSOR(eps, io, "ref.eps", nz);
    REF_TENSOR(mean, io, "ref.mean", nz);
    REF_TENSOR(logvar, io, "ref.logvar", nz);
    REF_TENSOR(xrec, io, "ref.xrec", nx);
    vae_encode(&v, x, B);
    vae_sample(&v, eps, B);
    const float *xr = vae_decode(&v, v.z, B);
    CHECK_REL(v.mean, mean, nz, 1e-4, "mean");
    CHECK_REL(v.logvar, logvar, nz, 1e-4, "logvar");
    CHECK_REL(xr, xrec, nx, 1e-4, "xrec");
    // and backward runs, with finite gradients
    vae_decode_backward(&v, v.dz, xrec);
    vae_sample_backward(&v, v.dmean, v.dlogvar, v.dz, eps, B);
    vae_encode_backward(&v, v.dmean, v.dlogvar);
    for (size_t i = 0; i < v.params.ntrain; i++) CHECK(isfinite(v.params.grad[i]), "gradient %zu not finite", i);
    st_free(&io);
    vae_free(&v);
}

// ---- finite differences -----------------------------------------------------------------------
// A few entries spread over each tensor (each costs two full forward passes).
#define CHECK_GRAD_FEW(x, analytic, n, lossfn, ctx, what) do { \
    size_t wi_ = 0; double wa_ = 0, wf_ = 0; \
    double r_ = test_gradcheck((x), (analytic), (n), (lossfn), (ctx), 1e-2f, 5e-2, 2e-3, 6, &wi_, &wa_, &wf_); \
    CHECK(r_ <= 1.0, "%s: gradient at %zu is %.6g, finite difference %.6g", (what), wi_, wa_, wf_); } while (0)
typedef struct {
    Vae *v;
    const float *x, *eps, *gx, *gmean, *glogvar;
} FdCtx;

static double fd_loss(void *p) {
    FdCtx *c = p;
    size_t nx = (size_t)B * 3 * 16 * 16, nz = (size_t)B * 4 * 8 * 8;
    vae_encode(c->v, c->x, B);
    vae_sample(c->v, c->eps, B);
    const float *xr = vae_decode(c->v, c->v->z, B);
    return test_dot(xr, c->gx, nx) + test_dot(c->v->mean, c->gmean, nz) + test_dot(c->v->logvar, c->glogvar, nz);
}

TEST(finite_differences) {
    Vae v;
    char err[ERRLEN];
    CHECK(load_vae(&v, 1, B, 1, SD, err) == 0, "%s", err);
    SafeTensors io;
    LOAD_REF(io, IO);
    size_t nx = (size_t)B * 3 * 16 * 16, nz = (size_t)B * 4 * 8 * 8;
    REF_TENSOR(x, io, "ref.x", nx);
    REF_TENSOR(eps, io, "ref.eps", nz);
    REF_TENSOR(gx, io, "ref.gx", nx);
    REF_TENSOR(gmean, io, "ref.gmean", nz);
    REF_TENSOR(glogvar, io, "ref.glogvar", nz);
    FdCtx c = {&v, x, eps, gx, gmean, glogvar};
    params_zero_grad(&v.params);
    fd_loss(&c);
    vae_decode_backward(&v, v.dz, gx);
    memcpy(v.dmean, gmean, nz * sizeof(float));
    memcpy(v.dlogvar, glogvar, nz * sizeof(float));
    vae_sample_backward(&v, v.dmean, v.dlogvar, v.dz, eps, B);
    vae_encode_backward(&v, v.dmean, v.dlogvar);
    const char *names[] = {"encoder.conv_in.weight", "encoder.down.0.block.0.norm1.weight",
                           "encoder.mid.attn_1.k.weight", "quant_conv.bias", "decoder.mid.attn_1.q.weight",
                           "decoder.up.1.upsample.conv.weight", "decoder.up.0.block.0.nin_shortcut.weight",
                           "decoder.conv_out.bias"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        const ParamInfo *p = params_find(&v.params, names[k]);
        CHECK(p, "no parameter %s", names[k]);
        float *w = v.params.data + p->offset;
        CHECK_GRAD_FEW(w, v.params.grad + p->offset, p->numel, fd_loss, &c, names[k]);
    }
    st_free(&io);
    vae_free(&v);
}

// ---- checkpoints ------------------------------------------------------------------------------
TEST(checkpoint_roundtrip_gives_identical_outputs) {
    Vae a, b;
    char err[ERRLEN];
    VaeConfig cfg = tiny_cfg(1);
    CHECK(vae_build(&a, &cfg, 3, 16, 2, 0, err) == 0, "%s", err);
    CHECK(vae_build(&b, &cfg, 3, 16, 2, 0, err) == 0, "%s", err);
    Rng r;
    rng_seed(&r, 7);
    vae_init(&a, &r);
    vae_init(&b, &r); // different weights until loaded
    LatentBn bna, bnb;
    latent_bn_build(&bna, 4);
    latent_bn_build(&bnb, 4);
    for (int i = 0; i < 4; i++) { bna.running_mean[i] = 0.1f * i; bna.running_var[i] = 1 + 0.5f * i; }
    char path[] = "/tmp/repae_vae_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    ParamGroup ga[2] = {{&a.params, ""}, {&bna.params, "bn."}}, gb[2] = {{&b.params, ""}, {&bnb.params, "bn."}};
    CHECK(params_save(ga, 2, path, err) == 0, "save: %s", err);
    int rc = params_load(gb, 2, path, 0, err);
    SafeTensors st;
    int rc2 = st_read(&st, path, err);
    unlink(path);
    CHECK(rc == 0, "load: %s", err);
    CHECK(rc2 == 0 && st_find(&st, "bn.running_mean") && st_find(&st, "bn.running_var") &&
          st_find(&st, "encoder.conv_in.weight") && st_find(&st, "post_quant_conv.bias"), "file names");
    st_free(&st);
    float x[2 * 3 * 16 * 16];
    rng_fill_uniform(&r, x, sizeof x / sizeof *x, -1, 1);
    vae_encode(&a, x, 2);
    vae_encode(&b, x, 2);
    CHECK(memcmp(a.mean, b.mean, 2 * 4 * 64 * sizeof(float)) == 0, "means differ after reload");
    const float *xa = vae_decode(&a, a.mean, 2), *xb = vae_decode(&b, b.mean, 2);
    CHECK(memcmp(xa, xb, sizeof x) == 0, "reconstructions differ after reload");
    CHECK(memcmp(bna.running_var, bnb.running_var, 4 * sizeof(float)) == 0, "bn buffers differ after reload");
    latent_bn_free(&bna);
    latent_bn_free(&bnb);
    vae_free(&a);
    vae_free(&b);
}

TEST(bad_checkpoints_give_clear_errors) {
    Vae v;
    char err[ERRLEN];
    // missing: the file lacks mid attention
    CHECK(load_vae(&v, 1, 1, 0, SD_NOATTN, err) != 0, "loaded a checkpoint without mid attention");
    CHECK(strstr(err, "20 missing tensors [encoder.mid.attn_1.norm.weight, encoder.mid.attn_1.norm.bias"),
          "missing names not listed: %s", err);
    vae_free(&v);
    // unexpected: the file has mid attention the model lacks
    CHECK(load_vae(&v, 0, 1, 0, SD, err) != 0, "loaded a checkpoint with extra tensors");
    CHECK(strstr(err, "unexpected") && strstr(err, "encoder.mid.attn_1.q.weight"), "unexpected names not listed: %s", err);
    vae_free(&v);
    // ... unless asked to ignore them
    VaeConfig cfg = tiny_cfg(0);
    CHECK(vae_build(&v, &cfg, 3, 16, 1, 0, err) == 0, "%s", err);
    ParamGroup g = {&v.params, ""};
    CHECK(params_load(&g, 1, SD, 1, err) == 0, "allow_unexpected: %s", err);
    vae_free(&v);
    // wrong shape: one image channel instead of three
    cfg = tiny_cfg(1);
    CHECK(vae_build(&v, &cfg, 1, 16, 1, 0, err) == 0, "%s", err);
    float before = v.params.data[0];
    CHECK(params_load(&g, 1, SD, 0, err) != 0, "loaded a checkpoint with the wrong channel count");
    CHECK(strstr(err, "wrong shape") && strstr(err, "encoder.conv_in.weight is (8,3,3,3), want (8,1,3,3)") &&
          strstr(err, "decoder.conv_out.bias is (3), want (1)"), "shape error: %s", err);
    CHECK(v.params.data[0] == before, "a failed load changed the weights");
    vae_free(&v);
    // a bad config is an error, not a crash
    cfg = tiny_cfg(1);
    cfg.groups = 3;
    CHECK(vae_build(&v, &cfg, 3, 16, 1, 0, err) != 0 && strstr(err, "groups"), "groups 3: %s", err);
    cfg = tiny_cfg(1);
    CHECK(vae_build(&v, &cfg, 3, 15, 1, 0, err) != 0 && strstr(err, "divisible"), "size 15: %s", err);
}

TEST(init_is_pytorch_default) {
    Vae v;
    char err[ERRLEN];
    VaeConfig cfg = tiny_cfg(1);
    CHECK(vae_build(&v, &cfg, 3, 16, 1, 0, err) == 0, "%s", err);
    Rng r;
    rng_seed(&r, 1);
    vae_init(&v, &r);
    const ParamInfo *p = params_find(&v.params, "decoder.up.0.block.0.conv1.weight"); // (8,16,3,3)
    const float *w = v.params.data + p->offset;
    double bound = 1.0 / sqrt(16 * 9), s2 = 0, mx = 0;
    for (size_t i = 0; i < p->numel; i++) { s2 += (double)w[i] * w[i]; if (fabs(w[i]) > mx) mx = fabs(w[i]); }
    double sd = sqrt(s2 / p->numel), want = bound / sqrt(3.0);
    CHECK(mx <= bound && mx > 0.9 * bound, "conv weight max %g, bound %g", mx, bound);
    CHECK(fabs(sd - want) < 0.1 * want, "conv weight std %g, want %g", sd, want);
    p = params_find(&v.params, "decoder.up.0.block.0.conv1.bias");
    w = v.params.data + p->offset;
    for (size_t i = 0; i < p->numel; i++) CHECK(fabs(w[i]) <= bound, "bias %g beyond %g", w[i], bound);
    CHECK(w[0] != 0 && w[0] != w[1], "conv bias not random");
    p = params_find(&v.params, "encoder.mid.attn_1.norm.weight");
    for (size_t i = 0; i < p->numel; i++) CHECK(v.params.data[p->offset + i] == 1.0f, "GroupNorm weight not 1");
    p = params_find(&v.params, "decoder.norm_out.bias");
    for (size_t i = 0; i < p->numel; i++) CHECK(v.params.data[p->offset + i] == 0.0f, "GroupNorm bias not 0");
    vae_free(&v);
}

TEST(fm32_small_parameter_count) {
    Vae v;
    char err[ERRLEN];
    VaeConfig cfg = tiny_cfg(1);
    cfg.ch[0] = 32; cfg.ch[1] = 64; cfg.ch[2] = 128; cfg.nlevels = 3; cfg.groups = 8;
    CHECK(vae_build(&v, &cfg, 1, 32, 1, 0, err) == 0, "%s", err);
    SafeTensors st;
    LOAD_REF(st, "tests/ref/model_counts.safetensors");
    REF_TENSOR(want, st, "ref.fm32_vae_params", 1);
    size_t n = vae_num_params(&v);
    printf("fm32-small VAE: %zu parameters (%.2f M; PyTorch %.0f)\n", n, n / 1e6, want[0]);
    CHECK((double)n == want[0], "%zu parameters, PyTorch counts %.0f", n, want[0]);
    CHECK(fabs(n / 1e6 - 2.70) < 0.005, "%zu parameters, spec says about 2.70 M", n);
    st_free(&st);
    vae_free(&v);
}

int main(void) {
    RUN(state_dict_names_shapes_order_match_torch);
    RUN(forward_backward_match_torch);
    RUN(no_mid_attn_variant_matches_torch);
    RUN(finite_differences);
    RUN(checkpoint_roundtrip_gives_identical_outputs);
    RUN(bad_checkpoints_give_clear_errors);
    RUN(init_is_pytorch_default);
    RUN(fm32_small_parameter_count);
    return test_summary();
}
