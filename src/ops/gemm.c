// gemm.c: see gemm.h. A BLIS-style packed sgemm with one AVX-512 register kernel.
//
// C is cut into MC x NC blocks and K into KC slices. For each slice, op(B)'s block is packed
// into NR-column micro-panels (k-major: NR floats per k) and op(A)'s into MR-row micro-panels
// (MR floats per k), zero-padded to whole panels, so the kernel runs one loop for every
// transpose. The kernel keeps a 14 x 32 tile of C in 28 zmm registers; per k it loads two
// vectors of B and broadcasts 14 values of A (folded into the FMAs as memory operands):
// 28 FMAs per 16 loads, which keeps both FMA pipes busy. Sizes: a B micro-panel (KC x NR,
// 32 KB) stays in L1 while the MC / MR A micro-panels stream from L2 (MC x KC, 168 KB).
//
// Threads split C into contiguous column (or, when M is the larger side, row) ranges, each a
// whole number of tiles, and work independently with their own packing buffers; every
// element of C is then summed over K in the same order whatever the thread count. Products
// with few tiles and a long K (weight gradients) split K instead; their result depends on
// the thread count (as OpenBLAS's may), never on the run.
#include "ops/gemm.h"
#include "ops/gemm_bf16.h"
#include "ops/par.h"
#include "ops/simd_transpose.h"
#include "base/util.h"
#include <cblas.h>
#include <immintrin.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MR GEMM_MR
#define NR GEMM_NR
#define KC 256
#define MC (MR * 12)
#define NC GEMM_NC

// Shapes below these go to OpenBLAS: a 14 x 32 tile would be mostly padding.
#define OWN_MIN_M 8
#define OWN_MIN_N 16
#define OWN_MIN_K 8
// Products with fewer flops than this run on one thread: waking a sleeping OpenMP thread
// costs more than it saves.
#define PAR_MIN_FLOPS (2.0 * 96 * 96 * 96)
// Weights of fewer values than this are packed into pairs by one thread (a region costs ~20 us).
#define PACK_PAR_MIN 32768
// gemm_pack16_enable: a test switch, like sgemm_force (set before work starts).
static int pack16_on = 1;
static int hold_on = 1; // gemm_windows_hold_enable

static pthread_once_t backend_once = PTHREAD_ONCE_INIT;
static int backend_default; // 1: own kernel; set once per process from the CPU and REPAE_GEMM
static int backend_forced = -1;

// F for the kernel, VL and DQ for conv_implicit.c's 256-bit masked loads and inserts.
static int cpu_has_avx512(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq");
}

static void backend_init(void) {
    __builtin_cpu_init();
    int have = cpu_has_avx512();
    const char *e = getenv("REPAE_GEMM");
    backend_default = have && !(e && !strcmp(e, "openblas"));
}

static int use_own(void) {
    pthread_once(&backend_once, backend_init);
    return backend_forced >= 0 ? backend_forced : backend_default;
}

const char *sgemm_backend(void) { return use_own() ? "avx512" : "openblas"; }

void sgemm_force(int own) {
    pthread_once(&backend_once, backend_init);
    __builtin_cpu_init();
    backend_forced = own < 0 ? -1 : (own && cpu_has_avx512());
}

// ---------------------------------------------------------------------------------------------
// Packing. A micro-panel: MR rows of op(A) for kc values of k, stored k-major.
__attribute__((target("avx512f")))
void gemm_pack_a(const void *ctx, float *restrict dst, int i0, int mc, int k0, int kc) {
    const GemmMat *m = ctx;
    const float *A = m->x;
    int lda = m->ld, transA = m->trans;
    for (int ir = 0; ir < mc; ir += MR) {
        int mr = mc - ir < MR ? mc - ir : MR;
        float *d = dst + (size_t)ir * kc;
        if (transA) { // op(A)[i][k] = A[k][i]: MR contiguous floats per k
            for (int k = 0; k < kc; k++) {
                const float *s = A + (size_t)(k0 + k) * lda + i0 + ir;
                float *dk = d + (size_t)k * MR;
                int r = 0;
                for (; r < mr; r++) dk[r] = s[r];
                for (; r < MR; r++) dk[r] = 0.0f;
            }
        } else { // op(A)[i][k] = A[i][k]: rows are contiguous in k
            transpose_rows_to_panel(d, MR, A + (size_t)(i0 + ir) * lda + k0, (size_t)lda, mr, kc);
        }
    }
}

// dst row c (16 floats, stride ldd) = column c of the 16 x 16 block at src (row stride ld).
__attribute__((target("avx512f")))
static inline void transpose16(const float *src, size_t ld, float *dst, size_t ldd) {
    __m512 r[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + i * ld);
    transpose16_store(r, dst, ldd);
}

