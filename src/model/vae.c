// vae.c: see vae.h. The encoder and the decoder are each a list of stages run in order;
// backward walks the list in reverse, passing the gradient between two ping-pong buffers.
#include "model/vae.h"
#include "base/util.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GN_EPS 1e-6f
#define LOGVAR_MIN -30.0f
#define LOGVAR_MAX 20.0f

typedef struct {
    VaeStage *s;
    int n, cap;
} StageList;

static VaeStage *push(StageList *l, VaeStageKind kind, const char *name, int level) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 32;
        l->s = xrealloc(l->s, l->cap * sizeof(VaeStage));
    }
    VaeStage *s = &l->s[l->n++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->level = level;
    snprintf(s->name, sizeof s->name, "%s", name);
    return s;
}

static int conv_make(VaeConv *L, int B, int cin, int H, int W, int cout, int k, int stride,
                     int pt, int pl, int pb, int pr, const char *where, char *err) {
    char e[ERRLEN];
    if (conv2d_init(&L->c, B, cin, H, W, cout, k, stride, pt, pl, pb, pr, e) != 0)
        return seterr(err, "vae %s: %s", where, e);
    return 0;
}

static int norm_make(VaeNorm *N, int C, int HW, int groups, const char *where, char *err) {
    int G = groups < C ? groups : C;
    if (G < 1 || C % G != 0)
        return seterr(err, "vae %s: %d channels are not divisible into %d GroupNorm groups; "
                      "choose vae.groups dividing every entry of vae.ch", where, C, G);
    N->C = C; N->HW = HW; N->G = G;
    return 0;
}

// ---- stage constructors (shapes only; parameters and activations are registered later) --------
static int add_conv(StageList *l, const char *name, int B, int cin, int H, int W, int cout, int k,
                    int stride, int pt, int pl, int pb, int pr, char *err) {
    VaeStage *s = push(l, VST_CONV, name, -1);
    if (conv_make(&s->conv1, B, cin, H, W, cout, k, stride, pt, pl, pb, pr, name, err)) return -1;
    s->cin = cin; s->Hin = H; s->Win = W;
    s->cout = cout; s->Hout = s->conv1.c.Ho; s->Wout = s->conv1.c.Wo;
    return 0;
}

static int add_res(StageList *l, const char *name, int level, int B, int cin, int cout, int H, int W,
                   int groups, char *err) {
    VaeStage *s = push(l, VST_RES, name, level);
    s->cin = cin; s->cout = cout; s->Hin = s->Hout = H; s->Win = s->Wout = W;
    if (norm_make(&s->norm1, cin, H * W, groups, name, err)) return -1;
    if (norm_make(&s->norm2, cout, H * W, groups, name, err)) return -1;
    if (conv_make(&s->conv1, B, cin, H, W, cout, 3, 1, 1, 1, 1, 1, name, err)) return -1;
    if (conv_make(&s->conv2, B, cout, H, W, cout, 3, 1, 1, 1, 1, 1, name, err)) return -1;
    s->has_nin = cin != cout;
    if (s->has_nin && conv_make(&s->nin, B, cin, H, W, cout, 1, 1, 0, 0, 0, 0, name, err)) return -1;
    return 0;
}

static int add_attn(StageList *l, const char *name, int B, int C, int H, int W, int groups, char *err) {
    VaeStage *s = push(l, VST_ATTN, name, -1);
    s->cin = s->cout = C; s->Hin = s->Hout = H; s->Win = s->Wout = W;
    if (norm_make(&s->norm1, C, H * W, groups, name, err)) return -1;
    VaeConv *cs[4] = {&s->q, &s->k, &s->v, &s->proj};
    for (int i = 0; i < 4; i++)
        if (conv_make(cs[i], B, C, H, W, C, 1, 1, 0, 0, 0, 0, name, err)) return -1;
    return 0;
}

static int add_upconv(StageList *l, const char *name, int level, int B, int C, int H, int W, char *err) {
    VaeStage *s = push(l, VST_UPCONV, name, level);
    s->cin = s->cout = C; s->Hin = H; s->Win = W; s->Hout = 2 * H; s->Wout = 2 * W;
    return conv_make(&s->conv1, B, C, 2 * H, 2 * W, C, 3, 1, 1, 1, 1, 1, name, err);
}

