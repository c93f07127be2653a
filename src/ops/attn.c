// ops_attn.c: SiT's multi-head token attention and the VAE AttnBlock's spatial attention.
//
// The T x T (HW x HW) score and mixing products go through sgemm (gemm.h) one (batch, head) at a
// time, reading q/k/v straight out of the packed qkv with leading dimension 3C (no copies).
// The softmax passes between the products are OpenMP loops; they are separate from the sgemm
// calls because a threaded sgemm must never run inside an omp parallel region.
#include <math.h>
#include "ops/ops.h"
#include "ops/vecmath.h"
#include "ops/gemm.h"

// Below this many scores an omp region costs more than the row loop it would split.
#define ATTN_PAR_MIN 4096

static void softmax_rows_inplace(float *s, long rows, int n) {
#pragma omp parallel for schedule(static) if ((long)rows * n >= ATTN_PAR_MIN)
    for (long r = 0; r < rows; r++) {
        float *x = s + (size_t)r * n;
        float mx = -INFINITY;
        for (int j = 0; j < n; j++) mx = x[j] > mx ? x[j] : mx;
        for (int j = 0; j < n; j++) x[j] = ops_expf(x[j] - mx);
        float inv = (float)(1.0 / ops_sum(x, (size_t)n));
        for (int j = 0; j < n; j++) x[j] *= inv;
    }
}

// d (in place, n x n): datt -> dscores, d[i,j] = att[i,j] * (d[i,j] - sum_k d[i,k] att[i,k]).
static void softmax_backward_inplace(float *d, const float *att, int n) {
#pragma omp parallel for schedule(static) if ((long)n * n >= ATTN_PAR_MIN)
    for (int i = 0; i < n; i++) {
        float *di = d + (size_t)i * n;
        const float *ai = att + (size_t)i * n;
        float dd = (float)ops_dot(di, ai, (size_t)n);
        for (int j = 0; j < n; j++) di[j] = ai[j] * (di[j] - dd);
    }
}

// ---------------------------------------------------------------------------------------------
// Multi-head attention. Head h of token t: q = qkv[t, h*hs ..], k = qkv[t, C + h*hs ..],
// v = qkv[t, 2C + h*hs ..]; out[t, h*hs ..] = sum_s att[h, t, s] v_s.
void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH) {
    int hs = C / NH, C3 = 3 * C;
    float scale = (float)(1.0 / sqrt((double)hs));
    size_t TT = (size_t)T * T;
    for (int b = 0; b < B; b++) {
        const float *base = qkv + (size_t)b * T * C3;
        for (int h = 0; h < NH; h++) {
            const float *q = base + h * hs, *k = base + C + h * hs;
            float *a = att + ((size_t)b * NH + h) * TT;
            // scores (T,T) = scale * q (T,hs) k^T
            sgemm(0, 1, T, T, hs, scale, q, C3, k, C3, 0.0f, a, T);
        }
    }
    softmax_rows_inplace(att, (long)B * NH * T, T);
    for (int b = 0; b < B; b++) {
        const float *base = qkv + (size_t)b * T * C3;
        for (int h = 0; h < NH; h++) {
            const float *v = base + 2 * C + h * hs;
            const float *a = att + ((size_t)b * NH + h) * TT;
            // out[:, h*hs ..] (T,hs), row stride C = att (T,T) v (T,hs)
            sgemm(0, 0, T, hs, T, 1.0f, a, T, v, C3, 0.0f,
                        out + (size_t)b * T * C + h * hs, C);
        }
    }
}

// One head at a time through a T x T scratch: datt = dout v^T, then dscores in place.
size_t attention_scratch_floats(int B, int T, int C, int NH) {
    (void)B; (void)C; (void)NH;
    return (size_t)T * T;
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                        int B, int T, int C, int NH, float *scratch) {
    if (!dqkv) return;
    int hs = C / NH, C3 = 3 * C;
    float scale = (float)(1.0 / sqrt((double)hs));
    size_t TT = (size_t)T * T;
    for (int b = 0; b < B; b++) {
        const float *base = qkv + (size_t)b * T * C3;
        float *dbase = dqkv + (size_t)b * T * C3;
        const float *dy = dout + (size_t)b * T * C;
        for (int h = 0; h < NH; h++) {
            const float *q = base + h * hs, *k = base + C + h * hs, *v = base + 2 * C + h * hs;
            float *dq = dbase + h * hs, *dk = dbase + C + h * hs, *dv = dbase + 2 * C + h * hs;
            const float *a = att + ((size_t)b * NH + h) * TT;
            const float *dyh = dy + h * hs;
            // datt (T,T) = dout_h (T,hs) v^T
            sgemm(0, 1, T, T, hs, 1.0f, dyh, C, v, C3, 0.0f, scratch, T);
            // dv (T,hs) += att^T dout_h
            sgemm(1, 0, T, hs, T, 1.0f, a, T, dyh, C, 1.0f, dv, C3);
            softmax_backward_inplace(scratch, a, T);
            // dq += scale * dS k ; dk += scale * dS^T q
            sgemm(0, 0, T, hs, T, scale, scratch, T, k, C3, 1.0f, dq, C3);
            sgemm(1, 0, T, hs, T, scale, scratch, T, q, C3, 1.0f, dk, C3);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Spatial attention, channel-major (B,C,HW): with Q, K, V the (C,HW) matrices of one image,
// scores = scale Q^T K (HW,HW) and out = V att^T (C,HW).
void spatial_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                               int B, int C, int HW) {
    float scale = (float)(1.0 / sqrt((double)C));
    size_t CN = (size_t)C * HW, NN = (size_t)HW * HW;
    for (int b = 0; b < B; b++)
        sgemm(1, 0, HW, HW, C, scale, q + b * CN, HW,
                    k + b * CN, HW, 0.0f, att + b * NN, HW);
    softmax_rows_inplace(att, (long)B * HW, HW);
    for (int b = 0; b < B; b++)
        sgemm(0, 1, C, HW, HW, 1.0f, v + b * CN, HW,
                    att + b * NN, HW, 0.0f, out + b * CN, HW);
}

size_t spatial_attention_scratch_floats(int B, int C, int HW) {
    (void)B; (void)C;
    return (size_t)HW * HW;
}

void spatial_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                const float *q, const float *k, const float *v, const float *att,
                                int B, int C, int HW, float *scratch) {
    float scale = (float)(1.0 / sqrt((double)C));
    size_t CN = (size_t)C * HW, NN = (size_t)HW * HW;
    for (int b = 0; b < B; b++) {
        const float *dy = dout + b * CN, *a = att + b * NN;
        // dV (C,HW) += dout (C,HW) att
        if (dv)
            sgemm(0, 0, C, HW, HW, 1.0f, dy, HW, a, HW,
                        1.0f, dv + b * CN, HW);
        if (!dq && !dk) continue;
        // datt (HW,HW) = dout^T V, then dscores in place
        sgemm(1, 0, HW, HW, C, 1.0f, dy, HW, v + b * CN, HW,
                    0.0f, scratch, HW);
        softmax_backward_inplace(scratch, a, HW);
        // dQ (C,HW) += scale K dS^T ; dK (C,HW) += scale Q dS
        if (dq)
            sgemm(0, 1, C, HW, HW, scale, k + b * CN, HW,
                        scratch, HW, 1.0f, dq + b * CN, HW);
        if (dk)
            sgemm(0, 0, C, HW, HW, scale, q + b * CN, HW,
                        scratch, HW, 1.0f, dk + b * CN, HW);
    }
}