// B micro-panel: NR columns of op(B) for kc values of k, k-major.
__attribute__((target("avx512f")))
void gemm_pack_b(const void *ctx, float *restrict dst, int j0, int nc, int k0, int kc) {
    const GemmMat *m = ctx;
    const float *B = m->x;
    int ldb = m->ld, transB = m->trans;
    for (int jr = 0; jr < nc; jr += NR) {
        int nr = nc - jr < NR ? nc - jr : NR;
        float *d = dst + (size_t)jr * kc;
        if (!transB) { // op(B)[k][j] = B[k][j]: NR contiguous floats per k
            for (int k = 0; k < kc; k++) {
                const float *s = B + (size_t)(k0 + k) * ldb + j0 + jr;
                float *dk = d + (size_t)k * NR;
                if (nr == NR) {
                    _mm512_store_ps(dk, _mm512_loadu_ps(s));
                    _mm512_store_ps(dk + 16, _mm512_loadu_ps(s + 16));
                } else {
                    int c = 0;
                    for (; c < nr; c++) dk[c] = s[c];
                    for (; c < NR; c++) dk[c] = 0.0f;
                }
            }
            continue;
        }
        // op(B)[k][j] = B[j][k]: columns of the panel are rows of B. Whole 16 x 16 blocks are
        // transposed in registers (scalar strided stores were 10% of a training step).
        const float *s = B + (size_t)(j0 + jr) * ldb + k0;
        int kfull = nr == NR ? kc / 16 * 16 : 0;
        for (int k = 0; k < kfull; k += 16) {
            transpose16(s + k, (size_t)ldb, d + (size_t)k * NR, NR);
            transpose16(s + (size_t)16 * ldb + k, (size_t)ldb, d + (size_t)k * NR + 16, NR);
        }
        for (int c = 0; c < nr; c++)
            for (int k = kfull; k < kc; k++) d[(size_t)k * NR + c] = s[(size_t)c * ldb + k];
        for (int c = nr; c < NR; c++)
            for (int k = kfull; k < kc; k++) d[(size_t)k * NR + c] = 0.0f;
    }
}

// bf16 panels straight from rows contiguous in k (gemm.h): A not transposed, B transposed.
// Each k pair of a row is two adjacent floats, so 32 k of a row convert into one vector of 16
// pair words, and a 16 x 16 word transpose makes panel rows of them: half the transposes of
// the fp32 panel and no second pass over it (bf16_convert_a/b).
static void pack_a16_rows(const void *ctx, uint32_t *dst, int i0, int mc, int k0, int kc) {
    const GemmMat *m = ctx;
    int kp = (kc + 1) / 2;
    for (int ir = 0; ir < mc; ir += MR) {
        int mr = mc - ir < MR ? mc - ir : MR;
        const float *src[16] = {0};
        for (int k = 0; k < kc; k += 32) {
            for (int q = 0; q < mr; q++) src[q] = m->x + (size_t)(i0 + ir + q) * m->ld + k0 + k;
            gemm_pack16_rows(dst + (size_t)ir * kp + (size_t)(k / 2) * MR, MR, MR, src, 16, NULL,
                             kc - k < 32 ? kc - k : 32);
        }
    }
}

static void pack_b16_rows(const void *ctx, uint32_t *dst, int j0, int nc, int k0, int kc) {
    const GemmMat *m = ctx;
    int kp = (kc + 1) / 2;
    for (int jr = 0; jr < nc; jr += NR)
        for (int h = 0; h < NR; h += 16) {
            int nv = nc - jr - h; // rows of B (columns of op(B)) that exist
            const float *src[16] = {0};
            for (int k = 0; k < kc; k += 32) {
                for (int q = 0; q < 16 && q < nv; q++) src[q] = m->x + (size_t)(j0 + jr + h + q) * m->ld + k0 + k;
                gemm_pack16_rows(dst + (size_t)jr * kp + (size_t)(k / 2) * NR + h, NR, 16, src, 16, NULL,
                                 kc - k < 32 ? kc - k : 32);
            }
        }
}

// And from rows contiguous across the panel (A transposed, B not): a k pair is two rows.
static void pack16_cols(const GemmMat *m, int width, uint32_t *dst, int x0, int xc, int k0, int kc) {
    int kp = (kc + 1) / 2;
    for (int r = 0; r < xc; r += width)
        bf16_pack_pairs(dst + (size_t)r * kp, m->x + (size_t)k0 * m->ld + x0 + r, (size_t)m->ld,
                        xc - r < width ? xc - r : width, width, kc);
}
static void pack_a16_cols(const void *ctx, uint32_t *dst, int i0, int mc, int k0, int kc) {
    pack16_cols(ctx, MR, dst, i0, mc, k0, kc);
}
static void pack_b16_cols(const void *ctx, uint32_t *dst, int j0, int nc, int k0, int kc) {
    pack16_cols(ctx, NR, dst, j0, nc, k0, kc);
}

GemmPack16 gemm_pack_a16(const GemmMat *m) { return m->trans ? pack_a16_cols : pack_a16_rows; }
GemmPack16 gemm_pack_b16(const GemmMat *m) { return m->trans ? pack_b16_rows : pack_b16_cols; }

