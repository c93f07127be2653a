// ops_linear.c: linear layers as one sgemm (gemm.h) per product (PyTorch [out, in] weights).
#include "ops/ops.h"
#include "ops/par.h"
#include "ops/gemm.h"
#include <omp.h>
#include <string.h>

void linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                    int N, int nin, int nout) {
    linear_forward_prec(out, inp, weight, bias, N, nin, nout, 0);
}

void linear_backward(float *dinp, float *dweight, float *dbias,
                     const float *dout, const float *inp, const float *weight,
                     int N, int nin, int nout) {
    linear_backward_prec(dinp, dweight, dbias, dout, inp, weight, N, nin, nout, 0);
}

void linear_forward_prec(float *out, const float *inp, const float *weight, const float *bias,
                         int N, int nin, int nout, int bf16) {
    if (N <= 0 || nout <= 0) return;
    if (nin <= 0) { // an empty product; sgemm would reject lda = 0
        for (size_t i = 0; i < (size_t)N * nout; i++) out[i] = bias ? bias[i % nout] : 0.0f;
        return;
    }
    // out (N, nout) = inp (N, nin) @ weight^T (nin, nout) (+ bias in every row, added by the
    // kernel as it stores: the bits of seeding out with it and beta = 1, without that pass)
    if (bias) sgemm_prec_bias(0, 1, N, nout, nin, 1.0f, inp, nin, weight, nin, bias, out, nout, bf16);
    else sgemm_prec(0, 1, N, nout, nin, 1.0f, inp, nin, weight, nin, 0.0f, out, nout, bf16);
}

// set: dinp is overwritten (linear_backward_prec_set), else added to.
static void linear_bwd(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                       const float *weight, int N, int nin, int nout, int bf16, int set) {
    if (N <= 0 || nout <= 0) { // nothing flows back: a set dinp is zero
        if (set && dinp && N > 0 && nin > 0) memset(dinp, 0, (size_t)N * nin * sizeof(float));
        return;
    }
    if (nin <= 0) dinp = dweight = NULL;
    if (dinp) // dinp (N, nin) (+)= dout (N, nout) @ weight (nout, nin)
        sgemm_prec(0, 0, N, nin, nout, 1.0f, dout, nout, weight, nin, set ? 0.0f : 1.0f, dinp, nin, bf16);
    if (dweight) // dweight (nout, nin) += dout^T (nout, N) @ inp (N, nin)
        sgemm_prec(1, 0, nout, nin, N, 1.0f, dout, nout, inp, nin, 1.0f, dweight, nin, bf16);
    if (dbias) {
        // Column sums of dout in double (N is B*T, about a thousand rows). Each thread owns a
        // block of columns and walks the rows in order, so reads stay sequential and the result
        // does not depend on the thread count.
        #pragma omp parallel if ((size_t)N * nout >= OPS_PAR_SUMS)
        {
            int nt = omp_get_num_threads(), id = omp_get_thread_num();
            int o0 = (int)((long)nout * id / nt), o1 = (int)((long)nout * (id + 1) / nt);
            double acc[256];
            for (int ob = o0; ob < o1; ob += 256) {
                int oe = ob + 256 < o1 ? ob + 256 : o1;
                for (int o = ob; o < oe; o++) acc[o - ob] = 0;
                for (int n = 0; n < N; n++) {
                    const float *d = dout + (size_t)n * nout;
                    for (int o = ob; o < oe; o++) acc[o - ob] += d[o];
                }
                for (int o = ob; o < oe; o++) dbias[o] += (float)acc[o - ob];
            }
        }
    }
}

void linear_backward_prec(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                          const float *weight, int N, int nin, int nout, int bf16) {
    linear_bwd(dinp, dweight, dbias, dout, inp, weight, N, nin, nout, bf16, 0);
}

void linear_backward_prec_set(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                              const float *weight, int N, int nin, int nout, int bf16) {
    linear_bwd(dinp, dweight, dbias, dout, inp, weight, N, nin, nout, bf16, 1);
}