static int add_normsilu(StageList *l, const char *name, int C, int H, int W, int groups, char *err) {
    VaeStage *s = push(l, VST_NORMSILU, name, -1);
    s->cin = s->cout = C; s->Hin = s->Hout = H; s->Win = s->Wout = W;
    return norm_make(&s->norm1, C, H * W, groups, name, err);
}

// ---- parameter and activation registration ----------------------------------------------------
static void reg_conv(ParamTable *t, VaeConv *L, const char *prefix, const char *sub) {
    char n[PARAM_NAMELEN];
    const Conv2d *c = &L->c;
    snprintf(n, sizeof n, "%s%s.weight", prefix, sub);
    params_add(t, &L->w, 1, n, 4, c->Cout, c->Cin, c->k, c->k);
    snprintf(n, sizeof n, "%s%s.bias", prefix, sub);
    params_add(t, &L->b, 1, n, 1, c->Cout);
}

static void reg_norm(ParamTable *t, VaeNorm *N, const char *prefix, const char *sub) {
    char n[PARAM_NAMELEN];
    snprintf(n, sizeof n, "%s%s.weight", prefix, sub);
    params_add(t, &N->w, 1, n, 1, N->C);
    snprintf(n, sizeof n, "%s%s.bias", prefix, sub);
    params_add(t, &N->b, 1, n, 1, N->C);
}

static void reg_stage_params(ParamTable *t, VaeStage *s) {
    switch (s->kind) {
    case VST_CONV: case VST_UPCONV: reg_conv(t, &s->conv1, s->name, ""); break;
    case VST_NORMSILU: reg_norm(t, &s->norm1, s->name, ""); break;
    case VST_RES:
        reg_norm(t, &s->norm1, s->name, ".norm1");
        reg_conv(t, &s->conv1, s->name, ".conv1");
        reg_norm(t, &s->norm2, s->name, ".norm2");
        reg_conv(t, &s->conv2, s->name, ".conv2");
        if (s->has_nin) reg_conv(t, &s->nin, s->name, ".nin_shortcut");
        break;
    case VST_ATTN:
        reg_norm(t, &s->norm1, s->name, ".norm");
        reg_conv(t, &s->q, s->name, ".q");
        reg_conv(t, &s->k, s->name, ".k");
        reg_conv(t, &s->v, s->name, ".v");
        reg_conv(t, &s->proj, s->name, ".proj_out");
        break;
    }
}

static size_t stage_max_floats(const VaeStage *s) {
    size_t a = (size_t)s->cin * s->Hin * s->Win, b = (size_t)s->cout * s->Hout * s->Wout;
    if (s->kind == VST_UPCONV) a = (size_t)s->cin * s->Hout * s->Wout;
    if (s->kind == VST_RES) a = a > (size_t)s->cout * s->Hin * s->Win ? a : (size_t)s->cout * s->Hin * s->Win;
    return a > b ? a : b;
}

static void reg_stage_acts(BufTable *bt, VaeStage *s, int B) {
    size_t in = (size_t)B * s->cin * s->Hin * s->Win, out = (size_t)B * s->cout * s->Hout * s->Wout;
    size_t mid = (size_t)B * s->cout * s->Hin * s->Win;
    switch (s->kind) {
    case VST_CONV: break;
    case VST_UPCONV: break; // upconv_forward needs no upsampled copy
    case VST_NORMSILU:
        buf_add(bt, &s->m1, (size_t)B * s->norm1.G);
        buf_add(bt, &s->r1, (size_t)B * s->norm1.G);
        break;
    case VST_RES:
        // a1 = silu(norm1(in)) and a2 = silu(norm2(h1)) are not kept: forward writes them into
        // the backward scratch t[0], backward recomputes them from in / h1 and mean/rstd
        // (groupnorm_silu_apply, the same values bit for bit) just before their conv needs them.
        buf_add(bt, &s->m1, (size_t)B * s->norm1.G);
        buf_add(bt, &s->r1, (size_t)B * s->norm1.G);
        buf_add(bt, &s->h1, mid);
        buf_add(bt, &s->m2, (size_t)B * s->norm2.G);
        buf_add(bt, &s->r2, (size_t)B * s->norm2.G);
        break;
    case VST_ATTN: {
        size_t hw = (size_t)s->Hin * s->Win;
        buf_add(bt, &s->n1, in);
        buf_add(bt, &s->m1, (size_t)B * s->norm1.G);
        buf_add(bt, &s->r1, (size_t)B * s->norm1.G);
        buf_add(bt, &s->qa, in);
        buf_add(bt, &s->ka, in);
        buf_add(bt, &s->va, in);
        buf_add(bt, &s->att, (size_t)B * hw * hw);
        buf_add(bt, &s->o, in);
        break;
    }
    }
    // A NORMSILU stage's output (norm_out: silu(norm(x)), only the next conv's input) is not
    // kept either: it lives in t[0] (vae_build points it there), and stages_backward recomputes
    // it before that conv's backward.
    if (s->kind != VST_NORMSILU) buf_add(bt, &s->out, out);
}