// ---------------------------------------------------------------------------------------------
// The register kernel: C[0..R)[0..32) = alpha * a @ b + beta * C (beta == 0: C not read), the
// tile kept in 2R zmm accumulators (R <= 14). Per k it loads two vectors of B and broadcasts
// R values of A (folded into the FMAs as memory operands). B row k is the packed panel's
// (PACKED: b + k*32) or, for gemm_windows, 16 floats at b + off[k] and 16 at that + half,
// under mask[k] when MASKED. R, PACKED and MASKED are constants in each instance, so the
// loops unroll into registers.
__attribute__((target("avx512f"), always_inline))
static inline void kernel_tile(const int R, const int PACKED, const int MASKED, int kc, const float *restrict a,
                               const float *b, const ptrdiff_t *off, ptrdiff_t half, const uint16_t *mask,
                               float *C, int ldc, float alpha, float beta, const float *cb, const float *rb) {
    __m512 c0[MR], c1[MR];
    #pragma GCC unroll 14
    for (int r = 0; r < R; r++) c0[r] = c1[r] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        const float *bk = PACKED ? b + (size_t)k * NR : b + off[k];
        __m512 b0, b1;
        if (MASKED) {
            __mmask16 m = mask[k];
            b0 = _mm512_maskz_loadu_ps(m, bk);
            b1 = _mm512_maskz_loadu_ps(m, bk + half);
        } else if (PACKED) {
            b0 = _mm512_load_ps(bk);
            b1 = _mm512_load_ps(bk + 16);
        } else {
            b0 = _mm512_loadu_ps(bk);
            b1 = _mm512_loadu_ps(bk + half);
        }
        #pragma GCC unroll 14
        for (int r = 0; r < R; r++) {
            __m512 av = _mm512_set1_ps(a[r]);
            c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
        }
        a += MR;
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    #pragma GCC unroll 14
    for (int r = 0; r < R; r++) {
        float *cr = C + (size_t)r * ldc;
        if (cb) { // as beta = 1 onto C filled with the column bias
            _mm512_storeu_ps(cr, _mm512_fmadd_ps(va, c0[r], _mm512_loadu_ps(cb)));
            _mm512_storeu_ps(cr + 16, _mm512_fmadd_ps(va, c1[r], _mm512_loadu_ps(cb + 16)));
        } else if (rb) { // the same with a row bias
            __m512 vr = _mm512_set1_ps(rb[r]);
            _mm512_storeu_ps(cr, _mm512_fmadd_ps(va, c0[r], vr));
            _mm512_storeu_ps(cr + 16, _mm512_fmadd_ps(va, c1[r], vr));
        } else if (beta == 0.0f) {
            _mm512_storeu_ps(cr, _mm512_mul_ps(va, c0[r]));
            _mm512_storeu_ps(cr + 16, _mm512_mul_ps(va, c1[r]));
        } else {
            _mm512_storeu_ps(cr, _mm512_fmadd_ps(va, c0[r], _mm512_mul_ps(vb, _mm512_loadu_ps(cr))));
            _mm512_storeu_ps(cr + 16, _mm512_fmadd_ps(va, c1[r], _mm512_mul_ps(vb, _mm512_loadu_ps(cr + 16))));
        }
    }
}

__attribute__((target("avx512f")))
static void kernel_14x32(int kc, const float *restrict a, const float *restrict b,
                         float *C, int ldc, float alpha, float beta, const float *cb) {
    kernel_tile(MR, 1, 0, kc, a, b, NULL, 16, NULL, C, ldc, alpha, beta, cb, NULL);
}

// Edge tiles: the bottom edge (mr < MR rows: Cout = 32, 64, 128 leave 4, 8, 2) and the right
// edge (nr < NR columns: N = 16 outputs, Cin * k * k = 9 or 36) run the same kernel with R
// rows and NV vectors per row, the last one stored under a lane mask. No FMA is spent on the
// zero padding of a panel (a padded 14-row tile was 31% waste at 32 rows) and nothing is
// staged. R and NV are constants in each instance; the loops unroll into registers.
__attribute__((target("avx512f"), always_inline))
static inline void kernel_rows(const int R, const int NV, int kc, const float *restrict a, const float *restrict b,
                               float *C, int ldc, float alpha, float beta, const float *cb, __mmask16 last) {
    __m512 c0[MR], c1[MR];
    #pragma GCC unroll 14
    for (int r = 0; r < R; r++) c0[r] = c1[r] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(b), b1 = NV == 2 ? _mm512_load_ps(b + 16) : b0;
        #pragma GCC unroll 14
        for (int r = 0; r < R; r++) {
            __m512 av = _mm512_set1_ps(a[r]);
            c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
            if (NV == 2) c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
        }
        a += MR;
        b += NR;
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    __mmask16 m0 = NV == 2 ? 0xFFFF : last;
    #pragma GCC unroll 14
    for (int r = 0; r < R; r++) {
        float *cr = C + (size_t)r * ldc;
        __m512 x0 = _mm512_mul_ps(va, c0[r]), x1 = _mm512_mul_ps(va, c1[r]);
        if (cb) { // as beta = 1 onto C filled with the column bias
            x0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cb), x0);
            if (NV == 2) x1 = _mm512_add_ps(_mm512_maskz_loadu_ps(last, cb + 16), x1);
        } else if (beta != 0.0f) {
            x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), x0);
            if (NV == 2) x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(last, cr + 16), x1);
        }
        _mm512_mask_storeu_ps(cr, m0, x0);
        if (NV == 2) _mm512_mask_storeu_ps(cr + 16, last, x1);
    }
}

