// kid.c: see kid.h. Both metrics need all pairwise products of two sets; they are taken a block of
// rows at a time with dgemm, so a 10000 x 10000 comparison needs a few MB, not 800.
#include "eval/kid.h"
#include "base/util.h"
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ROW_BLOCK 256

static double *to_double(const float *x, long n, int D) {
    double *d = xmalloc((size_t)n * D * sizeof(double));
    for (size_t i = 0; i < (size_t)n * D; i++) d[i] = x[i];
    return d;
}

static int all_finite(const double *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

// Sum of k(x_i, y_j) over all i, j, leaving out i == j when same (x and y the same set).
static double kernel_sum(const double *x, long nx, const double *y, long ny, int D, int same) {
    double total = 0;
    double *g = xmalloc((size_t)ROW_BLOCK * ny * sizeof(double));
    for (long i0 = 0; i0 < nx; i0 += ROW_BLOCK) {
        int nb = (int)(nx - i0 < ROW_BLOCK ? nx - i0 : ROW_BLOCK);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, (int)ny, D, 1.0 / D, x + (size_t)i0 * D, D, y, D,
                    0.0, g, (int)ny);
        double s = 0;
#pragma omp parallel for reduction(+ : s)
        for (int r = 0; r < nb; r++)
            for (long j = 0; j < ny; j++) {
                if (same && j == i0 + r) continue;
                double v = g[(size_t)r * ny + j] + 1.0;
                s += v * v * v;
            }
        total += s;
    }
    free(g);
    return total;
}

int kid_features(const float *a, long na, const float *b, long nb, int D, double *kid, char *err) {
    if (na < 2 || nb < 2 || D < 1)
        return seterr(err, "kid: sets of %ld and %ld vectors of dimension %d; need at least 2 vectors each", na, nb, D);
    double *x = to_double(a, na, D), *y = to_double(b, nb, D);
    int rc = -1;
    if (!all_finite(x, (size_t)na * D) || !all_finite(y, (size_t)nb * D)) {
        seterr(err, "kid: the features have non-finite entries (NaN or inf images?)");
        goto done;
    }
    double kxx = kernel_sum(x, na, x, na, D, 1) / ((double)na * (na - 1));
    double kyy = kernel_sum(y, nb, y, nb, D, 1) / ((double)nb * (nb - 1));
    double kxy = kernel_sum(x, na, y, nb, D, 0) / ((double)na * nb);
    *kid = kxx + kyy - 2.0 * kxy;
    rc = 0;
done:
    free(x);
    free(y);
    return rc;
}

// Squared norms of the n rows of x.
static double *sq_norms(const double *x, long n, int D) {
    double *s = xmalloc((size_t)n * sizeof(double));
    for (long i = 0; i < n; i++) {
        double v = 0;
        for (int d = 0; d < D; d++) v += x[(size_t)i * D + d] * x[(size_t)i * D + d];
        s[i] = v;
    }
    return s;
}

// Squared distances of rows i0..i0+nb of x to every row of y, into g (nb, ny), clamped at 0
// (the expansion |x|^2 + |y|^2 - 2 x.y can round below zero).
static void sq_dists(const double *x, const double *xn, long i0, int nb, const double *y, const double *yn, long ny,
                     int D, double *g) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, (int)ny, D, -2.0, x + (size_t)i0 * D, D, y, D, 0.0, g,
                (int)ny);
#pragma omp parallel for
    for (int r = 0; r < nb; r++)
        for (long j = 0; j < ny; j++) {
            double v = g[(size_t)r * ny + j] + xn[i0 + r] + yn[j];
            g[(size_t)r * ny + j] = v > 0 ? v : 0;
        }
}

// The k-th smallest of n values (k >= 1), by a partial insertion sort into best[k].
static double kth_smallest(const double *v, long n, int k, double *best) {
    int have = 0;
    for (long j = 0; j < n; j++) {
        double x = v[j];
        if (have == k && x >= best[k - 1]) continue;
        int p = have < k ? have++ : k - 1;
        while (p > 0 && best[p - 1] > x) { best[p] = best[p - 1]; p--; }
        best[p] = x;
    }
    return best[k - 1];
}

// Squared k-NN radius of every row of x within x, itself excluded: the (k+1)-th smallest
// squared distance of the row, its own zero being the first. (A duplicate of a row counts as
// a neighbour at distance 0, as in the reference implementation.)
static double *knn_radii(const double *x, const double *xn, long n, int D, int k) {
    double *rad = xmalloc((size_t)n * sizeof(double));
    double *g = xmalloc((size_t)ROW_BLOCK * n * sizeof(double));
    for (long i0 = 0; i0 < n; i0 += ROW_BLOCK) {
        int nb = (int)(n - i0 < ROW_BLOCK ? n - i0 : ROW_BLOCK);
        sq_dists(x, xn, i0, nb, x, xn, n, D, g);
#pragma omp parallel for
        for (int r = 0; r < nb; r++) {
            double best[64];
            g[(size_t)r * n + i0 + r] = 0; // exactly zero to itself, whatever the rounding
            rad[i0 + r] = kth_smallest(g + (size_t)r * n, n, k + 1, best);
        }
    }
    free(g);
    return rad;
}

// The share of rows of q inside at least one ball (centre row of c, squared radius rad).
static double coverage(const double *q, const double *qn, long nq, const double *c, const double *cn,
                       const double *rad, long nc, int D) {
    long hit = 0;
    double *g = xmalloc((size_t)ROW_BLOCK * nc * sizeof(double));
    for (long i0 = 0; i0 < nq; i0 += ROW_BLOCK) {
        int nb = (int)(nq - i0 < ROW_BLOCK ? nq - i0 : ROW_BLOCK);
        sq_dists(q, qn, i0, nb, c, cn, nc, D, g);
        long h = 0;
#pragma omp parallel for reduction(+ : h)
        for (int r = 0; r < nb; r++) {
            const double *row = g + (size_t)r * nc;
            long j = 0;
            while (j < nc && row[j] > rad[j]) j++;
            h += j < nc;
        }
        hit += h;
    }
    free(g);
    return (double)hit / nq;
}

int precision_recall(const float *real, long nr, const float *fake, long nf, int D, int k, double *precision,
                     double *recall, char *err) {
    if (k < 1 || k > 60 || D < 1) return seterr(err, "precision/recall: k = %d must be in [1, 60]", k);
    if (nr <= k || nf <= k)
        return seterr(err, "precision/recall: %ld real and %ld generated vectors; need more than k = %d of each", nr,
                      nf, k);
    double *x = to_double(real, nr, D), *y = to_double(fake, nf, D);
    int rc = -1;
    if (!all_finite(x, (size_t)nr * D) || !all_finite(y, (size_t)nf * D)) {
        seterr(err, "precision/recall: the features have non-finite entries (NaN or inf images?)");
        free(x);
        free(y);
        return -1;
    }
    double *xn = sq_norms(x, nr, D), *yn = sq_norms(y, nf, D);
    if (precision) {
        double *rr = knn_radii(x, xn, nr, D, k);
        *precision = coverage(y, yn, nf, x, xn, rr, nr, D);
        free(rr);
    }
    if (recall) {
        double *rf = knn_radii(y, yn, nf, D, k);
        *recall = coverage(x, xn, nr, y, yn, rf, nf, D);
        free(rf);
    }
    rc = 0;
    free(x); free(y); free(xn); free(yn);
    return rc;
}