static size_t conv_ws(const VaeConv *L, int B) {
    Conv2d c = L->c;
    c.B = 1;
    size_t one = conv2d_workspace_min(&c);
    // A few images per GEMM keeps BLAS efficient while the scratch stays bounded.
    return one * (size_t)(B < 4 ? B : 4);
}

static size_t stage_ws(const VaeStage *s, int B) {
    size_t w = 0, x;
    const VaeConv *cs[4] = {&s->conv1, &s->conv2, &s->nin, NULL};
    int nc = s->kind == VST_RES ? (s->has_nin ? 3 : 2) : s->kind == VST_CONV ? 1 : 0;
    for (int i = 0; i < nc; i++) if ((x = conv_ws(cs[i], B)) > w) w = x;
    if (s->kind == VST_UPCONV && (x = upconv_workspace_floats(B, s->cin, s->Hin, s->Win, s->cout)) > w) w = x;
    if (s->kind == VST_ATTN) {
        const VaeConv *qs[4] = {&s->q, &s->k, &s->v, &s->proj};
        for (int i = 0; i < 4; i++) if ((x = conv_ws(qs[i], B)) > w) w = x;
        x = spatial_attention_scratch_floats(B, s->cin, s->Hin * s->Win);
        if (x > w) w = x;
    }
    return w;
}

