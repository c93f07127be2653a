// gemm.h: the single-precision matrix product every op goes through.
//
// sgemm has the row-major cblas_sgemm contract: C (M x N, leading dimension ldc) =
// alpha * op(A) @ op(B) + beta * C, op(X) = X or X^T. With beta == 0, C is not read (NaN in C
// does not leak into the result), as in BLAS.
//
// On CPUs with AVX-512 (F, VL, DQ) it runs repae's own packed kernel (gemm.c); elsewhere, for shapes too
// thin to fill its 14 x 32 register tile, or when REPAE_GEMM=openblas is set, it calls
// OpenBLAS. Why a kernel of our own: OpenBLAS picks its kernels by core type, and machines
// that set OPENBLAS_CORETYPE=Haswell (as ours do) get 256-bit AVX2 kernels at half of the
// AVX-512 FMA peak, which is what PyTorch's oneDNN convolutions run at.
// Like BLAS it threads internally (OpenMP, omp_get_max_threads() of the caller) and must not
// be called inside an omp parallel region (it then runs on one thread, correctly but slowly).
#ifndef REPAE_GEMM_H
#define REPAE_GEMM_H
#include <stddef.h>
#include <stdint.h>

void sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
           const float *B, int ldb, float beta, float *C, int ldc);

// bf16 != 0: the same product with op(A) and op(B) rounded to bfloat16 (nearest even) and
// summed in fp32 (vdpbf16ps, gemm_bf16.c), on CPUs with AVX512-BF16 when the own kernel is in
// use (gemm_bf16_ok); otherwise, and for the thin shapes that go to OpenBLAS, in fp32. The
// precision is the caller's (a flag on its op struct or workspace), never the process's.
void sgemm_prec(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc, int bf16);
// C = alpha * op(A) @ op(B) + bias[j] in every row (beta 0): the same bits as filling C with
// the bias and calling sgemm_prec with beta 1, which is what it does where OpenBLAS runs.
void sgemm_prec_bias(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, const float *bias, float *C, int ldc, int bf16);
// 1 if bf16 products run in bf16 in this process (own kernel and a CPU with AVX512-BF16).
int gemm_bf16_ok(void);
// Where gemm_bf16_ok: how many times the flops of fp32's vfmadd231ps (zmm) vdpbf16ps delivers on
// this core, measured once per process in registers (gemm_bf16.c); bf16 pays only above 1, and
// not every CPU with the extension gets there (bench_isa, experiments/bench/README.md). 0 where
// not gemm_bf16_ok. REPAE_BF16_SPEED=X reads as X (the test hook).
double gemm_bf16_speed(void);

// "avx512" or "openblas": which path large products take in this process.
const char *sgemm_backend(void);

// 1 if sgemm runs an M x N x K product on the own kernel (which, inside a parallel region, runs
// on the calling thread alone; OpenBLAS must not be called there).
int sgemm_own_shape(int M, int N, int K);

// Forces a path for benchmarks and tests: 1 = own kernel (only if the CPU has AVX-512),
// 0 = OpenBLAS, -1 = back to the default (REPAE_GEMM, then the CPU). Not thread-safe against
// concurrent sgemm calls; call it before starting work.
void sgemm_force(int own);


// ---------------------------------------------------------------------------------------------
// The own kernel with caller-supplied packing, for ops whose operands are not plain matrices
// (conv2d packs straight from NCHW images: no im2col buffer). Only valid when gemm_own().
#define GEMM_MR 14 // rows of C per register tile (the A side)
#define GEMM_NR 32 // columns of C per register tile (the B side)
#define GEMM_NC 2048 // most columns a B packer is asked for at once (a multiple of GEMM_NR)
// A packer writes rows [x0, x0 + xc) of its operand (op(A)'s rows for A, op(B)'s columns for
// B) and k values [k0, k0 + kc) as panels of GEMM_MR (A) or GEMM_NR (B) rows: panel p at
// dst + p * width * kc holds, for each k in turn, its `width` values; rows past x0 + xc are 0.
// dst is 64-byte aligned. Packers run concurrently on different threads.
typedef void (*GemmPack)(const void *ctx, float *dst, int x0, int xc, int k0, int kc);
// Optional, for bf16 products: the same rows straight into bf16 k-pair panels (gemm_bf16.h's
// layout: panel p at dst + p * width * ((kc + 1) / 2)), bit for bit what pack followed by the
// conversion gives. Without it (NULL) a bf16 product packs in fp32 and converts. k0 is a
// multiple of 32 (whole KC slices).
typedef void (*GemmPack16)(const void *ctx, uint32_t *dst, int x0, int xc, int k0, int kc);
typedef struct {
    GemmPack pack;
    const void *ctx;
    GemmPack16 pack16;
} GemmOperand;
// Plain matrix operands for GemmOperand.ctx with gemm_pack_a / gemm_pack_b.
typedef struct {
    const float *x;
    int ld, trans;
} GemmMat;
// C's element (i, j) is at c + i * ldc + j; with group > 0 (a multiple of GEMM_NR), columns come
// in groups of `group` and group g starts at c + g * group_stride (NCHW images: group = H*W,
// ldc = H*W, group_stride = C*H*W).
// colbias (group 0 and beta 0 only, else NULL): C(i, j) = alpha * sum + colbias[j], the same
// bits as C filled with the bias and beta = 1, without the pass that fills it.
// rowbias (gemm_windows and gemm_windows16 only, else NULL; beta unused): C(i, j) = alpha * sum
// + rowbias[i], likewise the bits of C filled with the bias and beta = 1 (a conv's bias).
typedef struct {
    float *c;
    int ldc, group;
    size_t group_stride;
    const float *colbias;
    const float *rowbias;
} GemmC;
int gemm_own(void);
// B read in place: column tile j (j a multiple of GEMM_NR) at row k is 16 floats at
// base(ctx, j) + off[k] and 16 more at that + half (half = 16: 32 contiguous floats). For
// convs whose B rows are shifted windows of a padded image (conv_implicit.c; half = the padded
// row length when a tile is two 16-wide output rows): nothing is packed, the kernel loads the
// windows directly.
typedef struct {
    const float *(*base)(const void *ctx, int j);
    const void *ctx;
    const ptrdiff_t *off; // K entries
    ptrdiff_t half;
    const uint16_t *mask; // NULL, or K lane masks applied to both halves (lanes outside read as 0)
} GemmWindows;
// As gemm_packed with B given as windows; N must be a multiple of GEMM_NR.
void gemm_windows(int M, int N, int K, float alpha, GemmOperand a, GemmWindows b, float beta, GemmC out);
void gemm_packed(int M, int N, int K, float alpha, GemmOperand a, GemmOperand b, float beta, GemmC out);
// The two with a precision, as sgemm_prec.
void gemm_windows_prec(int M, int N, int K, float alpha, GemmOperand a, GemmWindows b, float beta, GemmC out,
                       int bf16);
