// optim.c: AdamW, global-norm clipping and EMA, each one flat loop over a parameter family.
// The norm sums in double over a fixed split into NBLK blocks added in block order (eight
// partial sums within a block), so it is bit-identical whatever the thread count (resumed
// training must reproduce its steps exactly).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "ops/ops.h"
#include "ops/vecmath.h"
#ifdef __AVX__
#include <immintrin.h>
#endif

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

// One range of AdamW. GCC keeps the plain loop scalar: sqrtf's errno path (for negative inputs,
// which vi never is) is a call per element it cannot vectorise, and neither the optimize
// attribute nor a pragma reaches it here. So AVX builds run eight lanes by hand, the same
// operations in the same order (no contraction in ISO C mode: -std=c11 sets -ffp-contract=off),
// which gives the scalar loop's results bit for bit.
typedef struct {
    float decay, b1, b2, a1, a2, bc2s, eps, step;
} AdamScalars;

static void adamw_range(float *restrict params, const float *restrict grads, float *restrict m, float *restrict v,
                        size_t lo, size_t hi, AdamScalars k) {
    size_t i = lo;
#ifdef __AVX__
    const __m256 decay = _mm256_set1_ps(k.decay), b1 = _mm256_set1_ps(k.b1), b2 = _mm256_set1_ps(k.b2),
                 a1 = _mm256_set1_ps(k.a1), a2 = _mm256_set1_ps(k.a2), bc2s = _mm256_set1_ps(k.bc2s),
                 eps = _mm256_set1_ps(k.eps), step = _mm256_set1_ps(k.step);
    for (; i + 8 <= hi; i += 8) {
        __m256 g = _mm256_loadu_ps(grads + i);
        __m256 p = _mm256_mul_ps(_mm256_loadu_ps(params + i), decay);
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(m + i), b1), _mm256_mul_ps(a1, g));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(v + i), b2), _mm256_mul_ps(_mm256_mul_ps(a2, g), g));
        __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), bc2s), eps);
        _mm256_storeu_ps(params + i, _mm256_add_ps(p, _mm256_mul_ps(step, _mm256_div_ps(mi, denom))));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
    }
#endif
    for (; i < hi; i++) {
        float g = grads[i];
        float p = params[i] * k.decay;
        float mi = m[i] * k.b1 + k.a1 * g;
        float vi = v[i] * k.b2 + k.a2 * g * g;
        float denom = sqrtf(vi) / k.bc2s + k.eps;
        params[i] = p + k.step * (mi / denom);
        m[i] = mi;
        v[i] = vi;
    }
}

void adamw_update(float *params, const float *grads, float *m, float *v, size_t n,
                  float lr, float beta1, float beta2, float eps, float weight_decay, int t) {
    // Scalars as torch.optim.AdamW forms them: Python doubles, rounded to float when applied.
    double dlr = as_decimal(lr), db1 = as_decimal(beta1), db2 = as_decimal(beta2);
    double bc1 = 1.0 - pow(db1, t), bc2 = 1.0 - pow(db2, t);
    AdamScalars k = {(float)(1.0 - dlr * as_decimal(weight_decay)), beta1, beta2, (float)(1.0 - db1),
                     (float)(1.0 - db2), (float)sqrt(bc2), eps, (float)(-dlr / bc1)};
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int b = 0; b < NBLK; b++) adamw_range(params, grads, m, v, blk_lo(n, b), blk_lo(n, b + 1), k);
}

float global_norm(const float *grads, size_t n) {
    double part[NBLK];
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int k = 0; k < NBLK; k++) {
        // Eight partial sums (ops_dot): one running double sum was a serial chain of adds,
        // 4.6 ms for fm32-small's 6.87 M gradients on one thread, called twice a step.
        const float *g = grads + blk_lo(n, k);
        part[k] = ops_dot(g, g, blk_lo(n, k + 1) - blk_lo(n, k));
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