int vae_build(Vae *v, const VaeConfig *cfg, int channels, int image_size, int max_batch,
              int mode, char *err) {
    memset(v, 0, sizeof *v);
    v->cfg = *cfg;
    v->channels = channels;
    v->size = image_size;
    v->max_batch = max_batch;
    int L = cfg->nlevels, B = max_batch, G = cfg->groups, nres = cfg->num_res_blocks;
    if (L < 1 || L > CFG_MAXLEVELS) return seterr(err, "vae.ch: need 1..%d levels, got %d", CFG_MAXLEVELS, L);
    if (nres < 1) return seterr(err, "vae.num_res_blocks must be >= 1, got %d", nres);
    if (cfg->z_channels < 1) return seterr(err, "vae.z_channels must be >= 1, got %d", cfg->z_channels);
    if (B < 1 || channels < 1) return seterr(err, "vae: batch %d and channels %d must be >= 1", B, channels);
    int f = 1 << (L - 1);
    if (image_size < f || image_size % f != 0)
        return seterr(err, "vae: image size %d is not divisible by the downsampling factor %d of %d levels",
                      image_size, f, L);
    for (int i = 0; i < L; i++)
        if (cfg->ch[i] < 1) return seterr(err, "vae.ch[%d] must be >= 1, got %d", i, cfg->ch[i]);
    int zc = cfg->z_channels, H = image_size;
    v->zc = zc; v->zh = v->zw = image_size / f;
    char n[64];

    // Encoder, in run order (which is also its state_dict order).
    StageList e = {0}, d = {0};
    int rc = -1;
    if (add_conv(&e, "encoder.conv_in", B, channels, H, H, cfg->ch[0], 3, 1, 1, 1, 1, 1, err)) goto fail;
    int cin = cfg->ch[0];
    for (int i = 0; i < L; i++) {
        for (int j = 0; j < nres; j++) {
            snprintf(n, sizeof n, "encoder.down.%d.block.%d", i, j);
            if (add_res(&e, n, -1, B, cin, cfg->ch[i], H, H, G, err)) goto fail;
            cin = cfg->ch[i];
        }
        if (i != L - 1) {
            snprintf(n, sizeof n, "encoder.down.%d.downsample.conv", i);
            // LDM pads right and bottom only, then a 3x3 stride-2 conv without padding.
            if (add_conv(&e, n, B, cin, H, H, cin, 3, 2, 0, 0, 1, 1, err)) goto fail;
            H /= 2;
        }
    }
    if (add_res(&e, "encoder.mid.block_1", -1, B, cin, cin, H, H, G, err)) goto fail;
    if (cfg->mid_attn && add_attn(&e, "encoder.mid.attn_1", B, cin, H, H, G, err)) goto fail;
    if (add_res(&e, "encoder.mid.block_2", -1, B, cin, cin, H, H, G, err)) goto fail;
    if (add_normsilu(&e, "encoder.norm_out", cin, H, H, G, err)) goto fail;
    if (add_conv(&e, "encoder.conv_out", B, cin, H, H, 2 * zc, 3, 1, 1, 1, 1, 1, err)) goto fail;
    if (add_conv(&e, "quant_conv", B, 2 * zc, H, H, 2 * zc, 1, 1, 0, 0, 0, 0, err)) goto fail;

    // Decoder, in run order; up.{i} is indexed by level, so it runs from i = L-1 down to 0.
    if (add_conv(&d, "post_quant_conv", B, zc, H, H, zc, 1, 1, 0, 0, 0, 0, err)) goto fail;
    cin = cfg->ch[L - 1];
    if (add_conv(&d, "decoder.conv_in", B, zc, H, H, cin, 3, 1, 1, 1, 1, 1, err)) goto fail;
    if (add_res(&d, "decoder.mid.block_1", -1, B, cin, cin, H, H, G, err)) goto fail;
    if (cfg->mid_attn && add_attn(&d, "decoder.mid.attn_1", B, cin, H, H, G, err)) goto fail;
    if (add_res(&d, "decoder.mid.block_2", -1, B, cin, cin, H, H, G, err)) goto fail;
    for (int i = L - 1; i >= 0; i--) {
        for (int j = 0; j < nres + 1; j++) {
            snprintf(n, sizeof n, "decoder.up.%d.block.%d", i, j);
            if (add_res(&d, n, i, B, cin, cfg->ch[i], H, H, G, err)) goto fail;
            cin = cfg->ch[i];
        }
        if (i != 0) {
            snprintf(n, sizeof n, "decoder.up.%d.upsample.conv", i);
            if (add_upconv(&d, n, i, B, cin, H, H, err)) goto fail;
            H *= 2;
        }
    }
    if (add_normsilu(&d, "decoder.norm_out", cin, H, H, G, err)) goto fail;
    if (add_conv(&d, "decoder.conv_out", B, cin, H, H, channels, 3, 1, 1, 1, 1, 1, err)) goto fail;
    v->enc = e.s; v->nenc = e.n;
    v->dec = d.s; v->ndec = d.n;
    e.s = d.s = NULL;

    // Parameters in LDM state_dict order: encoder.*, decoder.* (up.0 before up.1 ...),
    // quant_conv, post_quant_conv.
    params_init(&v->params);
    for (int i = 0; i < v->nenc - 1; i++) reg_stage_params(&v->params, &v->enc[i]);
    for (int i = 1; i < v->ndec; i++)
        if (v->dec[i].level < 0 && strncmp(v->dec[i].name, "decoder.norm_out", 16) != 0 &&
            strncmp(v->dec[i].name, "decoder.conv_out", 16) != 0)
            reg_stage_params(&v->params, &v->dec[i]);
    for (int lv = 0; lv < L; lv++)
        for (int i = 1; i < v->ndec; i++)
            if (v->dec[i].level == lv) reg_stage_params(&v->params, &v->dec[i]);
    reg_stage_params(&v->params, &v->dec[v->ndec - 2]); // norm_out
    reg_stage_params(&v->params, &v->dec[v->ndec - 1]); // conv_out
    reg_stage_params(&v->params, &v->enc[v->nenc - 1]); // quant_conv
    reg_stage_params(&v->params, &v->dec[0]);           // post_quant_conv
    params_alloc(&v->params, mode);

    // Activations and scratch: one allocation.
    size_t maxact = 0, maxattn = 0, ws = 0, x;
    buf_init(&v->acts);
    for (int k = 0; k < 2; k++) {
        VaeStage *ss = k ? v->dec : v->enc;
        int ns = k ? v->ndec : v->nenc;
        for (int i = 0; i < ns; i++) {
            reg_stage_acts(&v->acts, &ss[i], B);
            if ((x = stage_max_floats(&ss[i]) * B) > maxact) maxact = x;
            if (ss[i].kind == VST_ATTN && (x = (size_t)B * ss[i].cin * ss[i].Hin * ss[i].Win) > maxattn) maxattn = x;
            if ((x = stage_ws(&ss[i], B)) > ws) ws = x;
        }
    }
    size_t lat = (size_t)B * zc * v->zh * v->zw;
    buf_add(&v->acts, &v->x, (size_t)B * channels * image_size * image_size);
    buf_add(&v->acts, &v->zin, lat);
    buf_add(&v->acts, &v->mean, lat);
    buf_add(&v->acts, &v->logvar, lat);
    buf_add(&v->acts, &v->z, lat);
    buf_add(&v->acts, &v->dmean, lat);
    buf_add(&v->acts, &v->dlogvar, lat);
    buf_add(&v->acts, &v->dz, lat);
    buf_add(&v->acts, &v->dmom, 2 * lat);
    for (int i = 0; i < 2; i++) buf_add(&v->acts, &v->g[i], maxact);
    // t[0..2]: a RES block's backward holds a recomputed activation and two gradients at once;
    // t[3] only the attention's dv.
    for (int i = 0; i < 3; i++) buf_add(&v->acts, &v->t[i], maxact);
    buf_add(&v->acts, &v->t[3], maxattn);
    // Every activation and scratch buffer is written before it is read (forward outputs, and
    // backward's zeroed() temporaries), so the block is left unzeroed (ALLOC_HUGE: start-up
    // without faulting in ~0.5 GB at fm32-small); the latent-sized buffers the caller may
    // accumulate into are zeroed here.
    buf_alloc(&v->acts, (mode & ALLOC_COUNT) | ALLOC_HUGE);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < (k ? v->ndec : v->nenc); i++)
            if ((k ? v->dec : v->enc)[i].kind == VST_NORMSILU) (k ? v->dec : v->enc)[i].out = v->t[0];
    if (mode & ALLOC_COUNT) {
        v->ws.cap = ws;
        return 0;
    }
    float *zero[] = {v->zin, v->mean, v->logvar, v->z, v->dmean, v->dlogvar, v->dz};
    for (size_t i = 0; i < sizeof zero / sizeof *zero; i++) memset(zero[i], 0, lat * sizeof(float));
    memset(v->dmom, 0, 2 * lat * sizeof(float));
    workspace_init(&v->ws, ws);
    return 0;