__attribute__((target("avx512f")))
static void kernel_edge(int mr, int nr, int kc, const float *a, const float *b, float *C, int ldc,
                        float alpha, float beta, const float *cb) {
    __mmask16 last = (__mmask16)((1u << (nr > 16 ? nr - 16 : nr)) - 1);
    if (nr == NR) {
        switch (mr) {
#define K_(R) case R: kernel_tile(R, 1, 0, kc, a, b, NULL, 16, NULL, C, ldc, alpha, beta, cb, NULL); break;
        K_(1) K_(2) K_(3) K_(4) K_(5) K_(6) K_(7) K_(8) K_(9) K_(10) K_(11) K_(12) K_(13)
#undef K_
        }
    } else if (nr > 16) {
        switch (mr) {
#define K_(R) case R: kernel_rows(R, 2, kc, a, b, C, ldc, alpha, beta, cb, last); break;
        K_(1) K_(2) K_(3) K_(4) K_(5) K_(6) K_(7) K_(8) K_(9) K_(10) K_(11) K_(12) K_(13) K_(14)
#undef K_
        }
    } else {
        switch (mr) {
#define K_(R) case R: kernel_rows(R, 1, kc, a, b, C, ldc, alpha, beta, cb, last); break;
        K_(1) K_(2) K_(3) K_(4) K_(5) K_(6) K_(7) K_(8) K_(9) K_(10) K_(11) K_(12) K_(13) K_(14)
#undef K_
        }
    }
}

// C's element (i, j): columns come in groups (images) of out->group columns each.
static inline float *c_at(const GemmC *out, int i, int j) {
    if (!out->group) return out->c + (size_t)i * out->ldc + j;
    return out->c + (size_t)(j / out->group) * out->group_stride + (size_t)i * out->ldc + j % out->group;
}

// The row panels of A (every product here): as few as MR allows, of equal size
// (M 32: 10, 11, 11, not 14, 14, 4, whose 8 accumulators wait on the FMA latency). Panel i is
// rows [*r0, *r0 + return). A row's sums do not depend on its panel: the same bits.
static int row_panel(int M, int i, int *r0) {
    int np = (M + MR - 1) / MR;
    *r0 = (int)((long)M * i / np);
    return (int)((long)M * (i + 1) / np) - *r0;
}

// A's panels for rows [ic, ic + mc) and the K slice at pc (row_panel's split of the mc rows, each
// panel in its MR-row slot): fp32 into a32, or (bf16) k-pair words into a16, through tmp when A
// has no bf16 packer.
__attribute__((target("avx512f")))
static void pack_a_panels(const GemmOperand *a, float *a32, uint32_t *a16, float *tmp, int ic, int mc, int pc, int kc,
                          int bf16) {
    const int kp = (kc + 1) / 2;
    for (int i = 0; i < (mc + MR - 1) / MR; i++) {
        int r0, mr = row_panel(mc, i, &r0);
        if (!bf16) a->pack(a->ctx, a32 + (size_t)i * MR * kc, ic + r0, mr, pc, kc);
        else if (a->pack16) a->pack16(a->ctx, a16 + (size_t)i * MR * kp, ic + r0, mr, pc, kc);
        else {
            a->pack(a->ctx, tmp, ic + r0, mr, pc, kc);
            bf16_convert_a(a16 + (size_t)i * MR * kp, tmp, mr, kc);
        }
    }
}

