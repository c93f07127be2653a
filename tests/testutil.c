// testutil.c: see testutil.h.
#include "testutil.h"
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "base/util.h"

float test_unit64(uint64_t *state) {
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)(*state >> 40) / (float)(1 << 24);
}

float test_urand(uint64_t *state) { return test_unit64(state) * 2.0f - 1.0f; }

void test_fill(float *x, size_t n, uint64_t *state, float scale, float offset) {
    for (size_t i = 0; i < n; i++) x[i] = test_urand(state) * scale + offset;
}

float test_unit32(uint32_t *state) {
    *state = *state * 1664525u + 1013904223u;
    return (float)(*state >> 8) / 16777216.0f;
}

float *test_rand_array(size_t n, uint32_t *state) {
    float *x = xmalloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = test_unit32(state) * 2.0f - 1.0f;
    return x;
}

float *test_copyf(const float *src, size_t n) {
    float *p = xmalloc((n + 1) * sizeof(float));
    if (n) memcpy(p, src, n * sizeof(float));
    return p;
}

float *test_zerosf(size_t n) { return xcalloc(n + 1, sizeof(float)); }

const char *test_key(const char *a, const char *b) {
    static char k[256];
    snprintf(k, sizeof k, "%s.%s", a, b);
    return k;
}

int test_load_prefixed(ParamTable *t, const SafeTensors *st, const char *prefix) {
    int missing = 0;
    char name[256];
    for (int i = 0; i < t->n; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, t->p[i].name);
        const StTensor *s = st_find(st, name);
        if (!s || s->numel != t->p[i].numel) { missing++; continue; }
        memcpy(t->data + t->p[i].offset, s->data, s->numel * sizeof(float));
    }
    return missing;
}

double test_rel_err(const float *a, const float *b, size_t n) {
    double d = 0, m = 1e-3;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (isnan(e)) return INFINITY; // a later finite error must not hide it
        if (e > d) d = e;
        if (fabs(b[i]) > m) m = fabs(b[i]);
    }
    return d / m;
}

double test_max_abs(const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) if (fabs(b[i]) > m) m = fabs(b[i]);
    return m;
}

// nftw calls back without a context pointer, so the first failure is reported right here.
static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)ftw;
    if (remove(path) == 0) return 0;
    fprintf(stderr, "test_rm_rf: could not remove %s (%s %s)\n", path, flag == FTW_DP ? "directory" : "file",
            strerror(errno));
    return -1;
}

int test_rm_rf(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0 && errno == ENOENT) return 0;
    // FTW_DEPTH: a directory after its contents; FTW_PHYS: links are removed, not followed.
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}