fail:
    free(e.s);
    free(d.s);
    memset(v, 0, sizeof *v);
    return rc;
}

void vae_free(Vae *v) {
    params_free(&v->params);
    buf_free(&v->acts);
    workspace_free(&v->ws);
    free(v->enc);
    free(v->dec);
    memset(v, 0, sizeof *v);
}

void vae_init(Vae *v, Rng *rng) {
    ParamTable *t = &v->params;
    float bound = 0;
    for (int i = 0; i < t->n; i++) {
        const ParamInfo *p = &t->p[i];
        float *w = t->data + p->offset;
        if (p->ndim == 4) {
            // kaiming_uniform(a=sqrt(5)): gain sqrt(1/3) * sqrt(3/fan_in) = 1/sqrt(fan_in)
            bound = 1.0f / sqrtf((float)(p->shape[1] * p->shape[2] * p->shape[3]));
            rng_fill_uniform(rng, w, p->numel, -bound, bound);
        } else if (i > 0 && t->p[i - 1].ndim == 4) {
            rng_fill_uniform(rng, w, p->numel, -bound, bound); // the conv's bias
        } else {
            size_t len = strlen(p->name);
            float val = len > 7 && strcmp(p->name + len - 7, ".weight") == 0 ? 1.0f : 0.0f; // GroupNorm
            for (size_t j = 0; j < p->numel; j++) w[j] = val;
        }
    }
}