void gemm_packed_prec(int M, int N, int K, float alpha, GemmOperand a, GemmOperand b, float beta, GemmC out,
                      int bf16);
// bf16 windows over a pair-word image (gemm_bf16_ok CPUs only): C (M x N) = alpha * A @ B +
// beta * C, beta 0: C not read. B's k pair p of column tile j is 16 words at base(ctx, j) +
// off[p] and 16 at that + half, each word the bf16 pair of two k (conv_implicit.c: two
// channels of one pixel); mask as GemmWindows'. A is whole-K pair panels from
// gemm_pack_a_pairs. Each tile of C is summed over all kp pairs in registers, then stored once.
typedef struct {
    const uint32_t *(*base)(const void *ctx, int j);
    const void *ctx;
    const ptrdiff_t *off; // kp entries
    ptrdiff_t half;
    const uint16_t *mask;
} GemmWindows16;
void gemm_windows16(int M, int N, int kp, float alpha, const uint32_t *a16, GemmWindows16 b, float beta,
                    GemmC out);
// Rows [0, M) of a (K k values) as bf16 pair panels for gemm_windows16 (its split of the rows
// into panels of up to GEMM_MR): panel i at dst + i * GEMM_MR * kp, pair p's words the bf16 of
// k lo[p] (low half) and hi[p] (high; -1: 0). dst holds gemm_pairs_words(M, kp) words.
size_t gemm_pairs_words(int M, int kp);
void gemm_pack_a_pairs(uint32_t *dst, GemmOperand a, int M, int K, const int *lo, const int *hi, int kp);
// The same as an orphaned `omp for` over the panels, for a caller already in a parallel region
// (every thread of the team calls it; it returns when all panels are packed).
void gemm_pack_a_pairs_shared(uint32_t *dst, GemmOperand a, int M, int K, const int *lo, const int *hi, int kp);
void gemm_pack_a(const void *ctx, float *dst, int x0, int xc, int k0, int kc);
void gemm_pack_b(const void *ctx, float *dst, int x0, int xc, int k0, int kc);
// Their pack16 (bf16 k-pair panels straight from the matrix).
GemmPack16 gemm_pack_a16(const GemmMat *m);
GemmPack16 gemm_pack_b16(const GemmMat *m);
// For pack16 functions of rows contiguous in k: up to 32 k values of up to 16 rows into k-pair
// panel rows, dst[p * ldd + q] = bf16(src[q][2p]) | bf16(src[q][2p + 1]) << 16 (nearest even)
// for p < (nk + 1) / 2 and q < nq. k values 0..15 of row q are at src[q], 16..31 at
// src[q] + half; k >= nk, lanes outside mask[q] (mask NULL: all) and rows with src[q] NULL read
// as 0. Only on CPUs with AVX512-BF16 (gemm_bf16_ok).
void gemm_pack16_rows(uint32_t *dst, size_t ldd, int nq, const float *const src[16], ptrdiff_t half,
                      const uint16_t *mask, int nk);
// Tests: 0 makes bf16 products ignore pack16 (fp32 packing, then conversion), 1 the default.
void gemm_pack16_enable(int on);
// Tests: 0 makes gemm_windows keep K slices outermost (its path for an A too large to hold all
// of), 1 the default: the same bits either way.
void gemm_windows_hold_enable(int on);

#endif
