// ssl_probe.c: the linear probe and the lookup baselines of a target encoder (ssl_probe.h).
#include "model/ssl_probe.h"
#include "model/repa.h"
#include "base/util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

int ssl_dataset_targets(Encoder *e, int grid, const Dataset *ds, int i0, int n, float *out, int *labels, char *err) {
    int stage, f;
    if (repa_pick_stage(e, grid, grid, &stage, &f, err)) return -1;
    const EncoderLayout *L = &e->L;
    int Bm = e->max_batch, F = L->ch[stage], T = grid * grid, s = encoder_stage_size(e, stage);
    size_t per = (size_t)L->channels * L->size * L->size;
    float *x = xmalloc((size_t)Bm * per * sizeof(float));
    int *y = xmalloc((size_t)Bm * sizeof(int));
    for (int k = 0; k < n; k += Bm) {
        int nb = n - k < Bm ? n - k : Bm;
#pragma omp parallel for
        for (int b = 0; b < nb; b++) dataset_get(ds, i0 + k + b, x + (size_t)b * per, &y[b]);
        encoder_forward(e, x, nb);
        repa_pool_grid(encoder_stage_out(e, stage), nb, F, s, f, grid, T, out + (size_t)k * T * F);
        if (labels) memcpy(labels + k, y, (size_t)nb * sizeof(int));
    }
    free(x);
    free(y);
    return 0;
}

static double neg_cos(const double *a, const float *b, int F) {
    double ab = 0, aa = 0, bb = 0;
    for (int c = 0; c < F; c++) {
        ab += a[c] * b[c];
        aa += a[c] * a[c];
        bb += (double)b[c] * b[c];
    }
    double na = sqrt(aa), nb = sqrt(bb);
    return -ab / ((na > 1e-8 ? na : 1e-8) * (nb > 1e-8 ? nb : 1e-8));
}

// Mean -cos of the scored targets against the fitted (group, position) means; group = the
// label, or 0 for all (position only). A group never seen in the fit falls back to position.
static void lookup(const float *fit, const int *yf, int nf, const float *sc, const int *ys, int ns, int T, int F,
                   int K, double *cls, double *pos) {
    double *mc = xcalloc((size_t)(K + 1) * T * F, sizeof(double));
    long *cnt = xcalloc((size_t)K + 1, sizeof(long));
    for (int i = 0; i < nf; i++) {
        int g[2] = {yf[i] + 1, 0}; // slot 0: every image
        for (int k = 0; k < 2; k++) {
            cnt[g[k]]++;
            for (int t = 0; t < T * F; t++) mc[(size_t)g[k] * T * F + t] += fit[((size_t)i * T) * F + t];
        }
    }
    double sc_c = 0, sc_p = 0;
    for (int i = 0; i < ns; i++) {
        int g = cnt[ys[i] + 1] ? ys[i] + 1 : 0;
        for (int t = 0; t < T; t++) {
            const float *b = sc + ((size_t)i * T + t) * F;
            sc_c += neg_cos(mc + ((size_t)g * T + t) * F, b, F);
            sc_p += neg_cos(mc + (size_t)t * F, b, F); // scale-free: the sum is as good as the mean
        }
    }
    *cls = sc_c / ((double)ns * T);
    *pos = sc_p / ((double)ns * T);
    free(mc);
    free(cnt);
}

