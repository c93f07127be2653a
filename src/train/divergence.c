// divergence.c: the divergence watch (the rule is in divergence.h).
#include "train/divergence.h"
#include <math.h>

void divergence_init(Divergence *d, int n) {
    d->n = n < 1 ? 1 : n > DIVERGE_MAX ? DIVERGE_MAX : n;
    d->steps = 0;
    for (int i = 0; i < DIVERGE_MAX; i++) {
        d->lowest[i] = INFINITY;
        d->above[i] = 0;
    }
}

double divergence_limit(const Divergence *d, int i) {
    double l = DIVERGE_FACTOR * d->lowest[i]; // lowest is +inf until a finite value came
    return l > DIVERGE_FLOOR && l < INFINITY ? l : DIVERGE_FLOOR;
}

int divergence_step(Divergence *d, const float *x) {
    d->steps++;
    int fired = -1;
    for (int i = 0; i < d->n; i++) {
        double v = x[i];
        if (isnan(v)) { d->above[i] = 0; continue; }
        if (isfinite(v) && v < d->lowest[i]) d->lowest[i] = v;
        d->above[i] = v > divergence_limit(d, i) ? d->above[i] + 1 : 0;
        if (fired < 0 && d->steps > DIVERGE_WARMUP && d->above[i] >= DIVERGE_PATIENCE) fired = i;
    }
    return fired;
}
