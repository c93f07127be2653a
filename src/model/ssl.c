// ssl.c: VICReg and the self-supervised training of the REPA target encoder (ssl.h).
#include "model/ssl.h"
#include "model/repa.h"
#include "base/util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

VicregWeights vicreg_default(void) { return (VicregWeights){.inv = 25.0f, .var = 25.0f, .cov = 1.0f, .eps = 1e-4f}; }

// The var and cov terms of one branch z (N,D); dz += scale * their gradient (weights applied).
static void branch_terms(const float *z, int N, int D, const VicregWeights *w, float scale, float *dz, double *var,
                         double *cov) {
    double *m = xcalloc((size_t)D, sizeof(double)), *C = xcalloc((size_t)D * D, sizeof(double));
    float *zc = xmalloc((size_t)N * D * sizeof(float));
    for (int n = 0; n < N; n++)
        for (int d = 0; d < D; d++) m[d] += z[(size_t)n * D + d];
    for (int d = 0; d < D; d++) m[d] /= N;
    for (int n = 0; n < N; n++)
        for (int d = 0; d < D; d++) zc[(size_t)n * D + d] = (float)(z[(size_t)n * D + d] - m[d]);
    double den = N > 1 ? N - 1 : 1;
#pragma omp parallel for
    for (int i = 0; i < D; i++)
        for (int j = i; j < D; j++) {
            double s = 0;
            for (int n = 0; n < N; n++) s += (double)zc[(size_t)n * D + i] * zc[(size_t)n * D + j];
            C[(size_t)i * D + j] = C[(size_t)j * D + i] = s / den;
        }
    double v = 0, c = 0;
    float *coef = xmalloc((size_t)D * sizeof(float)); // d var / d zc_nd = coef[d] * zc_nd
    for (int d = 0; d < D; d++) {
        double sd = sqrt(C[(size_t)d * D + d] + w->eps);
        v += sd < 1 ? 1 - sd : 0;
        // var = (mean_d relu(1 - sd) over both branches) / 2
        coef[d] = sd < 1 ? (float)(-0.5 / D / (den * sd)) : 0.0f;
        for (int e = 0; e < D; e++)
            if (e != d) c += C[(size_t)d * D + e] * C[(size_t)d * D + e];
    }
    *var = v / D / 2;
    *cov = c / D;
    if (dz) {
        // d cov / d zc = 4 zc Coff / (D (N-1)); both terms have zero column means, so the
        // centring adds nothing to the gradient.
        float kc = (float)(4.0 / (D * den)) * w->cov * scale;
#pragma omp parallel for
        for (int n = 0; n < N; n++) {
            const float *r = zc + (size_t)n * D;
            for (int d = 0; d < D; d++) {
                double s = 0;
                for (int e = 0; e < D; e++)
                    if (e != d) s += r[e] * C[(size_t)e * D + d];
                dz[(size_t)n * D + d] += kc * (float)s + w->var * scale * coef[d] * r[d];
            }
        }
    }
    free(coef);
    free(zc);
    free(C);
    free(m);
}

float vicreg_loss(const float *z1, const float *z2, int N, int D, const VicregWeights *w, float scale, float *dz1,
                  float *dz2, float parts[3]) {
    size_t n = (size_t)N * D;
    double inv = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)z1[i] - z2[i];
        inv += d * d;
    }
    inv /= (double)n;
    if (dz1)
        for (size_t i = 0; i < n; i++) {
            float g = 2.0f * (z1[i] - z2[i]) / (float)n * w->inv * scale;
            dz1[i] = g;
            dz2[i] = -g;
        }
    double v1, c1, v2, c2;
    branch_terms(z1, N, D, w, scale, dz1, &v1, &c1);
    branch_terms(z2, N, D, w, scale, dz2, &v2, &c2);
    double var = v1 + v2, cov = c1 + c2;
    if (parts) {
        parts[0] = (float)inv;
        parts[1] = (float)var;
        parts[2] = (float)cov;
    }
    return (float)(w->inv * inv + w->var * var + w->cov * cov);
}

// ---- the objective on a batch of two views ----------------------------------------------------

float ssl_step_loss(Encoder *e, Projector *ex, const float *xa, const float *xb, const SslView *va, const SslView *vb, int B,
                    int grid, float w_dense, const VicregWeights *w, int backward, float parts[4], char *err) {
    int T = grid * grid, M = 0;
    int *pa = xmalloc((size_t)B * T * sizeof(int)), *pb = xmalloc((size_t)B * T * sizeof(int));
    for (int b = 0; b < B; b++)
        for (int n = 0; n < T; n++) {
            int m = ssl_view_match(&va[b], &vb[b], e->L.size, grid, n);
            if (m < 0) continue;
            pa[M] = b * T + n;
            pb[M] = b * T + m;
            M++;
        }
    float l = ssl_pairs_loss(e, ex, xa, xb, B, grid, pa, pb, M, w_dense, w, backward, parts, err);
    free(pa);
    free(pb);
    return l;
}

