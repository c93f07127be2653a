// optim.c: AdamW, global-norm clipping and EMA, each one flat loop over a parameter family.
// The norm sums in double over a fixed split into NBLK blocks added in block order, so it is
// bit-identical whatever the thread count (resumed training must reproduce its steps exactly).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "ops/ops.h"

#define PAR_MIN 16384 // below this many elements loops stay on one thread
#define NBLK 64

static inline size_t blk_lo(size_t n, int k) { return n / NBLK * k + (n % NBLK < (size_t)k ? n % NBLK : (size_t)k); }

// The double nearest the shortest decimal that rounds to x: 0.999f gives 0.999. Hyperparameters
// are written in decimal, and 1 - beta2 taken from the float 0.999f is off by 1.3e-5 relative
// (0.00099998713), which torch, holding 0.999 as a double, is not.
static double as_decimal(float x) {
    char buf[32];
    for (int prec = 1; prec < 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)x);
        double d = strtod(buf, NULL);
        if ((float)d == x) return d;
    }
    return x;
}

void adamw_update(float *params, const float *grads, float *m, float *v, size_t n,
                  float lr, float beta1, float beta2, float eps, float weight_decay, int t) {
    // Scalars as torch.optim.AdamW forms them: Python doubles, rounded to float when applied.
    double dlr = as_decimal(lr), db1 = as_decimal(beta1), db2 = as_decimal(beta2);
    float decay = (float)(1.0 - dlr * as_decimal(weight_decay));
    double bc1 = 1.0 - pow(db1, t), bc2 = 1.0 - pow(db2, t);
    float step = (float)(-dlr / bc1), bc2s = (float)sqrt(bc2);
    float b1 = beta1, b2 = beta2, a1 = (float)(1.0 - db1), a2 = (float)(1.0 - db2);
    #pragma omp parallel for if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        float p = params[i] * decay;
        float mi = m[i] * b1 + a1 * g;
        float vi = v[i] * b2 + a2 * g * g;
        float denom = sqrtf(vi) / bc2s + eps;
        params[i] = p + step * (mi / denom);
        m[i] = mi;
        v[i] = vi;
    }
}

float global_norm(const float *grads, size_t n) {
    double part[NBLK];
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int k = 0; k < NBLK; k++) {
        double s = 0;
        for (size_t i = blk_lo(n, k), e = blk_lo(n, k + 1); i < e; i++) s += (double)grads[i] * grads[i];
        part[k] = s;
    }
    double s = 0;
    for (int k = 0; k < NBLK; k++) s += part[k];
    return (float)sqrt(s);
}

void scale_inplace(float *x, size_t n, float s) {
    #pragma omp parallel for if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

float clip_grad_norm(float *grads, size_t n, float max_norm) {
    float norm = global_norm(grads, n);
    // float arithmetic, as clip_grad_norm_ does on its float32 norm tensor
    float coef = max_norm / (norm + 1e-6f);
    if (coef < 1.0f) scale_inplace(grads, n, coef);
    return norm;
}

void ema_update(float *ema, const float *params, size_t n, float decay) {
    // ema.mul_(d).add_(p, alpha=1-d), as the SiT/REPA training scripts update theirs; 1 - d from
    // the float 0.9999f would be 2e-4 off relative to the intended 1e-4.
    float a = (float)(1.0 - as_decimal(decay));
    #pragma omp parallel for if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) ema[i] = ema[i] * decay + a * params[i];
}
