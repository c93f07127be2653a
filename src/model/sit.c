// sit.c: see sit.h.
#include "model/sit.h"
#include "base/util.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LN_EPS 1e-6f
#define MAX_PERIOD 10000.0f

void sit_pos_embed(float *out, int D, int gh, int gw) {
    int q = D / 4;
    for (int i = 0; i < gh; i++)
        for (int j = 0; j < gw; j++) {
            float *e = out + ((size_t)i * gw + j) * D;
            for (int k = 0; k < q; k++) {
                double w = 1.0 / pow(10000.0, (double)k / q);
                e[k] = (float)sin(j * w);
                e[q + k] = (float)cos(j * w);
                e[2 * q + k] = (float)sin(i * w);
                e[3 * q + k] = (float)cos(i * w);
            }
        }
}

int sit_build(Sit *s, const SitConfig *cfg, int zc, int H, int W, int max_batch, int mode,
              char *err) {
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    int D = cfg->hidden, p = cfg->patch, NH = cfg->heads, B = max_batch;
    int M = (int)(D * cfg->mlp_ratio);
    if (D < 4 || D % 4 != 0) return seterr(err, "sit.hidden must be a positive multiple of 4 (2-D sin-cos positions), got %d", D);
    if (NH < 1 || D % NH != 0) return seterr(err, "sit.heads %d must divide sit.hidden %d", NH, D);
    if (p < 1 || H % p != 0 || W % p != 0)
        return seterr(err, "sit.patch %d must divide the latent size %dx%d", p, H, W);
    if (cfg->depth < 1) return seterr(err, "sit.depth must be >= 1, got %d", cfg->depth);
    if (M < 1) return seterr(err, "sit.mlp_ratio %g gives no MLP width", (double)cfg->mlp_ratio);
    if (cfg->num_classes < 0) return seterr(err, "sit.num_classes must be >= 0, got %d", cfg->num_classes);
    if (B < 1 || zc < 1) return seterr(err, "sit: batch %d and latent channels %d must be >= 1", B, zc);
    s->zc = zc; s->H = H; s->W = W; s->p = p; s->gh = H / p; s->gw = W / p;
    s->T = s->gh * s->gw; s->D = D; s->NH = NH; s->M = M; s->max_batch = B;
    int T = s->T, P = zc * p * p, depth = cfg->depth;
    s->blocks = xcalloc(depth, sizeof(SitBlock));

    // Parameters in DiT state_dict order (the module's own pos_embed comes first).
    ParamTable *t = &s->params;
    params_init(t);
    params_add(t, &s->pos_embed, 0, "pos_embed", 3, 1, T, D);
    params_add(t, &s->xe_w, 1, "x_embedder.proj.weight", 4, D, zc, p, p);
    params_add(t, &s->xe_b, 1, "x_embedder.proj.bias", 1, D);
    params_add(t, &s->t0_w, 1, "t_embedder.mlp.0.weight", 2, D, SIT_FREQ_DIM);
    params_add(t, &s->t0_b, 1, "t_embedder.mlp.0.bias", 1, D);
    params_add(t, &s->t2_w, 1, "t_embedder.mlp.2.weight", 2, D, D);
    params_add(t, &s->t2_b, 1, "t_embedder.mlp.2.bias", 1, D);
    if (cfg->num_classes > 0)
        params_add(t, &s->y_table, 1, "y_embedder.embedding_table.weight", 2, cfg->num_classes + 1, D);
    char n[PARAM_NAMELEN];
#define ADD(field, sub, ...) do { snprintf(n, sizeof n, "blocks.%d.%s", i, sub); \
        params_add(t, &b->field, 1, n, __VA_ARGS__); } while (0)
    for (int i = 0; i < depth; i++) {
        SitBlock *b = &s->blocks[i];
        ADD(qkv_w, "attn.qkv.weight", 2, 3 * D, D);
        ADD(qkv_b, "attn.qkv.bias", 1, 3 * D);
        ADD(proj_w, "attn.proj.weight", 2, D, D);
        ADD(proj_b, "attn.proj.bias", 1, D);
        ADD(fc1_w, "mlp.fc1.weight", 2, M, D);
        ADD(fc1_b, "mlp.fc1.bias", 1, M);
        ADD(fc2_w, "mlp.fc2.weight", 2, D, M);
        ADD(fc2_b, "mlp.fc2.bias", 1, D);
        ADD(ada_w, "adaLN_modulation.1.weight", 2, 6 * D, D);
        ADD(ada_b, "adaLN_modulation.1.bias", 1, 6 * D);
    }