size_t vae_num_params(const Vae *v) {
    size_t n = 0;
    for (int i = 0; i < v->params.n; i++)
        if (v->params.p[i].trainable) n += v->params.p[i].numel;
    return n;
}

// ---- per-stage forward and backward -----------------------------------------------------------
static void conv_fwd(const VaeConv *L, float *out, const float *in, int B, Workspace *ws) {
    Conv2d c = L->c;
    c.B = B;
    conv2d_forward(out, in, L->w, L->b, &c, ws);
}

// The backward helpers take set: dinp is a fresh buffer to overwrite (the ops' _set variants),
// else it is added to.
static void conv_bwd(const VaeConv *L, const ParamTable *t, float *dinp, const float *dout,
                     const float *in, int B, Workspace *ws, int set) {
    Conv2d c = L->c;
    c.B = B;
    (set ? conv2d_backward_set : conv2d_backward)(dinp, param_grad(t, L->w), param_grad(t, L->b), dout, in, L->w,
                                                  &c, ws);
}

static void norm_fwd(const VaeNorm *N, float *out, float *m, float *r, const float *in, int B) {
    groupnorm_forward(out, m, r, in, N->w, N->b, B, N->C, N->HW, N->G, GN_EPS);
}

static void norm_bwd(const VaeNorm *N, const ParamTable *t, float *dinp, const float *dout,
                     const float *in, const float *m, const float *r, int B, int set) {
    (set ? groupnorm_backward_set : groupnorm_backward)(dinp, param_grad(t, N->w), param_grad(t, N->b), dout, in, m, r, N->w,
                       B, N->C, N->HW, N->G);
}

// GroupNorm then SiLU (ops_fused.c): the normalised tensor is neither stored nor re-read.
static void normsilu_fwd(const VaeNorm *N, float *out, float *m, float *r, const float *in, int B) {
    groupnorm_silu_forward(out, m, r, in, N->w, N->b, B, N->C, N->HW, N->G, GN_EPS);
}

static void normsilu_bwd(const VaeNorm *N, const ParamTable *t, float *dinp, const float *dout,
                         const float *in, const float *m, const float *r, int B, int set) {
    (set ? groupnorm_silu_backward_set : groupnorm_silu_backward)(dinp, param_grad(t, N->w), param_grad(t, N->b), dout, in, m, r, N->w, N->b,
                            B, N->C, N->HW, N->G);
}

// silu(norm(in)) of the latest forward again, into buf (groupnorm_silu_apply: the same bits).
static float *normsilu_again(const VaeNorm *N, float *buf, const float *in, const float *m, const float *r, int B) {
    groupnorm_silu_apply(buf, m, r, in, N->w, N->b, B, N->C, N->HW, N->G);
    return buf;
}

static void stage_forward(Vae *v, VaeStage *s, const float *in, int B) {
    s->in = in;
    size_t nin = (size_t)B * s->cin * s->Hin * s->Win, nmid = (size_t)B * s->cout * s->Hin * s->Win;
    switch (s->kind) {
    case VST_CONV: conv_fwd(&s->conv1, s->out, in, B, &v->ws); break;
    case VST_UPCONV: // nearest x2 then conv1, as four 2x2 convs on the small image (ops_fused.c)
        upconv_forward(s->out, in, s->conv1.w, s->conv1.b, B, s->cin, s->Hin, s->Win, s->cout, &v->ws);
        break;
    case VST_NORMSILU:
        normsilu_fwd(&s->norm1, s->out, s->m1, s->r1, in, B);
        break;
    case VST_RES:
        // a1 and a2 live in the backward scratch t[0] only as long as their conv reads them
        // (stage_backward recomputes them); t[1] holds the nin shortcut's output.
        normsilu_fwd(&s->norm1, v->t[0], s->m1, s->r1, in, B);
        conv_fwd(&s->conv1, s->h1, v->t[0], B, &v->ws);
        normsilu_fwd(&s->norm2, v->t[0], s->m2, s->r2, s->h1, B);
        conv_fwd(&s->conv2, s->out, v->t[0], B, &v->ws);
        if (s->has_nin) {
            conv_fwd(&s->nin, v->t[1], in, B, &v->ws);
            accumulate(s->out, v->t[1], nmid);
        } else {
            accumulate(s->out, in, nmid);
        }
        break;
    case VST_ATTN:
        norm_fwd(&s->norm1, s->n1, s->m1, s->r1, in, B);
        conv_fwd(&s->q, s->qa, s->n1, B, &v->ws);
        conv_fwd(&s->k, s->ka, s->n1, B, &v->ws);
        conv_fwd(&s->v, s->va, s->n1, B, &v->ws);
        spatial_attention_forward(s->o, s->att, s->qa, s->ka, s->va, B, s->cin, s->Hin * s->Win);
        conv_fwd(&s->proj, s->out, s->o, B, &v->ws);
        accumulate(s->out, in, nin);
        break;
    }
}

