// bench_amx: what AMX tiles would give repae's bf16 products, before any of repae uses them.
//
// bench_isa shows tdpbf16ps at ~15x the zmm FMA on a core of a machine where vdpbf16ps runs at
// half of it. This measures a plain, unblocked AMX GEMM at the model's shapes, *including* the
// conversion of both fp32 operands to bf16 (A as rows of K, B as k-pair words: the layout of
// gemm_bf16.c's B panels), against the own kernels (sgemm fp32, sgemm_prec bf16) on the same
// operands, and checks that it agrees with the vdpbf16ps kernel (the same bf16 inputs and fp32
// sums, in another order). C is 32 x 32 blocks of 2 x 2 tiles of 16 x 16; M and N multiples of
// 32 only, no alpha/beta/bias, no transposes: a prototype of the kernel, not an op.
//   build/bench/bench_amx [THREADS]     (default 2; prints why and exits 0 without AMX)
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ops/gemm.h"
#include "base/cpu.h"
#include "base/util.h"
#include "amx_probe.h"

#define AMX_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16,amx-tile,amx-bf16")))


// Every thread configures its own tiles: 0-3 C (16 x 16 fp32), 4-5 A (16 rows x 32 bf16),
// 6-7 B (16 k pairs x 16 columns).
AMX_TARGET static void tiles_configure(void) {
    AmxTileConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) cfg.colsb[i] = 64, cfg.rows[i] = 16;
    _tile_loadconfig(&cfg);
}

// C (M x N) = A (M x K) @ B (K x N), all row-major fp32; Ab (M x Kp bf16) and Bp (Kp/2 x N words)
// are scratch, Kp = K rounded up to 32 (the padding is zero).
AMX_TARGET static void amx_gemm(int M, int N, int K, const float *A, const float *B, float *C, uint16_t *Ab,
                                uint32_t *Bp) {
    int Kp = (K + 31) / 32 * 32;
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                         23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (int i = 0; i < M; i++) {
            for (int k = 0; k < Kp; k += 16) {
                int n = K - k < 16 ? (K - k > 0 ? K - k : 0) : 16;
                __m512 v = _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), A + (size_t)i * K + k);
                _mm256_storeu_si256((__m256i *)(Ab + (size_t)i * Kp + k), (__m256i)_mm512_cvtneps_pbh(v));
            }
        }
#pragma omp for schedule(static)
        for (int p = 0; p < Kp / 2; p++) {
            const float *r0 = B + (size_t)(2 * p) * N, *r1 = B + (size_t)(2 * p + 1) * N;
            int h0 = 2 * p < K, h1 = 2 * p + 1 < K;
            for (int j = 0; j < N; j += 16) {
                __m512 lo = h0 ? _mm512_loadu_ps(r0 + j) : _mm512_setzero_ps();
                __m512 hi = h1 ? _mm512_loadu_ps(r1 + j) : _mm512_setzero_ps();
                __m512i w = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
                _mm512_storeu_si512(Bp + (size_t)p * N + j, w);
            }
        }
        tiles_configure();