float ssl_pairs_loss(Encoder *e, Projector *ex, const float *xa, const float *xb, int B, int grid, const int *pa_in,
                     const int *pb_in, int M, float w_dense, const VicregWeights *w, int backward, float parts[4],
                     char *err) {
    int stage, f;
    if (2 * B > e->max_batch) {
        seterr(err, "ssl: %d images need %d views but the encoder was built for %d", B, 2 * B, e->max_batch);
        return NAN;
    }
    if (repa_pick_stage(e, grid, grid, &stage, &f, err)) return NAN;
    const EncoderLayout *L = &e->L;
    size_t per = (size_t)L->channels * L->size * L->size;
    int F = L->ch[stage], T = grid * grid, s = encoder_stage_size(e, stage);
    REPAE_ASSERT(M <= B * T, "ssl_pairs_loss: %d pairs for %d tokens", M, B * T);
    float *x = xmalloc(2 * B * per * sizeof(float));
    memcpy(x, xa, B * per * sizeof(float));
    memcpy(x + B * per, xb, B * per * sizeof(float));
    encoder_forward(e, x, 2 * B);
    free(x);
    // tok (2B,T,F): views a then b
    float *tok = xmalloc((size_t)2 * B * T * F * sizeof(float));
    repa_pool_grid(encoder_stage_out(e, stage), 2 * B, F, s, f, grid, T, tok);
    // The VICReg rows: the tokens, or their expansion (width Z) when there is an expander.
    int Z = ex ? ex->F : F;
    const float *zt = ex ? projector_forward(ex, tok, 2 * B * T) : tok;
    // global rows: the token mean of each view
    float *g = xcalloc((size_t)2 * B * Z, sizeof(float));
    for (int b = 0; b < 2 * B; b++)
        for (int n = 0; n < T; n++)
            for (int c = 0; c < Z; c++) g[(size_t)b * Z + c] += zt[((size_t)b * T + n) * Z + c] / T;
    // dense rows: token a of view a against token b of view b (views b follow the B views a)
    int *pa = xmalloc((size_t)(M ? M : 1) * sizeof(int)), *pb = xmalloc((size_t)(M ? M : 1) * sizeof(int));
    for (int k = 0; k < M; k++) {
        pa[k] = pa_in[k];
        pb[k] = B * T + pb_in[k];
    }
    float *za = xmalloc((size_t)(M ? M : 1) * Z * sizeof(float)), *zb = xmalloc((size_t)(M ? M : 1) * Z * sizeof(float));
    for (int k = 0; k < M; k++) {
        memcpy(za + (size_t)k * Z, zt + (size_t)pa[k] * Z, Z * sizeof(float));
        memcpy(zb + (size_t)k * Z, zt + (size_t)pb[k] * Z, Z * sizeof(float));
    }
    int bw = backward && e->params.grad;
    float *dg = bw ? xmalloc((size_t)2 * B * Z * sizeof(float)) : NULL;
    float *dza = bw ? xmalloc((size_t)(M ? M : 1) * Z * sizeof(float)) : NULL;
    float *dzb = bw ? xmalloc((size_t)(M ? M : 1) * Z * sizeof(float)) : NULL;
    float pg[3], pd[3] = {0};
    float lg = vicreg_loss(g, g + (size_t)B * Z, B, Z, w, 1.0f, dg, dg ? dg + (size_t)B * Z : NULL, pg);
    float ld = M > 1 ? vicreg_loss(za, zb, M, Z, w, w_dense, dza, dzb, pd) : 0.0f;
    if (parts) {
        parts[0] = pg[0];
        parts[1] = pg[1];
        parts[2] = pg[2];
        parts[3] = ld;
    }
    if (bw) {
        float *dz = xcalloc((size_t)2 * B * T * Z, sizeof(float));
        for (int b = 0; b < 2 * B; b++)
            for (int n = 0; n < T; n++)
                for (int c = 0; c < Z; c++) dz[((size_t)b * T + n) * Z + c] = dg[(size_t)b * Z + c] / T;
        if (M > 1)
            for (int k = 0; k < M; k++)
                for (int c = 0; c < Z; c++) {
                    dz[(size_t)pa[k] * Z + c] += dza[(size_t)k * Z + c];
                    dz[(size_t)pb[k] * Z + c] += dzb[(size_t)k * Z + c];
                }
        float *dtok = dz;
        if (ex) { // through the expander (its weights get gradients too)
            dtok = xcalloc((size_t)2 * B * T * F, sizeof(float));
            projector_backward(ex, dtok, dz, 1);
        }
        float *dm = xmalloc((size_t)2 * B * F * s * s * sizeof(float));
        repa_pool_grid_backward(dm, 2 * B, F, s, f, grid, T, dtok);
        const float *dstage[ENC_MAXLEVELS] = {0};
        dstage[stage] = dm;
        encoder_backward(e, dstage, NULL, NULL, 1);
        free(dm);
        if (dtok != dz) free(dtok);
        free(dz);
    }
    free(dg); free(dza); free(dzb);
    free(za); free(zb); free(pa); free(pb); free(g); free(tok);
    return lg + w_dense * ld;
}