static float *zeroed(float *p, size_t n) {
    memset(p, 0, n * sizeof(float));
    return p;
}

// dinp may be NULL (no input gradient wanted); set: it is a fresh buffer, overwritten (its
// first write sets it), else the gradient is added to it. dout is never written.
static void stage_backward(Vae *v, VaeStage *s, float *dinp, const float *dout, int B, int set) {
    const ParamTable *t = &v->params;
    size_t nin = (size_t)B * s->cin * s->Hin * s->Win;
    switch (s->kind) {
    case VST_CONV: conv_bwd(&s->conv1, t, dinp, dout, s->in, B, &v->ws, set); break;
    case VST_UPCONV:
        (set ? upconv_backward_set : upconv_backward)(dinp, param_grad(t, s->conv1.w), param_grad(t, s->conv1.b), dout, s->in,
                        s->conv1.w, B, s->cin, s->Hin, s->Win, s->cout, &v->ws);
        break;
    case VST_NORMSILU:
        normsilu_bwd(&s->norm1, t, dinp, dout, s->in, s->m1, s->r1, B, set);
        break;
    case VST_RES: {
        float *a2 = normsilu_again(&s->norm2, v->t[1], s->h1, s->m2, s->r2, B);
        float *da2 = v->t[0];
        conv_bwd(&s->conv2, t, da2, dout, a2, B, &v->ws, 1);
        float *dh1 = v->t[1]; // a2 is dead
        normsilu_bwd(&s->norm2, t, dh1, da2, s->h1, s->m2, s->r2, B, 1);
        float *a1 = normsilu_again(&s->norm1, v->t[0], s->in, s->m1, s->r1, B); // da2 is dead
        float *da1 = v->t[2];
        conv_bwd(&s->conv1, t, da1, dh1, a1, B, &v->ws, 1);
        normsilu_bwd(&s->norm1, t, dinp, da1, s->in, s->m1, s->r1, B, set);
        if (s->has_nin) conv_bwd(&s->nin, t, dinp, dout, s->in, B, &v->ws, 0);
        else if (dinp) accumulate(dinp, dout, nin);
        break;
    }
    case VST_ATTN: {
        int C = s->cin, HW = s->Hin * s->Win;
        float *dO = v->t[0];
        conv_bwd(&s->proj, t, dO, dout, s->o, B, &v->ws, 1);
        float *dq = zeroed(v->t[1], nin), *dk = zeroed(v->t[2], nin), *dv = zeroed(v->t[3], nin);
        spatial_attention_backward(dq, dk, dv, dO, s->qa, s->ka, s->va, s->att, B, C, HW, v->ws.buf);
        float *dn = v->t[0];
        conv_bwd(&s->q, t, dn, dq, s->n1, B, &v->ws, 1);
        conv_bwd(&s->k, t, dn, dk, s->n1, B, &v->ws, 0);
        conv_bwd(&s->v, t, dn, dv, s->n1, B, &v->ws, 0);
        norm_bwd(&s->norm1, t, dinp, dn, s->in, s->m1, s->r1, B, set);
        if (dinp) accumulate(dinp, dout, nin);
        break;
    }
    }
}

// Runs stages [0, n) backward from dout (gradient of the last output); dinp0 gets the gradient
// of the first stage's input added (NULL: not computed).
static void stages_backward(Vae *v, VaeStage *s, int n, float *dinp0, const float *dout, int B) {
    int cur = 0;
    for (int i = n - 1; i >= 0; i--) {
        // The input of stage i, if a NORMSILU stage made it, is recomputed (into t[0], its home).
        if (i > 0 && s[i - 1].kind == VST_NORMSILU)
            normsilu_again(&s[i - 1].norm1, s[i - 1].out, s[i - 1].in, s[i - 1].m1, s[i - 1].r1, B);
        float *dinp = i > 0 ? v->g[cur] : dinp0; // a fresh buffer (overwritten) but for stage 0's
        stage_backward(v, &s[i], dinp, dout, B, i > 0);
        if (v->progress) v->progress(v->progress_ctx);
        dout = dinp;
        cur ^= 1;
    }
}