#undef ADD
    params_add(t, &s->fl_w, 1, "final_layer.linear.weight", 2, P, D);
    params_add(t, &s->fl_b, 1, "final_layer.linear.bias", 1, P);
    params_add(t, &s->fa_w, 1, "final_layer.adaLN_modulation.1.weight", 2, 2 * D, D);
    params_add(t, &s->fa_b, 1, "final_layer.adaLN_modulation.1.bias", 1, 2 * D);
    params_alloc(t, mode);
    if (!(mode & ALLOC_COUNT)) sit_pos_embed(s->pos_embed, D, s->gh, s->gw);

    // Activations and gradient scratch: one allocation.
    BufTable *a = &s->acts;
    size_t BT = (size_t)B * T, BTD = BT * D;
    buf_init(a);
    float *labels_mem = NULL;
    buf_add(a, &labels_mem, B); // the labels are ints stored in floats' room
    buf_add(a, &s->tin, B);
    buf_add(a, &s->patches, BT * P);
    buf_add(a, &s->x0, BTD);
    buf_add(a, &s->tfreq, (size_t)B * SIT_FREQ_DIM);
    buf_add(a, &s->th, (size_t)B * D);
    buf_add(a, &s->ths, (size_t)B * D);
    buf_add(a, &s->temb, (size_t)B * D);
    buf_add(a, &s->c, (size_t)B * D);
    buf_add(a, &s->sc, (size_t)B * D);
    for (int i = 0; i < depth; i++) {
        SitBlock *b = &s->blocks[i];
        buf_add(a, &b->ada, (size_t)B * 6 * D);
        buf_add(a, &b->ln1, BTD);
        buf_add(a, &b->m1, BT);
        buf_add(a, &b->r1, BT);
        buf_add(a, &b->qkv, 3 * BTD);
        buf_add(a, &b->att, (size_t)B * NH * T * T);
        buf_add(a, &b->ao, BTD);
        buf_add(a, &b->proj, BTD);
        buf_add(a, &b->xmid, BTD);
        buf_add(a, &b->ln2, BTD);
        buf_add(a, &b->m2, BT);
        buf_add(a, &b->r2, BT);
        buf_add(a, &b->fc1, BT * M);
        buf_add(a, &b->fc2, BTD);
        buf_add(a, &b->out, BTD);
    }
    buf_add(a, &s->fada, (size_t)B * 2 * D);
    buf_add(a, &s->lnf, BTD);
    buf_add(a, &s->mf, BT);
    buf_add(a, &s->rf, BT);
    buf_add(a, &s->modf, BTD);
    buf_add(a, &s->lin, BT * P);
    buf_add(a, &s->out, BT * P);
    size_t wide = (size_t)(M > 3 * D ? M : 3 * D);
    buf_add(a, &s->dX[0], BTD);
    buf_add(a, &s->dX[1], BTD);
    buf_add(a, &s->s1, BTD);
    buf_add(a, &s->s2, BT * (M > D ? M : D));
    buf_add(a, &s->s3, BT * wide);
    buf_add(a, &s->dada, (size_t)B * 6 * D);
    buf_add(a, &s->dsc, (size_t)B * D);
    buf_add(a, &s->dc, (size_t)B * D);
    buf_add(a, &s->dt1, (size_t)B * D);
    buf_add(a, &s->dt2, (size_t)B * D);
    buf_add(a, &s->dlin, BT * P);
    buf_add(a, &s->dpatch, BT * P);
    buf_add(a, &s->scratch, attention_scratch_floats(B, T, D, NH));
    buf_alloc(a, mode & ALLOC_COUNT);
    s->labels = (int *)labels_mem;
    return 0;
}

