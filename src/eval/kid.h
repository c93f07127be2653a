// kid.h: the set-to-set metrics besides FD, on the evaluator's features.
//
// KID (Binkowski et al. 2018, as torch-fidelity and clean-fid define it): the squared maximum
// mean discrepancy of the two feature sets under the cubic polynomial kernel
//   k(x, y) = (x.y / D + 1)^3,
// with the UNBIASED estimator (the diagonals of the two within-set sums left out):
//   KID = sum_{i!=j} k(a_i,a_j) / (m(m-1)) + sum_{i!=j} k(b_i,b_j) / (n(n-1)) - 2 sum_ij k(a_i,b_j) / (mn).
// Unlike FD its expectation does not depend on the sample size, so numbers at small N are
// comparable with numbers at large N; it can be slightly negative when the sets match.
// Computed on the whole sets (no subsets), in double, in row blocks so memory stays O(N).
//
// Precision and recall (Kynkaenniemi et al. 2019, k-NN manifolds, k = 3): each feature vector
// of a set gets the radius of the ball reaching its k-th nearest neighbour in the same set (itself
// excluded). precision = the share of the generated vectors inside the ball of at least one real
// vector; recall = the share of the real vectors inside the ball of at least one generated vector.
// precision says how many samples look real, recall how much of the data the samples cover.
// Read precision only with recall: a collapsed set (uniform noise, or an untrained model's
// samples) can sit inside the wide ball of one outlying real image and score precision up to
// 1.0 while its recall is 0 (tests/test_eval_sanity.c).
#ifndef REPAE_KID_H
#define REPAE_KID_H

#define PR_K_DEFAULT 3

// KID of feature sets a (na, D) and b (nb, D); na, nb >= 2. Returns 0 or -1 with err (ERRLEN).
int kid_features(const float *a, long na, const float *b, long nb, int D, double *kid, char *err);
// Precision and recall of generated features fake (nf, D) against real (nr, D) with k-NN
// radii, k >= 1, nr and nf > k. Either output may be NULL. Returns 0 or -1 with err.
int precision_recall(const float *real, long nr, const float *fake, long nf, int D, int k, double *precision,
                     double *recall, char *err);

#endif
