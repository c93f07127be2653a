// test_gemm.c: sgemm (own AVX-512 kernel and the OpenBLAS path) against a double-precision
// reference product, for every transpose, edge tiles, several K slices, alpha/beta, padded
// leading dimensions, and thread-count independence.
#include "test.h"
#include "ops/gemm.h"
#include "base/rng.h"
#include <omp.h>

static void fill(float *x, size_t n, Rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = rng_normal(r);
}

// C = alpha op(A) op(B) + beta C in double, C (M x N, ldc).
static void ref_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += a * b;
            }
            float *c = C + (size_t)i * ldc + j;
            *c = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * *c));
        }
}

// Runs one case on the current backend; returns the worst closeness ratio (<= 1 passes) and
// checks that C's padding columns (between N and ldc) were not touched.
static double one_case(int ta, int tb, int M, int N, int K, float alpha, float beta, int pad, char *why) {
    Rng r;
    rng_seed(&r, (uint64_t)(M * 7919 + N * 104729 + K * 13 + ta * 2 + tb));
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *A = malloc(na * sizeof(float)), *B = malloc(nb * sizeof(float));
    float *C = malloc(nc * sizeof(float)), *W = malloc(nc * sizeof(float));
    fill(A, na, &r); fill(B, nb, &r); fill(C, nc, &r);
    if (beta == 0.0f) // BLAS: beta = 0 must not read C, so NaN there must not leak
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = NAN;
    memcpy(W, C, nc * sizeof(float));
    ref_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, W, ldc);
    sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    // Error bound grows with sqrt(K) for random signs; 1e-5 relative plus an absolute floor
    // scaled by the typical size of a term sum.
    double worst = test_close_ratio(C, W, nc, 1e-5, 2e-6 * (K > 0 ? K : 1), NULL);
    for (int i = 0; i < M && pad; i++)
        for (int j = N; j < ldc; j++)
            if (memcmp(&C[(size_t)i * ldc + j], &W[(size_t)i * ldc + j], sizeof(float))) {
                snprintf(why, 200, "padding column %d of row %d was written", j, i);
                worst = INFINITY;
            }
    free(A); free(B); free(C); free(W);
    return worst;
}

static const int shapes[][3] = {
    {14, 32, 8}, {64, 64, 64}, {13, 31, 9}, {15, 33, 257}, {100, 70, 513}, {3, 200, 50},
    {200, 3, 50}, {29, 1000, 17}, {170, 40, 300}, {1, 1, 1}, {8, 16, 8}, {7, 100, 100},
    {256, 576, 64}, {300, 2100, 40},
    // few tiles and a long K: the threads split K (with 2 threads), edges included
    {20, 40, 3000}, {32, 64, 2049}, {5, 9, 1500},
};

static void check_all(const char *backend) {
    char why[200] = "";
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                const int *sh = shapes[s];
                float alpha = (s % 3 == 0) ? 1.0f : 0.7f, beta = (s % 2 == 0) ? 0.0f : (s % 4 == 1 ? 1.0f : -0.5f);
                int pad = (int)(s % 3);
                double r = one_case(ta, tb, sh[0], sh[1], sh[2], alpha, beta, pad, why);
                CHECK(r <= 1.0, "%s: M %d N %d K %d transA %d transB %d alpha %g beta %g pad %d: ratio %g %s",
                      backend, sh[0], sh[1], sh[2], ta, tb, alpha, beta, pad, r, why);
            }
}

TEST(sgemm_own_kernel_matches_reference) {
    sgemm_force(1);
    if (strcmp(sgemm_backend(), "avx512")) { // no AVX-512 here: the OpenBLAS path is the product
        sgemm_force(-1);
        printf("(no AVX-512 on this CPU: own kernel not testable) ");
        return;
    }
    check_all("avx512");
    sgemm_force(-1);
}

TEST(sgemm_openblas_path_matches_reference) {
    sgemm_force(0);
    CHECK(!strcmp(sgemm_backend(), "openblas"), "forcing 0 left backend %s", sgemm_backend());
    check_all("openblas");
    sgemm_force(-1);
}

TEST(sgemm_alpha_zero_and_k_zero_scale_c) {
    float A[1] = {NAN}, B[1] = {NAN}, C[4 * 20];
    for (int own = 0; own < 2; own++) {
        sgemm_force(own);
        for (int i = 0; i < 80; i++) C[i] = 2.0f;
        sgemm(0, 0, 4, 20, 0, 1.0f, A, 1, B, 20, 0.5f, C, 20); // K = 0: C = beta C
        for (int i = 0; i < 80; i++) CHECK(C[i] == 1.0f, "K=0: C[%d] = %g, want 1", i, C[i]);
    }
    sgemm_force(-1);
}

// Results must not depend on the thread count (bit-exact resume relies on it only for a fixed
// count, but the split must not change the summation order at all).
TEST(sgemm_same_bits_for_1_and_2_threads) {
    sgemm_force(1);
    int M = 150, N = 700, K = 600;
    Rng r;
    rng_seed(&r, 5);
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
    float *C1 = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N);
    fill(A, (size_t)M * K, &r); fill(B, (size_t)K * N, &r);
    int save = omp_get_max_threads();
    omp_set_num_threads(1);
    sgemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C1, N);
    omp_set_num_threads(2);
    sgemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C2, N);
    omp_set_num_threads(save);
    int same = !memcmp(C1, C2, sizeof(float) * M * N);
    free(A); free(B); free(C1); free(C2);
    sgemm_force(-1);
    CHECK(same, "1-thread and 2-thread products differ");
}