void sit_free(Sit *s) {
    params_free(&s->params);
    buf_free(&s->acts);
    free(s->blocks);
    memset(s, 0, sizeof *s);
}

static void xavier(Rng *r, float *w, int fan_out, int fan_in) {
    float a = sqrtf(6.0f / (float)(fan_in + fan_out));
    rng_fill_uniform(r, w, (size_t)fan_out * fan_in, -a, a);
}

void sit_init(Sit *s, Rng *r) {
    int D = s->D, M = s->M, P = s->zc * s->p * s->p;
    // Biases, adaLN layers and final_layer.linear stay zero.
    memset(s->params.data, 0, s->params.ntrain * sizeof(float));
    sit_pos_embed(s->pos_embed, D, s->gh, s->gw);
    xavier(r, s->xe_w, D, P);
    rng_fill_normal(r, s->t0_w, (size_t)D * SIT_FREQ_DIM, 0.02f);
    rng_fill_normal(r, s->t2_w, (size_t)D * D, 0.02f);
    if (s->y_table) rng_fill_normal(r, s->y_table, (size_t)(s->cfg.num_classes + 1) * D, 0.02f);
    for (int i = 0; i < s->cfg.depth; i++) {
        SitBlock *b = &s->blocks[i];
        xavier(r, b->qkv_w, 3 * D, D);
        xavier(r, b->proj_w, D, D);
        xavier(r, b->fc1_w, M, D);
        xavier(r, b->fc2_w, D, M);
    }
}

size_t sit_num_params(const Sit *s) {
    size_t n = 0;
    for (int i = 0; i < s->params.n; i++)
        if (s->params.p[i].trainable) n += s->params.p[i].numel;
    return n;
}