// Softmax regression on standardised features, full-batch Adam: a few hundred cheap steps on
// a few thousand 64-d rows are enough to read off the linear separability.
static double probe(const float *tr, const int *ytr, int n, const float *te, const int *yte, int m, int F, int K) {
    double *mu = xcalloc((size_t)F, sizeof(double)), *sd = xcalloc((size_t)F, sizeof(double));
    for (int i = 0; i < n; i++)
        for (int c = 0; c < F; c++) mu[c] += tr[(size_t)i * F + c] / n;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < F; c++) {
            double d = tr[(size_t)i * F + c] - mu[c];
            sd[c] += d * d / n;
        }
    for (int c = 0; c < F; c++) sd[c] = 1.0 / sqrt(sd[c] + 1e-8);
    int P = (F + 1) * K; // weights (K,F) and biases (K)
    double *w = xcalloc((size_t)P, sizeof(double)), *g = xcalloc((size_t)P, sizeof(double));
    double *am = xcalloc((size_t)P, sizeof(double)), *av = xcalloc((size_t)P, sizeof(double));
    double *z = xmalloc((size_t)K * sizeof(double)), *xf = xmalloc((size_t)F * sizeof(double));
    for (int step = 1; step <= 300; step++) {
        memset(g, 0, (size_t)P * sizeof(double));
        for (int i = 0; i < n; i++) {
            for (int c = 0; c < F; c++) xf[c] = (tr[(size_t)i * F + c] - mu[c]) * sd[c];
            double mx = -1e300, s = 0;
            for (int k = 0; k < K; k++) {
                double a = w[(size_t)F * K + k];
                for (int c = 0; c < F; c++) a += w[(size_t)k * F + c] * xf[c];
                z[k] = a;
                if (a > mx) mx = a;
            }
            for (int k = 0; k < K; k++) s += (z[k] = exp(z[k] - mx));
            for (int k = 0; k < K; k++) {
                double d = (z[k] / s - (k == ytr[i])) / n;
                for (int c = 0; c < F; c++) g[(size_t)k * F + c] += d * xf[c];
                g[(size_t)F * K + k] += d;
            }
        }
        for (int p = 0; p < P; p++) {
            g[p] += (p < F * K ? 1e-4 * w[p] : 0); // a little L2 keeps separable data finite
            am[p] = 0.9 * am[p] + 0.1 * g[p];
            av[p] = 0.999 * av[p] + 0.001 * g[p] * g[p];
            double mh = am[p] / (1 - pow(0.9, step)), vh = av[p] / (1 - pow(0.999, step));
            w[p] -= 0.05 * mh / (sqrt(vh) + 1e-8);
        }
    }
    long hit = 0;
    for (int i = 0; i < m; i++) {
        int arg = 0;
        double best = -1e300;
        for (int k = 0; k < K; k++) {
            double a = w[(size_t)F * K + k];
            for (int c = 0; c < F; c++) a += w[(size_t)k * F + c] * (te[(size_t)i * F + c] - mu[c]) * sd[c];
            if (a > best) best = a, arg = k;
        }
        hit += arg == yte[i];
    }
    free(mu); free(sd); free(w); free(g); free(am); free(av); free(z); free(xf);
    return m ? (double)hit / m : 0;
}

// The token mean of each image: (n,T,F) -> (n,F).
static float *pooled(const float *t, int n, int T, int F) {
    float *p = xcalloc((size_t)n * F, sizeof(float));
    for (int i = 0; i < n; i++)
        for (int k = 0; k < T; k++)
            for (int c = 0; c < F; c++) p[(size_t)i * F + c] += t[((size_t)i * T + k) * F + c] / T;
    return p;
}

int ssl_probe_run(Encoder *e, int grid, const Dataset *train, const Dataset *test, int nfit, int nscore,
                  int nprobe_test, SslProbe *out, char *err) {
    memset(out, 0, sizeof *out);
    int stage, f, N = dataset_len(train);
    if (repa_pick_stage(e, grid, grid, &stage, &f, err)) return -1;
    if (nfit + nscore > N) nfit = nscore = N / 2;
    if (nfit < 1) return seterr(err, "probe: the training split has %d images, too few to fit and score", N);
    if (nprobe_test > dataset_len(test)) nprobe_test = dataset_len(test);
    int T = grid * grid, F = e->L.ch[stage], K = dataset_num_classes(train);
    float *a = xmalloc((size_t)nfit * T * F * sizeof(float)), *b = xmalloc((size_t)nscore * T * F * sizeof(float));
    float *c = xmalloc((size_t)(nprobe_test ? nprobe_test : 1) * T * F * sizeof(float));
    int *ya = xmalloc((size_t)nfit * sizeof(int)), *yb = xmalloc((size_t)nscore * sizeof(int));
    int *yc = xmalloc((size_t)(nprobe_test ? nprobe_test : 1) * sizeof(int));
    int rc = ssl_dataset_targets(e, grid, train, 0, nfit, a, ya, err) ||
             ssl_dataset_targets(e, grid, train, nfit, nscore, b, yb, err) ||
             ssl_dataset_targets(e, grid, test, 0, nprobe_test, c, yc, err);
    if (!rc) {
        lookup(a, ya, nfit, b, yb, nscore, T, F, K, &out->lookup_align, &out->position_align);
        float *pa = pooled(a, nfit, T, F), *pc = pooled(c, nprobe_test, T, F);
        out->probe_acc = probe(pa, ya, nfit, pc, yc, nprobe_test, F, K);
        free(pa);
        free(pc);
        out->nfit = nfit;
        out->nscore = nscore;
        out->nprobe_test = nprobe_test;
    }
    free(a); free(b); free(c); free(ya); free(yb); free(yc);
    return rc ? -1 : 0;
}
