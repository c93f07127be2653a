// ops_loss.c: the scalar losses (mse, l1, Gaussian KL, negative cosine, latent smoothness).
// Forwards sum in double over a fixed split into NBLK blocks whose partial sums are added in
// block order: the split depends only on the size, never on the thread count, so a loss is
// bit-identical run to run (resumed training reproduces its losses exactly).
#include <math.h>
#include "ops/ops.h"

#define PAR_MIN 16384 // below this many elements loops stay on one thread
#define NBLK 64

// Bounds of block k of NBLK over [0, n).
static inline size_t blk_lo(size_t n, int k) { return n / NBLK * k + (n % NBLK < (size_t)k ? n % NBLK : (size_t)k); }

static double sum_blocks(const double *part) {
    double s = 0;
    for (int k = 0; k < NBLK; k++) s += part[k];
    return s;
}

// ---------------------------------------------------------------------------------------------
float mse_forward(const float *pred, const float *target, size_t n) {
    double part[NBLK];
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int k = 0; k < NBLK; k++) {
        double s = 0;
        for (size_t i = blk_lo(n, k), e = blk_lo(n, k + 1); i < e; i++) {
            double d = (double)pred[i] - target[i];
            s += d * d;
        }
        part[k] = s;
    }
    return n ? (float)(sum_blocks(part) / (double)n) : 0.0f;
}

void mse_backward(float *dpred, const float *pred, const float *target, size_t n, float dloss) {
    if (!dpred || !n) return;
    float k = 2.0f * dloss / (float)n;
    #pragma omp parallel for if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) dpred[i] += k * (pred[i] - target[i]);
}

float l1_forward(const float *pred, const float *target, size_t n) {
    double part[NBLK];
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int k = 0; k < NBLK; k++) {
        double s = 0;
        for (size_t i = blk_lo(n, k), e = blk_lo(n, k + 1); i < e; i++) s += fabs((double)pred[i] - target[i]);
        part[k] = s;
    }
    return n ? (float)(sum_blocks(part) / (double)n) : 0.0f;
}

void l1_backward(float *dpred, const float *pred, const float *target, size_t n, float dloss) {
    if (!dpred || !n) return;
    float k = dloss / (float)n;
    // sign(0) = 0, as torch's abs backward: equal pixels get no push either way.
    #pragma omp parallel for if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float d = pred[i] - target[i];
        dpred[i] += d > 0 ? k : d < 0 ? -k : 0.0f;
    }
}

// ---------------------------------------------------------------------------------------------
// 0.5 * sum(mu^2 + exp(logvar) - logvar - 1) / div: div = n is the mean over elements, div = B
// the official REPA-E/LDM reduction (sum over C,H,W, mean over the batch).
float kl_forward_div(const float *mu, const float *logvar, size_t n, double div) {
    double part[NBLK];
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int k = 0; k < NBLK; k++) {
        double s = 0;
        for (size_t i = blk_lo(n, k), e = blk_lo(n, k + 1); i < e; i++) {
            double m = mu[i], lv = logvar[i];
            s += m * m + exp(lv) - lv - 1.0;
        }
        part[k] = s;
    }
    return n && div > 0 ? (float)(0.5 * sum_blocks(part) / div) : 0.0f;
}

void kl_backward_div(float *dmu, float *dlogvar, const float *mu, const float *logvar, size_t n, double div,
                     float dloss) {
    if (!n || !(div > 0)) return;
    float k = dloss / (float)div;
    #pragma omp parallel for if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        if (dmu) dmu[i] += k * mu[i];
        if (dlogvar) dlogvar[i] += 0.5f * k * (expf(logvar[i]) - 1.0f);
    }
}

float kl_forward(const float *mu, const float *logvar, size_t n) { return kl_forward_div(mu, logvar, n, (double)n); }

void kl_backward(float *dmu, float *dlogvar, const float *mu, const float *logvar, size_t n, float dloss) {
    kl_backward_div(dmu, dlogvar, mu, logvar, n, (double)n, dloss);
}

// ---------------------------------------------------------------------------------------------
#define COS_EPS 1e-8

// Row n's dot product and norms, in double.
static void row_stats(const float *a, const float *b, int D, double *dot, double *na, double *nb) {
    double s = 0, sa = 0, sb = 0;
    for (int j = 0; j < D; j++) {
        s += (double)a[j] * b[j];
        sa += (double)a[j] * a[j];
        sb += (double)b[j] * b[j];
    }
    *dot = s;
    *na = sqrt(sa);
    *nb = sqrt(sb);
}