#pragma omp for schedule(static) collapse(2)
        for (int bi = 0; bi < M / 32; bi++)
            for (int bj = 0; bj < N / 32; bj++) {
                int i0 = bi * 32, j0 = bj * 32;
                _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
                for (int kk = 0; kk < Kp; kk += 32) {
                    _tile_loadd(4, Ab + (size_t)i0 * Kp + kk, Kp * 2);
                    _tile_loadd(5, Ab + (size_t)(i0 + 16) * Kp + kk, Kp * 2);
                    _tile_loadd(6, Bp + (size_t)(kk / 2) * N + j0, N * 4);
                    _tile_loadd(7, Bp + (size_t)(kk / 2) * N + j0 + 16, N * 4);
                    _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(1, 4, 7);
                    _tile_dpbf16ps(2, 5, 6); _tile_dpbf16ps(3, 5, 7);
                }
                _tile_stored(0, C + (size_t)i0 * N + j0, N * 4);
                _tile_stored(1, C + (size_t)i0 * N + j0 + 16, N * 4);
                _tile_stored(2, C + (size_t)(i0 + 16) * N + j0, N * 4);
                _tile_stored(3, C + (size_t)(i0 + 16) * N + j0 + 16, N * 4);
            }
        _tile_release();
    }
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    const char *why = cpu_has("avx512bf16") ? amx_unavailable() : "no AVX512-BF16 for the conversions";
    printf("bench_amx: %d threads, best of 7, GFLOP/s including the bf16 conversion of both operands\n", threads);
    if (why) {
        printf("no AMX here: %s\n", why);
        return 0;
    }
    omp_set_num_threads(threads);
    static const struct { int M, N, K; const char *what; } shapes[] = {
        {1024, 1024, 1024, "square"},
        {1024, 576, 192, "SiT qkv, 1024 tokens"},
        {1024, 768, 192, "SiT fc1"},
        {1024, 192, 768, "SiT fc2"},
        {128, 4096, 1152, "conv 128@8x8 as a GEMM, 64 img"},
        {32, 65536, 288, "conv 32@32x32 as a GEMM, 64 img"},
    };
    int fails = 0;
    printf("%-50s %9s %9s %9s %9s  %s\n", "shape", "AMX", "own fp32", "own bf16", "AMX/fp32", "max |AMX - own bf16| / max |C|");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s].M, N = shapes[s].N, K = shapes[s].K, Kp = (K + 31) / 32 * 32;
        float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
        float *C = malloc(sizeof(float) * M * N), *R = malloc(sizeof(float) * M * N);
        uint16_t *Ab = aligned_alloc(64, sizeof(uint16_t) * M * Kp);
        uint32_t *Bp = aligned_alloc(64, sizeof(uint32_t) * (Kp / 2) * N);
        srand(1);
        for (long i = 0; i < (long)M * K; i++) A[i] = (float)rand() / RAND_MAX - 0.5f;
        for (long i = 0; i < (long)K * N; i++) B[i] = (float)rand() / RAND_MAX - 0.5f;
        double ta = 1e9, tf = 1e9, tb = 1e9;
        for (int r = 0; r < 7; r++) { // alternated
            double t0 = now_seconds();
            amx_gemm(M, N, K, A, B, C, Ab, Bp);
            double t1 = now_seconds();
            sgemm(0, 0, M, N, K, 1, A, K, B, N, 0, R, N);
            double t2 = now_seconds();
            sgemm_prec(0, 0, M, N, K, 1, A, K, B, N, 0, R, N, 1);
            double t3 = now_seconds();
            ta = t1 - t0 < ta ? t1 - t0 : ta;
            tf = t2 - t1 < tf ? t2 - t1 : tf;
            tb = t3 - t2 < tb ? t3 - t2 : tb;
        }
        double err = 0, mx = 0;
        for (long i = 0; i < (long)M * N; i++) {
            err = fmax(err, fabs(C[i] - R[i]));
            mx = fmax(mx, fabs(R[i]));
        }
        double fl = 2.0 * M * N * K * 1e-9;
        char name[64];
        snprintf(name, sizeof name, "M%d N%d K%d (%s)", M, N, K, shapes[s].what);
        printf("%-50s %9.1f %9.1f %9.1f %8.2fx  %.1e\n", name, fl / ta, fl / tf, fl / tb, tf / ta, err / mx);
        if (!(err / mx < 1e-5)) fails++; // fp32 sums of the same bf16 products, in another order
        free(A), free(B), free(C), free(R), free(Ab), free(Bp);
    }
    if (fails) printf("FAIL: %d shapes disagree with the vdpbf16ps kernel beyond fp32 rounding\n", fails);
    return fails ? 1 : 0;
}
