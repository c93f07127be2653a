// sanity.c: see sanity.h.
#include "eval/sanity.h"
#include "eval/frechet.h"
#include "base/rng.h"
#include "base/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void images_box_blur(const float *x, long n, int C, int S, int radius, float *out) {
    size_t plane = (size_t)S * S;
#pragma omp parallel for
    for (long p = 0; p < n * C; p++) {
        const float *src = x + (size_t)p * plane;
        float *dst = out + (size_t)p * plane;
        float *tmp = xmalloc(plane * sizeof(float));
        // Separable mean over the window clipped at the border (no darkening at the edges).
        for (int i = 0; i < S; i++)
            for (int j = 0; j < S; j++) {
                double s = 0;
                int c = 0;
                for (int d = -radius; d <= radius; d++)
                    if (j + d >= 0 && j + d < S) { s += src[i * S + j + d]; c++; }
                tmp[i * S + j] = (float)(s / c);
            }
        for (int i = 0; i < S; i++)
            for (int j = 0; j < S; j++) {
                double s = 0;
                int c = 0;
                for (int d = -radius; d <= radius; d++)
                    if (i + d >= 0 && i + d < S) { s += tmp[(i + d) * S + j]; c++; }
                dst[i * S + j] = (float)(s / c);
            }
        free(tmp);
    }
}

void images_add_noise(const float *x, long n, size_t per, float sigma, uint64_t seed, float *out) {
    Rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < (size_t)n * per; i++) {
        float v = x[i] + sigma * rng_normal(&r);
        out[i] = v < -1 ? -1 : v > 1 ? 1 : v;
    }
}

int eval_sanity_run(Evaluator *ev, const float *a, const float *b, long n, uint64_t seed, EvalSanity *s, char *err) {
    const EncoderLayout *L = &ev->net.L;
    int C = L->channels, S = L->size, F = ev->F;
    size_t per = (size_t)C * S * S;
    memset(s, 0, sizeof *s);
    s->n = n;
    float *img = xmalloc((size_t)n * per * sizeof(float));
    float *fa = xmalloc((size_t)n * F * sizeof(float)), *fx = xmalloc((size_t)n * F * sizeof(float));
    int rc = -1;
    evaluator_run(ev, a, n, fa, NULL);
    evaluator_run(ev, b, n, fx, NULL);
    if (fd_features(fa, n, fx, n, F, &s->floor, err)) goto done;
    for (int i = 0; i < 2; i++) {
        images_box_blur(b, n, C, S, i + 1, img);
        evaluator_run(ev, img, n, fx, NULL);
        if (fd_features(fa, n, fx, n, F, &s->blur[i], err)) goto done;
        images_add_noise(b, n, per, i ? 0.5f : 0.2f, seed + (uint64_t)i, img);
        evaluator_run(ev, img, n, fx, NULL);
        if (fd_features(fa, n, fx, n, F, &s->noise[i], err)) goto done;
    }
    memset(img, 0, (size_t)n * per * sizeof(float));
    evaluator_run(ev, img, n, fx, NULL);
    if (fd_features(fa, n, fx, n, F, &s->grey, err)) goto done;
    Rng r;
    rng_seed(&r, seed + 7);
    rng_fill_uniform(&r, img, (size_t)n * per, -1.0f, 1.0f);
    evaluator_run(ev, img, n, fx, NULL);
    if (fd_features(fa, n, fx, n, F, &s->uniform, err)) goto done;
    rc = 0;
done:
    free(img); free(fa); free(fx);
    return rc;
}

int eval_sanity_check(const EvalSanity *s, char *why) {
    const char *fix = "its features cannot rank generators: retrain it (`repae evaluator train`, more steps) "
                      "or pass another with --evaluator";
    if (!(s->floor < s->blur[0] && s->blur[0] < s->blur[1]))
        return seterr(why, "the evaluation network does not see blur: FD real %.4g, blurred r=1 %.4g, r=2 %.4g at n = %ld "
                           "(must rise); %s", s->floor, s->blur[0], s->blur[1], s->n, fix);
    if (!(s->floor < s->noise[0] && s->noise[0] < s->noise[1]))
        return seterr(why, "the evaluation network does not see noise: FD real %.4g, noise 0.2 %.4g, noise 0.5 %.4g at "
                           "n = %ld (must rise); %s", s->floor, s->noise[0], s->noise[1], s->n, fix);
    double mild = s->blur[0] > s->noise[0] ? s->blur[0] : s->noise[0];
    if (!(s->grey > SANITY_TRIVIAL_FACTOR * mild && s->uniform > SANITY_TRIVIAL_FACTOR * mild))
        return seterr(why, "the evaluation network scores a trivial set near the data: FD of one grey image %.4g, of "
                           "uniform noise %.4g, but of slightly blurred/noisy data %.4g (need %gx that) at n = %ld; %s",
                      s->grey, s->uniform, mild, SANITY_TRIVIAL_FACTOR, s->n, fix);
    return 0;
}

void eval_sanity_str(const EvalSanity *s, char *buf, size_t n) {
    snprintf(buf, n, "floor %.4g  blur %.4g/%.4g  noise %.4g/%.4g  grey %.4g  uniform %.4g", s->floor, s->blur[0],
             s->blur[1], s->noise[0], s->noise[1], s->grey, s->uniform);
}