// ---- forward ----------------------------------------------------------------------------------
// Blocks 1..nblocks, then (when nblocks is the depth) the final layer.
static const float *forward(Sit *s, const float *x, const float *t, const int *labels, int B, int nblocks) {
    int D = s->D, T = s->T, M = s->M, NH = s->NH, P = s->zc * s->p * s->p, nc = s->cfg.num_classes;
    size_t BT = (size_t)B * T;
    // A bug in the caller: the buffers hold max_batch samples.
    REPAE_ASSERT(B >= 1 && B <= s->max_batch, "sit_forward: batch %d outside [1, %d] (the max batch given to sit_build)",
                 B, s->max_batch);
    s->B = B;
    memcpy(s->tin, t, B * sizeof(float));
    for (int b = 0; b < B; b++) {
        int y = labels ? labels[b] : nc;
        // A label outside the table is a bug in the caller, not a data error.
        REPAE_ASSERT(nc <= 0 || (y >= 0 && y <= nc), "sit_forward: label %d of sample %d is outside [0, %d]", y, b, nc);
        s->labels[b] = y;
    }
    // x_embedder: the stride-p conv as patchify + linear, then fixed positions
    patchify_forward(s->patches, x, B, s->zc, s->H, s->W, s->p);
    linear_forward_prec(s->x0, s->patches, s->xe_w, s->xe_b, (int)BT, P, D, s->bf16);
    for (int b = 0; b < B; b++) accumulate(s->x0 + (size_t)b * T * D, s->pos_embed, (size_t)T * D);
    // conditioning c = t_embedder(t) + y_embedder(y)
    timestep_embedding_forward(s->tfreq, s->tin, B, SIT_FREQ_DIM, MAX_PERIOD);
    linear_forward_prec(s->th, s->tfreq, s->t0_w, s->t0_b, B, SIT_FREQ_DIM, D, s->bf16);
    silu_forward(s->ths, s->th, (size_t)B * D);
    linear_forward_prec(s->temb, s->ths, s->t2_w, s->t2_b, B, D, D, s->bf16);
    if (nc > 0) {
        embedding_forward(s->c, s->y_table, s->labels, B, D);
        accumulate(s->c, s->temb, (size_t)B * D);
    } else {
        memcpy(s->c, s->temb, (size_t)B * D * sizeof(float));
    }
    silu_forward(s->sc, s->c, (size_t)B * D);

    const float *h = s->x0;
    for (int i = 0; i < nblocks; i++) {
        SitBlock *b = &s->blocks[i];
        b->in = h;
        linear_forward_prec(b->ada, s->sc, b->ada_w, b->ada_b, B, D, 6 * D, s->bf16);
        const float *ad = b->ada;
        layernorm_forward(b->ln1, b->m1, b->r1, h, NULL, NULL, (int)BT, D, LN_EPS);
        // The linears' inputs mod1, mod2 and gelu live in the backward scratch s1 / s3 only until
        // their linear has read them: block_backward recomputes them (the same ops, the same bits).
        modulate_forward(s->s1, b->ln1, ad + 0 * D, ad + 1 * D, B, T, D, 6 * D);
        linear_forward_prec(b->qkv, s->s1, b->qkv_w, b->qkv_b, (int)BT, D, 3 * D, s->bf16);
        attention_forward(b->ao, b->att, b->qkv, B, T, D, NH);
        linear_forward_prec(b->proj, b->ao, b->proj_w, b->proj_b, (int)BT, D, D, s->bf16);
        gate_residual_forward(b->xmid, h, b->proj, ad + 2 * D, B, T, D, 6 * D);
        layernorm_forward(b->ln2, b->m2, b->r2, b->xmid, NULL, NULL, (int)BT, D, LN_EPS);
        modulate_forward(s->s1, b->ln2, ad + 3 * D, ad + 4 * D, B, T, D, 6 * D);
        linear_forward_prec(b->fc1, s->s1, b->fc1_w, b->fc1_b, (int)BT, D, M, s->bf16);
        gelu_forward(s->s3, b->fc1, BT * M);
        linear_forward_prec(b->fc2, s->s3, b->fc2_w, b->fc2_b, (int)BT, M, D, s->bf16);
        gate_residual_forward(b->out, b->xmid, b->fc2, ad + 5 * D, B, T, D, 6 * D);
        h = b->out;
    }
    if (nblocks < s->cfg.depth) return NULL;
    linear_forward_prec(s->fada, s->sc, s->fa_w, s->fa_b, B, D, 2 * D, s->bf16);
    layernorm_forward(s->lnf, s->mf, s->rf, h, NULL, NULL, (int)BT, D, LN_EPS);
    modulate_forward(s->modf, s->lnf, s->fada, s->fada + D, B, T, D, 2 * D);
    linear_forward_prec(s->lin, s->modf, s->fl_w, s->fl_b, (int)BT, D, P, s->bf16);
    unpatchify_forward(s->out, s->lin, B, s->zc, s->H, s->W, s->p);
    return s->out;
}

const float *sit_forward(Sit *s, const float *x, const float *t, const int *labels, int B) {
    return forward(s, x, t, labels, B, s->cfg.depth);
}

const float *sit_forward_tokens(Sit *s, const float *x, const float *t, const int *labels, int B, int k) {
    REPAE_ASSERT(k >= 1 && k <= s->cfg.depth, "sit_forward_tokens: block %d outside [1, %d]", k, s->cfg.depth);
    forward(s, x, t, labels, B, k);
    return s->blocks[k - 1].out;
}

const float *sit_tokens(const Sit *s, int k) {
    if (k < 1 || k > s->cfg.depth) return NULL;
    return s->blocks[k - 1].out;
}

// ---- backward ---------------------------------------------------------------------------------
static float *G(const Sit *s, const float *w) { return s->grads ? param_grad(&s->params, w) : NULL; }

static float *zeroed(float *p, size_t n) {
    memset(p, 0, n * sizeof(float));
    return p;
}