// One thread's share: C[i0.., j0..] of size m x n, summed over k in [k0, K). abuf holds MC x KC floats, bbuf KC x NC.
// K slices are the outer loop so that when m fits one MC block (every conv here: Cout <= 168)
// A is packed once per slice and reused for all of n, and each B block is packed once.
// (NC = 512, a B block that fits L2, measured the same as 2048: 0.92-1.01x, bench_step --ab.)
__attribute__((target("avx512f")))
static void gemm_block(int m, int n, int k0, int K, float alpha, const GemmOperand *a, const GemmOperand *b,
                       float beta, const GemmC *out, int i0, int j0, float *abuf, float *bbuf, int bf16) {
    // bf16: the fp32 panels are converted into k-pair panels after abuf and bbuf (thread_buf).
    uint32_t *a16 = (uint32_t *)(bbuf + (size_t)KC * NC), *b16 = a16 + (size_t)MC * KC / 2;
    for (int pc = k0; pc < K; pc += KC) {
        int kc = K - pc < KC ? K - pc : KC, kp = (kc + 1) / 2;
        float bt = pc == k0 ? beta : 1.0f; // later K slices add onto the first one's result
        for (int jc = 0; jc < n; jc += NC) {
            int nc = n - jc < NC ? n - jc : NC;
            if (bf16 && b->pack16) b->pack16(b->ctx, b16, j0 + jc, nc, pc, kc);
            else {
                b->pack(b->ctx, bbuf, j0 + jc, nc, pc, kc);
                if (bf16) bf16_convert_b(b16, bbuf, nc, kc);
            }
            for (int ic = 0; ic < m; ic += MC) {
                int mc = m - ic < MC ? m - ic : MC;
                if (jc == 0 || m > MC) pack_a_panels(a, abuf, a16, abuf, i0 + ic, mc, pc, kc, bf16);
                for (int jr = 0; jr < nc; jr += NR) {
                    int nr = nc - jr < NR ? nc - jr : NR;
                    const float *bp = bbuf + (size_t)jr * kc;
                    // the column bias in the first K slice only, as beta in the others
                    const float *cb = pc == k0 && out->colbias ? out->colbias + j0 + jc + jr : NULL;
                    for (int i = 0; i < (mc + MR - 1) / MR; i++) {
                        int r0, mr = row_panel(mc, i, &r0);
                        float *cp = c_at(out, i0 + ic + r0, j0 + jc + jr);
                        const float *ap = abuf + (size_t)i * MR * kc;
                        if (bf16) bf16_kernel(mr, nr, kc, a16 + (size_t)i * MR * kp, b16 + (size_t)jr * kp, cp, out->ldc, alpha, bt, cb, NULL);
                        else if (mr == MR && nr == NR) kernel_14x32(kc, ap, bp, cp, out->ldc, alpha, bt, cb);
                        else kernel_edge(mr, nr, kc, ap, bp, cp, out->ldc, alpha, bt, cb);
                    }
                }
            }
        }
    }
}

// This thread's packing buffers (MC x KC floats for A, KC x NC for B), allocated by its first
// product and freed when the thread exits. A fresh 2 MB buffer per call was page-faulted in
// every call: 15% of a training step (clear_page and the hypervisor's fault path).
static pthread_key_t buf_key;
static pthread_once_t buf_key_once = PTHREAD_ONCE_INIT;
static void buf_key_init(void) {
    if (pthread_key_create(&buf_key, free)) {
        fprintf(stderr, "sgemm: pthread_key_create failed\n");
        abort();
    }
}

static float *thread_buf(void) {
    pthread_once(&buf_key_once, buf_key_init);
    float *p = pthread_getspecific(buf_key);
    if (!p) {
        // fp32 A and B panels, then their bf16 k-pair conversions (half the words each).
        size_t bytes = ((size_t)MC * KC + (size_t)KC * NC) * sizeof(float) * 3 / 2;
        p = xaligned_alloc(64, bytes);
        pthread_setspecific(buf_key, p);
    }
    return p;
}


int gemm_own(void) { return use_own(); }

void gemm_pack16_enable(int on) { pack16_on = on != 0; }

void gemm_windows_hold_enable(int on) { hold_on = on != 0; }

// Not cached: a getenv and three cpuid-table reads per bf16 product cost nothing next to the
// product, and tests can then pretend the CPU lacks BF16 (REPAE_CPU_PRETEND_MISSING) at any time.
int gemm_bf16_ok(void) { return use_own() && gemm_bf16_cpu(); }

double gemm_bf16_speed(void) {
    if (!gemm_bf16_ok()) return 0;
    const char *e = getenv("REPAE_BF16_SPEED");
    if (e && *e) return atof(e);
    return bf16_speed();
}

// Tiles of gemm_windows: B rows read in place (see kernel_tile).
__attribute__((target("avx512f")))
static void kernel_win_rows(int mr, int kc, const float *a, const float *base, const ptrdiff_t *off, ptrdiff_t half,
                            const uint16_t *mask, float *C, int ldc, float alpha, float beta, const float *rb) {
    if (mask) {
        switch (mr) {
#define K_(R) case R: kernel_tile(R, 0, 1, kc, a, base, off, half, mask, C, ldc, alpha, beta, NULL, rb); break;
        K_(1) K_(2) K_(3) K_(4) K_(5) K_(6) K_(7) K_(8) K_(9) K_(10) K_(11) K_(12) K_(13) K_(14)
#undef K_
        }
        return;
    }
    switch (mr) {
#define K_(R) case R: kernel_tile(R, 0, 0, kc, a, base, off, half, NULL, C, ldc, alpha, beta, NULL, rb); break;
    K_(1) K_(2) K_(3) K_(4) K_(5) K_(6) K_(7) K_(8) K_(9) K_(10) K_(11) K_(12) K_(13) K_(14)
#undef K_
    }
}

void gemm_windows(int M, int N, int K, float alpha, GemmOperand a, GemmWindows b, float beta, GemmC out) {
    gemm_windows_prec(M, N, K, alpha, a, b, beta, out, 0);
}

