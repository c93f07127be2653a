// gemm.h: the single-precision matrix product every op goes through.
//
// sgemm has the row-major cblas_sgemm contract: C (M x N, leading dimension ldc) =
// alpha * op(A) @ op(B) + beta * C, op(X) = X or X^T. With beta == 0, C is not read (NaN in C
// does not leak into the result), as in BLAS.
//
// On CPUs with AVX-512 it runs repae's own packed kernel (gemm.c); elsewhere, for shapes too
// thin to fill its 14 x 32 register tile, or when REPAE_GEMM=openblas is set, it calls
// OpenBLAS. Why a kernel of our own: OpenBLAS picks its kernels by core type, and machines
// that set OPENBLAS_CORETYPE=Haswell (as ours do) get 256-bit AVX2 kernels at half of the
// AVX-512 FMA peak, which is what PyTorch's oneDNN convolutions run at.
// Like BLAS it threads internally (OpenMP, omp_get_max_threads() of the caller) and must not
// be called inside an omp parallel region (it then runs on one thread, correctly but slowly).
#ifndef REPAE_GEMM_H
#define REPAE_GEMM_H

void sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
           const float *B, int ldb, float beta, float *C, int ldc);

// "avx512" or "openblas": which path large products take in this process.
const char *sgemm_backend(void);

// Forces a path for benchmarks and tests: 1 = own kernel (only if the CPU has AVX-512),
// 0 = OpenBLAS, -1 = back to the default (REPAE_GEMM, then the CPU). Not thread-safe against
// concurrent sgemm calls; call it before starting work.
void sgemm_force(int own);

#endif
