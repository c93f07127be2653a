// fd.h: the generation metrics that compare sets of feature vectors: the Fréchet distance of two
// Gaussians fitted to them (FID's formula, on our evaluator's penultimate features) and the
// Inception-style score of class probabilities.
//
//   FD = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr( (S1^(1/2) S2 S1^(1/2))^(1/2) )
//
// The last trace equals tr(sqrtm(S1 S2)) (the two matrices are similar) but is computed from two
// symmetric eigendecompositions (LAPACK dsyevd from OpenBLAS) instead of a general matrix square
// root: S1^(1/2) S2 S1^(1/2) is symmetric positive semi-definite, so its square root is real and
// the eigenvalues rounding pushes below zero are clamped, where scipy's sqrtm can return complex
// noise on near-singular covariances. Means and covariances (unbiased, N-1) are in double.
#ifndef REPAE_FD_H
#define REPAE_FD_H
#include <stddef.h>

typedef struct {
    int D;
    long n;
    double *mu;   // (D)
    double *cov;  // (D,D), symmetric
} FdStats;

// Mean and covariance of n feature rows (n, D). n >= 2. Returns 0 or -1 with err (ERRLEN).
int fd_stats(FdStats *s, const float *feat, long n, int D, char *err);
void fd_stats_free(FdStats *s);
// Fréchet distance of two fitted Gaussians of the same dimension.
int fd_distance(const FdStats *a, const FdStats *b, double *fd, char *err);
// Both steps on two raw feature sets (na, D) and (nb, D).
int fd_features(const float *a, long na, const float *b, long nb, int D, double *fd, char *err);

// Inception score of n probability rows (n, K): exp(mean_i KL(p_i || mean_j p_j)), computed in
// `splits` equal chunks (the usual 10; 1 for small n) and averaged; *std (may be NULL) gets the
// standard deviation over the chunks. Uniform rows score 1, confident rows spread evenly over K
// classes score K.
double inception_score(const float *probs, long n, int K, int splits, double *std);

#endif