// One 32-column tile t of C, rows [ic, ic + mc), slice pc: A's panels at a32 / a16, the
// windows at base. bf16: with convert set the tile's windows for this slice are first
// converted into b16; a caller that already did so for this (tile, slice) passes 0.
__attribute__((target("avx512f")))
static void win_tile(const GemmWindows *b, const float *base, const float *a32, const uint32_t *a16, uint32_t *b16,
                     int convert, int ic, int mc, int pc, int kc, int t, float alpha, float bt, const GemmC *out,
                     int bf16) {
    int kp = (kc + 1) / 2;
    const uint16_t *mask = b->mask ? b->mask + pc : NULL;
    if (bf16 && convert) bf16_convert_windows(b16, base, b->off + pc, b->half, mask, kc);
    for (int i = 0; i < (mc + MR - 1) / MR; i++) {
        int r0, mr = row_panel(mc, i, &r0);
        float *cp = c_at(out, ic + r0, t * NR);
        const float *rb = pc == 0 && out->rowbias ? out->rowbias + ic + r0 : NULL; // the first slice adds it
        if (bf16) bf16_kernel(mr, NR, kc, a16 + (size_t)i * MR * kp, b16, cp, out->ldc, alpha, bt, NULL, rb);
        else kernel_win_rows(mr, kc, a32 + (size_t)i * MR * kc, base, b->off + pc, b->half, mask, cp, out->ldc, alpha,
                             bt, rb);
    }
}

void gemm_windows_prec(int M, int N, int K, float alpha, GemmOperand a, GemmWindows b, float beta, GemmC out,
                       int bf16) {
    if (M <= 0 || N <= 0) return;
    bf16 = bf16 && gemm_bf16_ok();
    if (!pack16_on) a.pack16 = NULL;
    if (N % NR || (out.group && out.group % NR) || K <= 0 || alpha == 0.0f) {
        fprintf(stderr, "gemm_windows: N %d and column groups %d must be multiples of %d, K %d > 0, alpha != 0\n",
                N, out.group, NR, K);
        abort();
    }
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (2.0 * M * N * K < PAR_MIN_FLOPS) nt = 1;
    int tiles = N / NR;
    if (nt > tiles) nt = tiles;
    // A's panels for every K slice, when they fit in the B buffer (windows read B in place):
    // then each tile of C is summed over all of K while it sits in L1, instead of once per
    // slice (C of a 32 x 32 plane of 64 images is 16 MB; with K 576 it went to memory and
    // back three times). Every element still takes its slices in order: the same bits.
    // Block (ic, pc) of the held panels starts at ic * K + mcpad * pc floats (fp32) or
    // ic * kpall + mcpad * pc / 2 words (bf16).
    const int rows = (M + MR - 1) / MR * MR, kpall = K / KC * (KC / 2) + (K % KC + 1) / 2;
    const int hold = hold_on && (bf16 ? (size_t)rows * kpall : (size_t)rows * K) <= (size_t)KC * NC;
    #pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int id = omp_get_thread_num(), n = omp_get_num_threads();
        int t0 = (int)((long)tiles * id / n), t1 = (int)((long)tiles * (id + 1) / n);
        float *abuf = thread_buf(), *all = abuf + (size_t)MC * KC;
        // bf16: A's k-pair panels and one B tile's, after the fp32 buffers (see gemm_block).
        uint32_t *a16 = (uint32_t *)(abuf + (size_t)MC * KC + (size_t)KC * NC), *b16 = a16 + (size_t)MC * KC / 2;
        uint32_t *all16 = (uint32_t *)all;
#define WIN_A32(ic, mcpad, pc) (all + (size_t)(ic) * K + (size_t)(mcpad) * (pc))
#define WIN_A16(ic, mcpad, pc) (all16 + (size_t)(ic) * kpall + (size_t)(mcpad) * ((pc) / 2))
        if (hold) {
            for (int pc = 0; pc < K; pc += KC)
                for (int ic = 0; ic < M; ic += MC) {
                    int mc = M - ic < MC ? M - ic : MC, mcpad = (mc + MR - 1) / MR * MR;
                    pack_a_panels(&a, WIN_A32(ic, mcpad, pc), WIN_A16(ic, mcpad, pc), abuf, ic, mc, pc,
                                  K - pc < KC ? K - pc : KC, bf16);
                }
            for (int t = t0; t < t1; t++) {
                const float *base = b.base(b.ctx, t * NR);
                for (int pc = 0; pc < K; pc += KC)
                    for (int ic = 0; ic < M; ic += MC) {
                        int mc = M - ic < MC ? M - ic : MC, mcpad = (mc + MR - 1) / MR * MR;
                        win_tile(&b, base, WIN_A32(ic, mcpad, pc), WIN_A16(ic, mcpad, pc), b16, ic == 0, ic, mc, pc,
                                 K - pc < KC ? K - pc : KC, t, alpha, pc == 0 ? beta : 1.0f, &out, bf16);
                    }
            }
        } else { // slices outermost: A's panels for one slice at a time
            for (int pc = 0; pc < K; pc += KC)
                for (int ic = 0; ic < M; ic += MC) {
                    int mc = M - ic < MC ? M - ic : MC, kc = K - pc < KC ? K - pc : KC;
                    pack_a_panels(&a, abuf, a16, abuf, ic, mc, pc, kc, bf16);
                    for (int t = t0; t < t1; t++)
                        win_tile(&b, b.base(b.ctx, t * NR), abuf, a16, b16, 1, ic, mc, pc, kc, t, alpha,
                                 pc == 0 ? beta : 1.0f, &out, bf16);
                }
        }
#undef WIN_A32
#undef WIN_A16
    }
}