// dX[0] holds dL/d(block output) on entry and dL/d(block input) on return.
static void block_backward(Sit *s, SitBlock *b) {
    int B = s->B, D = s->D, T = s->T, M = s->M, NH = s->NH;
    size_t BT = (size_t)B * T, BTD = BT * D;
    const float *ad = b->ada;
    float *dO = s->dX[0], *dM = zeroed(s->dX[1], BTD);
    float *dada = s->grads ? zeroed(s->dada, (size_t)B * 6 * D) : NULL;
    float *dshift = NULL, *dscale = NULL, *dgate = NULL;
#define ADA(k) (dada ? dada + (k) * D : NULL)
    // x = xmid + gate_mlp * fc2(gelu(fc1(modulate(norm2(xmid)))))
    dgate = ADA(5);
    float *dF2 = zeroed(s->s1, BTD);
    gate_residual_backward(dM, dF2, dgate, dO, b->fc2, ad + 5 * D, B, T, D, 6 * D);
    float *gl = s->s3; // gelu(fc1) again
    gelu_forward(gl, b->fc1, BT * M);
    float *dG = s->s2;
    linear_backward_prec_set(dG, G(s, b->fc2_w), G(s, b->fc2_b), dF2, gl, b->fc2_w, (int)BT, M, D, s->bf16);
    float *dF1 = zeroed(s->s3, BT * M); // gl is dead
    gelu_backward(dF1, dG, b->fc1, BT * M);
    float *mod2 = s->s2; // dG is dead: modulate(ln2) again
    modulate_forward(mod2, b->ln2, ad + 3 * D, ad + 4 * D, B, T, D, 6 * D);
    float *dMod2 = s->s1;
    linear_backward_prec_set(dMod2, G(s, b->fc1_w), G(s, b->fc1_b), dF1, mod2, b->fc1_w, (int)BT, D, M, s->bf16);
    float *dLn2 = zeroed(s->s2, BTD); // mod2 is dead
    dshift = ADA(3); dscale = ADA(4);
    modulate_backward(dLn2, dshift, dscale, dMod2, b->ln2, ad + 4 * D, B, T, D, 6 * D);
    layernorm_backward(dM, NULL, NULL, dLn2, b->xmid, b->m2, b->r2, NULL, (int)BT, D);
    // xmid = in + gate_msa * proj(attn(qkv(modulate(norm1(in)))))
    float *dI = zeroed(dO, BTD); // dO is fully consumed above
    float *dP = zeroed(s->s1, BTD);
    gate_residual_backward(dI, dP, ADA(2), dM, b->proj, ad + 2 * D, B, T, D, 6 * D);
    float *dAo = s->s2;
    linear_backward_prec_set(dAo, G(s, b->proj_w), G(s, b->proj_b), dP, b->ao, b->proj_w, (int)BT, D, D, s->bf16);
    float *dQkv = zeroed(s->s3, 3 * BTD);
    attention_backward(dQkv, dAo, b->qkv, b->att, B, T, D, NH, s->scratch);
    float *mod1 = s->s2; // dAo is dead: modulate(ln1) again
    modulate_forward(mod1, b->ln1, ad + 0 * D, ad + 1 * D, B, T, D, 6 * D);
    float *dMod1 = s->s1;
    linear_backward_prec_set(dMod1, G(s, b->qkv_w), G(s, b->qkv_b), dQkv, mod1, b->qkv_w, (int)BT, D, 3 * D, s->bf16);
    float *dLn1 = zeroed(s->s2, BTD); // mod1 is dead
    dshift = ADA(0); dscale = ADA(1);
    modulate_backward(dLn1, dshift, dscale, dMod1, b->ln1, ad + 1 * D, B, T, D, 6 * D);
    layernorm_backward(dI, NULL, NULL, dLn1, b->in, b->m1, b->r1, NULL, (int)BT, D);
    if (dada) linear_backward_prec(s->dsc, G(s, b->ada_w), G(s, b->ada_b), dada, s->sc, b->ada_w, B, D, 6 * D, s->bf16);
#undef ADA
}

// grad_ready: the gradients from weight w (NULL: the table's start) up to the previous piece
// are final; *done is where the previous piece began.
static void grads_final(Sit *s, const float *w, size_t *done) {
    size_t from = w ? (size_t)(w - s->params.data) : 0;
    if (!s->grads || !s->grad_ready || from >= *done) return;
    s->grad_ready(s->grad_ready_ctx, s->params.grad + from, *done - from);
    *done = from;
}