// sgemm_prec_bias adds the bias as the kernel stores; it must give the bits of filling C with
// the bias and multiplying with beta = 1 (what linear_forward did), on both paths, in fp32 and
// bf16, at 1 and 2 threads (the K-split shapes give thread 0 the bias), with alpha != 1 too.
TEST(sgemm_bias_same_bits_as_beta_one_onto_the_bias) {
    for (int own = 0; own < 2; own++) {
        sgemm_force(own);
        int save = omp_get_max_threads();
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int t = 0; t < 4; t++)
                for (int nt = 1; nt <= 2; nt++) {
                    int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], tb = t & 1, bf16 = t >> 1;
                    float alpha = s % 2 ? 0.7f : 1.0f;
                    Rng r;
                    rng_seed(&r, 900 + s * 8 + t * 2 + nt);
                    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
                    float *bias = malloc(sizeof(float) * N), *C = malloc(sizeof(float) * M * N);
                    float *W = malloc(sizeof(float) * M * N);
                    fill(A, (size_t)M * K, &r); fill(B, (size_t)K * N, &r); fill(bias, (size_t)N, &r);
                    for (int i = 0; i < M; i++) memcpy(W + (size_t)i * N, bias, sizeof(float) * N);
                    for (int i = 0; i < M * N; i++) C[i] = NAN; // not read
                    omp_set_num_threads(nt);
                    int ldb = tb ? K : N;
                    sgemm_prec(0, tb, M, N, K, alpha, A, K, B, ldb, 1.0f, W, N, bf16);
                    sgemm_prec_bias(0, tb, M, N, K, alpha, A, K, B, ldb, bias, C, N, bf16);
                    omp_set_num_threads(save);
                    int same = !memcmp(C, W, sizeof(float) * M * N);
                    free(A); free(B); free(bias); free(C); free(W);
                    CHECK(same, "%s: M %d N %d K %d transB %d bf16 %d alpha %g, %d thread(s): the bias path differs",
                          own ? "own" : "openblas", M, N, K, tb, bf16, alpha, nt);
                }
        sgemm_force(-1);
    }
}

// B as windows of a plain row-major matrix: column tile j of row k at B + k * N + j.
static const float *plain_base(const void *ctx, int j) { return (const float *)ctx + j; }

// gemm_windows with a row bias (a conv's, added as the first K slice is stored): the bits of C
// filled with the bias and beta 1, over several K slices, edges, fp32 and bf16, both K orders.
TEST(gemm_windows_row_bias_same_bits_as_beta_one_onto_the_bias) {
    if (!gemm_own()) { printf("  (no own kernel here)\n"); return; }
    static const int sh[][3] = {{32, 64, 600}, {17, 96, 300}, {50, 32, 40}};
    for (size_t s = 0; s < sizeof sh / sizeof *sh; s++)
        for (int t = 0; t < 4; t++) {
            int M = sh[s][0], N = sh[s][1], K = sh[s][2], bf16 = t & 1, hold = !(t >> 1);
            Rng r;
            rng_seed(&r, 700 + s * 4 + t);
            float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
            float *bias = malloc(sizeof(float) * M), *C = malloc(sizeof(float) * M * N), *W = malloc(sizeof(float) * M * N);
            ptrdiff_t *off = malloc(sizeof(ptrdiff_t) * K);
            fill(A, (size_t)M * K, &r); fill(B, (size_t)K * N, &r); fill(bias, (size_t)M, &r);
            for (int k = 0; k < K; k++) off[k] = (ptrdiff_t)k * N;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) { W[(size_t)i * N + j] = bias[i]; C[(size_t)i * N + j] = NAN; }
            GemmMat am = {A, K, 0};
            GemmOperand a = {gemm_pack_a, &am, gemm_pack_a16(&am)};
            GemmWindows b = {plain_base, B, off, 16, NULL};
            gemm_windows_hold_enable(hold);
            gemm_windows_prec(M, N, K, 0.7f, a, b, 1.0f, (GemmC){W, N, 0, 0, NULL, NULL}, bf16);
            gemm_windows_prec(M, N, K, 0.7f, a, b, 0.0f, (GemmC){C, N, 0, 0, NULL, bias}, bf16);
            gemm_windows_hold_enable(1);
            int same = !memcmp(C, W, sizeof(float) * M * N);
            free(A); free(B); free(bias); free(C); free(W); free(off);
            CHECK(same, "M %d N %d K %d bf16 %d, A held %d: the row bias differs from C filled with it", M, N, K, bf16,
                  hold);
        }
}

int main(void) {
    RUN(sgemm_own_kernel_matches_reference);
    RUN(sgemm_openblas_path_matches_reference);
    RUN(sgemm_alpha_zero_and_k_zero_scale_c);
    RUN(sgemm_same_bits_for_1_and_2_threads);
    RUN(sgemm_bias_same_bits_as_beta_one_onto_the_bias);
    RUN(gemm_windows_row_bias_same_bits_as_beta_one_onto_the_bias);
    return test_summary();
}