size_t gemm_pairs_words(int M, int kp) { return (size_t)(M + MR - 1) / MR * MR * kp; }

// The panels are shared out by an orphaned `omp for`: called inside a region, its threads split
// them (and wait for each other at the loop's end); outside one, gemm_pack_a_pairs opens a
// region when the weights are big enough. Each panel is packed alone, so the bits never
// depend on the split. The input gradient's flipped weights (a gather, ~150 us for 128
// channels) were the largest serial stretch of a bf16 step.
void gemm_pack_a_pairs_shared(uint32_t *dst, GemmOperand a, int M, int K, const int *lo, const int *hi, int kp) {
    float *f = xaligned_alloc(64, (size_t)MR * K * sizeof(float)); // one fp32 panel of all of K
    #pragma omp for schedule(static)
    for (int i = 0; i < (M + MR - 1) / MR; i++) {
        int r0, mr = row_panel(M, i, &r0);
        a.pack(a.ctx, f, r0, mr, 0, K);
        uint32_t *d = dst + (size_t)i * MR * kp;
        for (int p = 0; p < kp; p++)
            bf16_pair_words(d + (size_t)p * MR, f + (size_t)lo[p] * MR, hi[p] < 0 ? NULL : f + (size_t)hi[p] * MR, MR);
    }
    free(f);
}

void gemm_pack_a_pairs(uint32_t *dst, GemmOperand a, int M, int K, const int *lo, const int *hi, int kp) {
    const int par = !omp_in_parallel() && M > MR && (double)M * K >= PACK_PAR_MIN;
    #pragma omp parallel if (par)
    gemm_pack_a_pairs_shared(dst, a, M, K, lo, hi, kp);
}

void gemm_windows16(int M, int N, int kp, float alpha, const uint32_t *a16, GemmWindows16 b, float beta,
                    GemmC out) {
    if (M <= 0 || N <= 0) return;
    if (N % NR || (out.group && out.group % NR) || kp <= 0 || !gemm_bf16_ok()) {
        fprintf(stderr, "gemm_windows16: N %d and column groups %d must be multiples of %d, kp %d > 0, on a BF16 CPU\n",
                N, out.group, NR, kp);
        abort();
    }
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (4.0 * M * N * kp < PAR_MIN_FLOPS) nt = 1;
    int tiles = N / NR, np = (M + MR - 1) / MR;
    if (nt > tiles) nt = tiles;
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int t = 0; t < tiles; t++) {
        const uint32_t *base = b.base(b.ctx, t * NR);
        for (int i = 0; i < np; i++) {
            int r0, mr = row_panel(M, i, &r0);
            bf16_kernel_win(mr, kp, a16 + (size_t)i * MR * kp, base, b.off, b.half, b.mask, c_at(&out, r0, t * NR),
                            out.ldc, alpha, beta, out.rowbias ? out.rowbias + r0 : NULL);
        }
    }
}

void gemm_packed(int M, int N, int K, float alpha, GemmOperand a, GemmOperand b, float beta, GemmC out) {
    gemm_packed_prec(M, N, K, alpha, a, b, beta, out, 0);
}