// ---- public API --------------------------------------------------------------------------------
// A batch beyond the one the buffers were sized for is a bug in the caller.
static void check_batch(const Vae *v, int B, const char *fn) {
    REPAE_ASSERT(B >= 1 && B <= v->max_batch, "%s: batch %d outside [1, %d] (the max batch given to vae_build)", fn, B,
                 v->max_batch);
}

void vae_encode(Vae *v, const float *x, int B) {
    check_batch(v, B, "vae_encode");
    v->encB = B;
    size_t nx = (size_t)B * v->channels * v->size * v->size, hw = (size_t)v->zh * v->zw;
    memcpy(v->x, x, nx * sizeof(float));
    const float *in = v->x;
    for (int i = 0; i < v->nenc; i++) {
        stage_forward(v, &v->enc[i], in, B);
        in = v->enc[i].out;
    }
    const float *mom = in; // (B, 2z, h, w): [mean | logvar]
    for (int b = 0; b < B; b++) {
        size_t per = (size_t)v->zc * hw;
        memcpy(v->mean + b * per, mom + 2 * b * per, per * sizeof(float));
        const float *lv = mom + (2 * b + 1) * per;
        float *o = v->logvar + b * per;
        for (size_t j = 0; j < per; j++) o[j] = fminf(fmaxf(lv[j], LOGVAR_MIN), LOGVAR_MAX);
    }
    size_t lat = (size_t)B * v->zc * hw;
    memset(v->dmean, 0, lat * sizeof(float));
    memset(v->dlogvar, 0, lat * sizeof(float));
    memset(v->dz, 0, lat * sizeof(float));
}

void vae_sample(Vae *v, const float *eps, int B) {
    size_t n = (size_t)B * v->zc * v->zh * v->zw;
    if (!eps) { memcpy(v->z, v->mean, n * sizeof(float)); return; }
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) v->z[i] = v->mean[i] + expf(0.5f * v->logvar[i]) * eps[i];
}

const float *vae_decode(Vae *v, const float *z, int B) {
    check_batch(v, B, "vae_decode");
    v->decB = B;
    memcpy(v->zin, z, (size_t)B * v->zc * v->zh * v->zw * sizeof(float));
    const float *in = v->zin;
    for (int i = 0; i < v->ndec; i++) {
        stage_forward(v, &v->dec[i], in, B);
        in = v->dec[i].out;
    }
    return in;
}

void vae_decode_backward(Vae *v, float *dz, const float *dxrec) {
    stages_backward(v, v->dec, v->ndec, dz, dxrec, v->decB);
}

void vae_sample_backward(Vae *v, float *dmean, float *dlogvar, const float *dz, const float *eps, int B) {
    size_t n = (size_t)B * v->zc * v->zh * v->zw;
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        if (dmean) dmean[i] += dz[i];
        if (dlogvar && eps) dlogvar[i] += dz[i] * eps[i] * 0.5f * expf(0.5f * v->logvar[i]);
    }
}

void vae_encode_backward(Vae *v, const float *dmean, const float *dlogvar) {
    int B = v->encB;
    size_t per = (size_t)v->zc * v->zh * v->zw;
    const float *mom = v->enc[v->nenc - 1].out;
    for (int b = 0; b < B; b++) {
        float *dm = v->dmom + 2 * b * per, *dl = dm + per;
        const float *lv = mom + (2 * b + 1) * per;
        for (size_t j = 0; j < per; j++) {
            dm[j] = dmean ? dmean[b * per + j] : 0.0f;
            // torch.clamp passes the gradient where min <= x <= max
            dl[j] = dlogvar && lv[j] >= LOGVAR_MIN && lv[j] <= LOGVAR_MAX ? dlogvar[b * per + j] : 0.0f;
        }
    }
    stages_backward(v, v->enc, v->nenc, NULL, v->dmom, B);
}