float neg_cosine_forward(const float *a, const float *b, int N, int D) {
    double part[NBLK];
    #pragma omp parallel for schedule(static) if ((size_t)N * D >= PAR_MIN)
    for (int k = 0; k < NBLK; k++) {
        double s = 0;
        for (size_t r = blk_lo(N, k), e = blk_lo(N, k + 1); r < e; r++) {
            double dot, na, nb;
            row_stats(a + r * D, b + r * D, D, &dot, &na, &nb);
            s += dot / (fmax(na, COS_EPS) * fmax(nb, COS_EPS));
        }
        part[k] = s;
    }
    return N ? (float)(-sum_blocks(part) / N) : 0.0f;
}

void neg_cosine_backward(float *da, float *db, const float *a, const float *b, int N, int D, float dloss) {
    if (!N) return;
    double k = -(double)dloss / N;
    #pragma omp parallel for if ((size_t)N * D >= PAR_MIN)
    for (int r = 0; r < N; r++) {
        const float *ar = a + (size_t)r * D, *br = b + (size_t)r * D;
        double dot, na, nb;
        row_stats(ar, br, D, &dot, &na, &nb);
        double ca = fmax(na, COS_EPS), cb = fmax(nb, COS_EPS), cos = dot / (ca * cb);
        // Below eps the norm is clamped to a constant and passes no gradient (F.normalize).
        double ra = na > COS_EPS ? cos / (na * na) : 0.0, rb = nb > COS_EPS ? cos / (nb * nb) : 0.0;
        for (int j = 0; j < D; j++) {
            if (da) da[(size_t)r * D + j] += (float)(k * (br[j] / (ca * cb) - ra * ar[j]));
            if (db) db[(size_t)r * D + j] += (float)(k * (ar[j] / (ca * cb) - rb * br[j]));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// smooth: blocks run over image rows (B*C*H of them); row r owns its horizontal differences
// and the vertical ones to row r+1 in the same plane.
float smooth_forward(const float *z, int B, int C, int H, int W) {
    size_t rows = (size_t)B * C * H;
    double pv[NBLK], ph[NBLK];
    #pragma omp parallel for schedule(static) if (rows * W >= PAR_MIN)
    for (int k = 0; k < NBLK; k++) {
        double sv = 0, sh = 0;
        for (size_t r = blk_lo(rows, k), e = blk_lo(rows, k + 1); r < e; r++) {
            const float *zr = z + r * W;
            for (int j = 0; j + 1 < W; j++) {
                double d = (double)zr[j + 1] - zr[j];
                sh += d * d;
            }
            if ((int)(r % H) != H - 1)
                for (int j = 0; j < W; j++) {
                    double d = (double)zr[W + j] - zr[j];
                    sv += d * d;
                }
        }
        pv[k] = sv;
        ph[k] = sh;
    }
    double nv = (double)B * C * (H - 1) * W, nh = (double)B * C * H * (W - 1);
    double loss = 0;
    if (nv > 0) loss += sum_blocks(pv) / nv;
    if (nh > 0) loss += sum_blocks(ph) / nh;
    return (float)loss;
}

void smooth_backward(float *dz, const float *z, int B, int C, int H, int W, float dloss) {
    if (!dz) return;
    size_t rows = (size_t)B * C * H;
    double nv = (double)B * C * (H - 1) * W, nh = (double)B * C * H * (W - 1);
    float kv = nv > 0 ? (float)(2.0 * dloss / nv) : 0.0f;
    float kh = nh > 0 ? (float)(2.0 * dloss / nh) : 0.0f;
    // Gather form: each element collects the terms it appears in, so rows write disjointly.
    #pragma omp parallel for if (rows * W >= PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        int i = (int)(r % H);
        const float *zr = z + r * W;
        float *g = dz + r * W;
        for (int j = 0; j < W; j++) {
            float s = 0;
            if (i > 0) s += kv * (zr[j] - zr[j - W]);
            if (i < H - 1) s -= kv * (zr[j + W] - zr[j]);
            if (j > 0) s += kh * (zr[j] - zr[j - 1]);
            if (j < W - 1) s -= kh * (zr[j + 1] - zr[j]);
            g[j] += s;
        }
    }
}
