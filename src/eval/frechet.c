// fd.c: see fd.h.
#include "eval/frechet.h"
#include "base/util.h"
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

// LAPACK from OpenBLAS (Debian ships no lapacke.h for the OpenMP build); gfortran's ABI with
// the hidden string lengths at the end.
extern void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                    double *w, double *work, const int *lwork, int *iwork, const int *liwork,
                    int *info, size_t jobz_len, size_t uplo_len);

int fd_stats(FdStats *s, const float *feat, long n, int D, char *err) {
    memset(s, 0, sizeof *s);
    if (n < 2 || D < 1) return seterr(err, "fd: %ld feature vectors of dimension %d; need at least 2 vectors", n, D);
    s->D = D;
    s->n = n;
    s->mu = xcalloc((size_t)D, sizeof(double));
    s->cov = xcalloc((size_t)D * D, sizeof(double));
    for (long i = 0; i < n; i++)
        for (int d = 0; d < D; d++) s->mu[d] += feat[(size_t)i * D + d];
    for (int d = 0; d < D; d++) s->mu[d] /= (double)n;
    double *x = xmalloc((size_t)n * D * sizeof(double));
#pragma omp parallel for
    for (long i = 0; i < n; i++)
        for (int d = 0; d < D; d++) x[(size_t)i * D + d] = (double)feat[(size_t)i * D + d] - s->mu[d];
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, D, (int)n, 1.0 / (double)(n - 1), x, D, 0.0, s->cov, D);
    for (int i = 0; i < D; i++)
        for (int j = 0; j < i; j++) s->cov[(size_t)i * D + j] = s->cov[(size_t)j * D + i];
    free(x);
    return 0;
}

void fd_stats_free(FdStats *s) {
    free(s->mu);
    free(s->cov);
    memset(s, 0, sizeof *s);
}

// Eigenvalues (ascending) into w and, with vectors, eigenvectors into the columns of a
// (column-major, i.e. rows of the row-major array). a (n,n) symmetric, overwritten.
static int syevd(double *a, double *w, int n, int vectors, char *err) {
    const char *jobz = vectors ? "V" : "N";
    int lwork = -1, liwork = -1, info = 0, iw;
    double wq;
    dsyevd_(jobz, "U", &n, a, &n, w, &wq, &lwork, &iw, &liwork, &info, 1, 1);
    if (info != 0) return seterr(err, "fd: LAPACK dsyevd workspace query failed (info %d)", info);
    lwork = (int)wq + 1;
    liwork = iw > 1 ? iw : 1;
    double *work = xmalloc((size_t)lwork * sizeof(double));
    int *iwork = xmalloc((size_t)liwork * sizeof(int));
    dsyevd_(jobz, "U", &n, a, &n, w, work, &lwork, iwork, &liwork, &info, 1, 1);
    free(work);
    free(iwork);
    if (info != 0)
        return seterr(err, "fd: LAPACK dsyevd failed (info %d): the covariance has non-finite entries "
                           "or the eigensolver did not converge", info);
    return 0;
}

int fd_distance(const FdStats *a, const FdStats *b, double *fd, char *err) {
    if (a->D != b->D) return seterr(err, "fd: feature dimensions differ (%d vs %d)", a->D, b->D);
    int D = a->D;
    size_t DD = (size_t)D * D;
    for (size_t i = 0; i < DD; i++)
        if (!isfinite(a->cov[i]) || !isfinite(b->cov[i]))
            return seterr(err, "fd: a covariance has non-finite entries (NaN or inf features)");
    double *v = xmalloc(DD * sizeof(double)), *w = xmalloc((size_t)D * sizeof(double));
    double *h = xmalloc(DD * sizeof(double)), *t = xmalloc(DD * sizeof(double));
    double *m = xmalloc(DD * sizeof(double));
    int rc = -1;
    // S1 = V diag(w) V^T (dsyevd's column-major eigenvectors are the rows of the row-major v);
    // S1^(1/2) = V diag(sqrt(max(w,0))) V^T.
    memcpy(v, a->cov, DD * sizeof(double));
    if (syevd(v, w, D, 1, err)) goto done;
    for (int k = 0; k < D; k++) {
        double sq = sqrt(w[k] > 0 ? w[k] : 0);
        for (int j = 0; j < D; j++) t[(size_t)k * D + j] = v[(size_t)k * D + j] * sq;
    }
    // h = sum_k sq_k v_k v_k^T with v_k the k-th row of v: h = v^T t.
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, D, D, 1.0, v, D, t, D, 0.0, h, D);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, D, D, D, 1.0, h, D, b->cov, D, 0.0, t, D);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, D, D, D, 1.0, t, D, h, D, 0.0, m, D);
    for (int i = 0; i < D; i++) // symmetrise away the rounding of the products
        for (int j = 0; j < i; j++) {
            double s = 0.5 * (m[(size_t)i * D + j] + m[(size_t)j * D + i]);
            m[(size_t)i * D + j] = m[(size_t)j * D + i] = s;
        }
    if (syevd(m, w, D, 0, err)) goto done;
    double trsq = 0, tra = 0, trb = 0, dm = 0;
    for (int k = 0; k < D; k++) trsq += sqrt(w[k] > 0 ? w[k] : 0);
    for (int k = 0; k < D; k++) {
        tra += a->cov[(size_t)k * D + k];
        trb += b->cov[(size_t)k * D + k];
        double d = a->mu[k] - b->mu[k];
        dm += d * d;
    }
    *fd = dm + tra + trb - 2.0 * trsq;
    rc = 0;
done:
    free(v); free(w); free(h); free(t); free(m);
    return rc;
}

int fd_features(const float *a, long na, const float *b, long nb, int D, double *fd, char *err) {
    FdStats sa, sb;
    if (fd_stats(&sa, a, na, D, err)) return -1;
    if (fd_stats(&sb, b, nb, D, err)) { fd_stats_free(&sa); return -1; }
    int rc = fd_distance(&sa, &sb, fd, err);
    fd_stats_free(&sa);
    fd_stats_free(&sb);
    return rc;
}

double inception_score(const float *probs, long n, int K, int splits, double *std) {
    if (splits < 1) splits = 1;
    if (splits > n) splits = (int)(n > 0 ? n : 1);
    double *marg = xmalloc((size_t)K * sizeof(double));
    double sum = 0, sum2 = 0;
    // Rows of zero probability contribute 0 (p log p -> 0); clamping keeps log finite.
    const double tiny = 1e-12;
    for (int s = 0; s < splits; s++) {
        long lo = n * s / splits, hi = n * (s + 1) / splits;
        for (int k = 0; k < K; k++) marg[k] = 0;
        for (long i = lo; i < hi; i++)
            for (int k = 0; k < K; k++) marg[k] += probs[(size_t)i * K + k];
        for (int k = 0; k < K; k++) marg[k] /= (double)(hi - lo);
        double kl = 0;
        for (long i = lo; i < hi; i++)
            for (int k = 0; k < K; k++) {
                double p = probs[(size_t)i * K + k];
                if (p > 0) kl += p * (log(p > tiny ? p : tiny) - log(marg[k] > tiny ? marg[k] : tiny));
            }
        double is = exp(kl / (double)(hi - lo));
        sum += is;
        sum2 += is * is;
    }
    free(marg);
    double mean = sum / splits;
    if (std) {
        double var = sum2 / splits - mean * mean;
        *std = var > 0 ? sqrt(var) : 0;
    }
    return mean;
}