// ---- training ---------------------------------------------------------------------------------

SslTrainOpts ssl_train_default(int grid) {
    return (SslTrainOpts){.steps = 1500, .batch = 64, .lr = 2e-3f, .w_dense = 1.0f, .grid = grid, .seed = 1, .expander = 128,
                          .log_every = 100, .aug = ssl_augment_default(), .vic = vicreg_default()};
}

float ssl_train(Encoder *e, const Dataset *ds, const SslTrainOpts *o, char *err) {
    const EncoderLayout *L = &e->L;
    int B = o->batch, stage, f;
    if (2 * B > e->max_batch) {
        seterr(err, "ssl: batch %d needs an encoder built for %d views (it has %d)", B, 2 * B, e->max_batch);
        return NAN;
    }
    if (repa_pick_stage(e, o->grid, o->grid, &stage, &f, err)) return NAN;
    size_t n = e->params.ntrain, per = (size_t)L->channels * L->size * L->size;
    float *m = xcalloc(2 * n, sizeof(float)), *v = m + n;
    // The expander (VICReg's projector, discarded after training): REPA's targets are the
    // encoder's tokens before it, as VICReg's representations are taken before its projector.
    Projector ex;
    Projector *exp = NULL;
    float *em = NULL, *ev = NULL;
    if (o->expander > 0) {
        if (projector_build(&ex, L->ch[stage], o->expander, o->expander, 2 * B * o->grid * o->grid, ALLOC_GRAD, err))
            return NAN;
        Rng er;
        rng_seed(&er, o->seed ^ 0xe4a2dULL);
        projector_init(&ex, &er);
        exp = &ex;
        em = xcalloc(2 * ex.params.ntrain, sizeof(float));
        ev = em + ex.params.ntrain;
    }
    float *x = xmalloc(B * per * sizeof(float)), *xa = xmalloc(B * per * sizeof(float)),
          *xb = xmalloc(B * per * sizeof(float));
    SslView *va = xmalloc((size_t)B * sizeof(SslView)), *vb = xmalloc((size_t)B * sizeof(SslView));
    Loader ld;
    loader_init(&ld, ds, o->seed);
    Rng r;
    rng_seed(&r, o->seed ^ 0x5e1f5u);
    double run = 0, rp[4] = {0}, wsum = 0;
    float loss = NAN;
    for (int step = 0; step < o->steps; step++) {
        loader_next(&ld, B, x, NULL);
        for (int b = 0; b < B; b++) {
            ssl_view_draw(&va[b], L->size, &o->aug, &r);
            ssl_view_draw(&vb[b], L->size, &o->aug, &r);
        }
#pragma omp parallel for
        for (int b = 0; b < B; b++) {
            ssl_view_apply(&va[b], x + b * per, L->channels, L->size, xa + b * per);
            ssl_view_apply(&vb[b], x + b * per, L->channels, L->size, xb + b * per);
        }
        params_zero_grad(&e->params);
        if (exp) params_zero_grad(&exp->params);
        float parts[4];
        float l = ssl_step_loss(e, exp, xa, xb, va, vb, B, o->grid, o->w_dense, &o->vic, 1, parts, err);
        if (!isfinite(l)) {
            seterr(err, "ssl: the loss became %g at step %d; lower --lr", l, step + 1);
            loss = NAN;
            break;
        }
        float lr = o->lr * (0.1f + 0.9f * 0.5f * (1.0f + cosf((float)M_PI * step / (float)o->steps)));
        adamw_update(e->params.data, e->params.grad, m, v, n, lr, 0.9f, 0.999f, 1e-8f, 1e-4f, step + 1);
        if (exp)
            adamw_update(exp->params.data, exp->params.grad, em, ev, exp->params.ntrain, lr, 0.9f, 0.999f, 1e-8f,
                         1e-4f, step + 1);
        run = 0.98 * run + 0.02 * l;
        for (int k = 0; k < 4; k++) rp[k] = 0.98 * rp[k] + 0.02 * parts[k];
        wsum = 0.98 * wsum + 0.02;
        loss = (float)(run / wsum);
        if (o->progress && o->log_every > 0 && ((step + 1) % o->log_every == 0 || step + 1 == o->steps)) {
            float p4[4];
            for (int k = 0; k < 4; k++) p4[k] = (float)(rp[k] / wsum);
            o->progress(o->ctx, step + 1, o->steps, loss, p4);
        }
    }
    loader_free(&ld);
    if (exp) projector_free(exp);
    free(em);
    free(m); free(x); free(xa); free(xb); free(va); free(vb);
    return loss;
}