void gemm_packed_prec(int M, int N, int K, float alpha, GemmOperand a, GemmOperand b, float beta, GemmC out,
                      int bf16) {
    if (M <= 0 || N <= 0) return;
    bf16 = bf16 && gemm_bf16_ok();
    if (!pack16_on) a.pack16 = b.pack16 = NULL;
    if (out.group && out.group % NR) {
        fprintf(stderr, "gemm_packed: column groups of %d are not a multiple of %d\n", out.group, NR);
        abort();
    }
    if ((out.colbias && (out.group || beta != 0.0f)) || out.rowbias) {
        fprintf(stderr, "gemm_packed: a column bias needs plain C (group 0) and beta 0; a row bias is for the windows\n");
        abort();
    }
    if (alpha == 0.0f || K <= 0) { // C = beta * C, and beta == 0 writes zeros (BLAS semantics)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                float *p = c_at(&out, i, j);
                *p = out.colbias ? out.colbias[j] : beta == 0.0f ? 0.0f : beta * *p;
            }
        return;
    }
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (2.0 * M * N * K < PAR_MIN_FLOPS) nt = 1;
    int tiles_m = (M + MR - 1) / MR, tiles_n = (N + NR - 1) / NR, slices = (K + KC - 1) / KC;
    if (nt > 1 && slices >= 2 * nt && (tiles_m * tiles_n < 8 * nt || (tiles_m * tiles_n < 64 && K >= 8 * (M > N ? M : N)))) {
        // Few tiles of C but a long K (weight gradients summed over every pixel of the batch):
        // splitting C would leave threads idle or packing the same operand twice, so the
        // threads split K instead, whole KC slices each. (Up to 64 tiles when K is 8x the
        // longer side: dec.u1.b0.nin backward 4.5-4.7 -> 2.9-3.5 ms, bench_ops.) Thread 0 sums into C; the others into
        // private tiles added to C afterwards in thread order, so for a given thread count the
        // result is the same every run.
        float *part = xmalloc((size_t)(nt - 1) * M * N * sizeof(float));
        #pragma omp parallel num_threads(nt)
        {
            int id = omp_get_thread_num(), n = omp_get_num_threads();
            int s0 = (int)((long)slices * id / n), s1 = (int)((long)slices * (id + 1) / n);
            int k0 = s0 * KC, k1 = s1 * KC < K ? s1 * KC : K;
            float *abuf = thread_buf(), *bbuf = abuf + (size_t)MC * KC;
            GemmC mine = {part + (size_t)(id > 0 ? id - 1 : 0) * M * N, N, 0, 0, NULL, NULL};
            if (k1 > k0) gemm_block(M, N, k0, k1, alpha, &a, &b, id ? 0.0f : beta, id ? &mine : &out, 0, 0, abuf, bbuf, bf16);
            else if (id) memset(mine.c, 0, sizeof(float) * M * N);
        }
        for (int t = 0; t < nt - 1; t++)
            for (int i = 0; i < M; i++) {
                const float *src = part + ((size_t)t * M + i) * N;
                for (int j = 0; j < N; j++) *c_at(&out, i, j) += src[j];
            }
        free(part);
        return;
    }
    // Split C among the threads in whole tiles, along the side whose operand is the larger to
    // pack: every thread packs all of the other operand. (By tile counts, a 256-token linear of
    // 576 outputs split its rows, and both threads transposed the whole weight: 10% of a
    // sampling run.) Each element of C is summed in the same order either way.
    int split_n = tiles_n >= nt && (N >= M || tiles_m < nt);
    int tiles = split_n ? (N + NR - 1) / NR : (M + MR - 1) / MR;
    if (nt > tiles) nt = tiles;
    #pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int id = omp_get_thread_num(), n = omp_get_num_threads();
        int t0 = (int)((long)tiles * id / n), t1 = (int)((long)tiles * (id + 1) / n);
        int i0 = 0, j0 = 0, m = M, nn = N;
        if (split_n) { j0 = t0 * NR; nn = t1 * NR < N ? t1 * NR - j0 : N - j0; }
        else { i0 = t0 * MR; m = t1 * MR < M ? t1 * MR - i0 : M - i0; }
        float *abuf = thread_buf(), *bbuf = abuf + (size_t)MC * KC;
        if (m > 0 && nn > 0) gemm_block(m, nn, 0, K, alpha, &a, &b, beta, &out, i0, j0, abuf, bbuf, bf16);
    }
}

void sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
           const float *B, int ldb, float beta, float *C, int ldc) {
    sgemm_prec(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, 0);
}

int sgemm_own_shape(int M, int N, int K) { return use_own() && M >= OWN_MIN_M && N >= OWN_MIN_N && K >= OWN_MIN_K; }

static void own_product(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                        const float *B, int ldb, float beta, const float *bias, float *C, int ldc, int bf16) {
    GemmMat am = {A, lda, transA}, bm = {B, ldb, transB};
    gemm_packed_prec(M, N, K, alpha, (GemmOperand){gemm_pack_a, &am, gemm_pack_a16(&am)},
                     (GemmOperand){gemm_pack_b, &bm, gemm_pack_b16(&bm)}, beta, (GemmC){C, ldc, 0, 0, bias, NULL}, bf16);
}

void sgemm_prec(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc, int bf16) {
    if (M <= 0 || N <= 0) return;
    if (!sgemm_own_shape(M, N, K)) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    own_product(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, NULL, C, ldc, bf16);
}

void sgemm_prec_bias(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, const float *bias, float *C, int ldc, int bf16) {
    if (M <= 0 || N <= 0) return;
    if (sgemm_own_shape(M, N, K)) {
        own_product(transA, transB, M, N, K, alpha, A, lda, B, ldb, 0.0f, bias, C, ldc, bf16);
        return;
    }
    #pragma omp parallel for schedule(static) if ((size_t)M * N >= OPS_PAR_STREAM)
    for (int i = 0; i < M; i++) memcpy(C + (size_t)i * ldc, bias, (size_t)N * sizeof(float));
    sgemm_prec(transA, transB, M, N, K, alpha, A, lda, B, ldb, 1.0f, C, ldc, bf16);
}