void sit_backward(Sit *s, float *dx, const float *dout, const float *dtok, int k, int param_grads) {
    int B = s->B, D = s->D, T = s->T, P = s->zc * s->p * s->p, depth = s->cfg.depth;
    size_t BT = (size_t)B * T, BTD = BT * D;
    s->grads = param_grads && s->params.grad;
    size_t done = s->params.ntrain; // grad_ready: what is reported (none yet)
    if (s->grads) zeroed(s->dsc, (size_t)B * D);
    int top = depth; // blocks [0, top) are walked
    if (dout) {
        float *dlin = zeroed(s->dlin, BT * P);
        unpatchify_backward(dlin, dout, B, s->zc, s->H, s->W, s->p);
        float *dModf = zeroed(s->s1, BTD);
        linear_backward_prec(dModf, G(s, s->fl_w), G(s, s->fl_b), dlin, s->modf, s->fl_w, (int)BT, D, P, s->bf16);
        float *dfada = s->grads ? zeroed(s->dada, (size_t)B * 2 * D) : NULL;
        float *dLnf = zeroed(s->s2, BTD);
        modulate_backward(dLnf, dfada, dfada ? dfada + D : NULL, dModf, s->lnf, s->fada + D, B, T, D, 2 * D);
        layernorm_backward(zeroed(s->dX[0], BTD), NULL, NULL, dLnf, s->blocks[depth - 1].out, s->mf, s->rf,
                           NULL, (int)BT, D);
        if (dfada) linear_backward_prec(s->dsc, G(s, s->fa_w), G(s, s->fa_b), dfada, s->sc, s->fa_w, B, D, 2 * D, s->bf16);
    } else {
        if (!dtok || k < 1 || k > depth) return; // nothing flows back
        zeroed(s->dX[0], BTD);
        top = k;
    }
    grads_final(s, s->fl_w, &done);
    for (int i = depth - 1; i >= top; i--) grads_final(s, s->blocks[i].qkv_w, &done);
    for (int i = top - 1; i >= 0; i--) {
        if (dtok && i == k - 1) accumulate(s->dX[0], dtok, BTD);
        block_backward(s, &s->blocks[i]);
        grads_final(s, s->blocks[i].qkv_w, &done);
    }
    // x0 = linear(patchify(x)) + pos_embed; pos_embed is fixed
    if (dx) {
        float *dpatch = zeroed(s->dpatch, BT * P);
        linear_backward_prec(dpatch, G(s, s->xe_w), G(s, s->xe_b), s->dX[0], s->patches, s->xe_w, (int)BT, P, D, s->bf16);
        patchify_backward(dx, dpatch, B, s->zc, s->H, s->W, s->p);
    } else if (s->grads) {
        linear_backward_prec(NULL, G(s, s->xe_w), G(s, s->xe_b), s->dX[0], s->patches, s->xe_w, (int)BT, P, D, s->bf16);
    }
    if (!s->grads) return;
    // c = t_embedder(t) + y_embedder(y); sc = silu(c). t takes no gradient.
    float *dc = zeroed(s->dc, (size_t)B * D);
    silu_backward(dc, s->dsc, s->c, (size_t)B * D);
    if (s->y_table) embedding_backward(G(s, s->y_table), dc, s->labels, B, D);
    float *dths = zeroed(s->dt1, (size_t)B * D);
    linear_backward_prec(dths, G(s, s->t2_w), G(s, s->t2_b), dc, s->ths, s->t2_w, B, D, D, s->bf16);
    float *dth = zeroed(s->dt2, (size_t)B * D);
    silu_backward(dth, dths, s->th, (size_t)B * D);
    linear_backward_prec(NULL, G(s, s->t0_w), G(s, s->t0_b), dth, s->tfreq, s->t0_w, B, SIT_FREQ_DIM, D, s->bf16);
    grads_final(s, NULL, &done);
}
