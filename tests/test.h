// test.h: the tiny test framework every tests/test_*.c uses (header only).
// Each test binary prints one line per test, "PASS name" or "FAIL name: why", and exits
// non-zero if any failed; tests/run.sh runs all binaries and prints "N passed, N failed".
//
//   TEST(conv_forward_matches_torch) { ... CHECK(cond, "fmt", ...); ... }
//   int main(void) { RUN(conv_forward_matches_torch); return test_summary(); }
#ifndef REPAE_TEST_H
#define REPAE_TEST_H
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/safetensors.h"
#include "base/util.h"

static __attribute__((unused)) int test_failed_, test_npass_, test_nfail_;
static char test_msg_[1024];

static __attribute__((unused)) void test_fail_(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    int n = snprintf(test_msg_, sizeof test_msg_, "%s:%d: ", file, line);
    va_start(ap, fmt);
    vsnprintf(test_msg_ + n, sizeof test_msg_ - n, fmt, ap);
    va_end(ap);
    test_failed_ = 1;
}

#define TEST(name) static void name(void)
#define CHECK(cond, ...) do { if (!(cond)) { test_fail_(__FILE__, __LINE__, __VA_ARGS__); return; } } while (0)
#define RUN(name) test_run_(#name, name)

static __attribute__((unused)) void test_run_(const char *name, void (*fn)(void)) {
    test_failed_ = 0;
    test_msg_[0] = 0;
    fn();
    if (test_failed_) { printf("FAIL %s: %s\n", name, test_msg_); test_nfail_++; }
    else { printf("PASS %s\n", name); test_npass_++; }
    fflush(stdout);
}

static __attribute__((unused)) int test_summary(void) { return test_nfail_ ? 1 : 0; }

// ---- comparisons ----------------------------------------------------------------------------
// Largest |a-b| / (atol + rtol*|b|) over n values; <= 1 means close. *worst gets the index.
static __attribute__((unused)) double test_close_ratio(const float *a, const float *b, size_t n, double rtol, double atol, size_t *worst) {
    double r = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]) / (atol + rtol * fabs((double)b[i]));
        if (!(d <= r)) { r = d; wi = i; } // NaN counts as the worst
        if (isnan(d)) { r = INFINITY; wi = i; break; }
    }
    if (worst) *worst = wi;
    return r;
}

// CHECK_CLOSE(got, want, n, rtol, atol, "what")
#define CHECK_CLOSE(got, want, n, rtol, atol, what) do { size_t wi_; \
    double r_ = test_close_ratio((got), (want), (n), (rtol), (atol), &wi_); \
    CHECK(r_ <= 1.0, "%s: element %zu is %.8g, want %.8g (rtol %g atol %g)", (what), wi_, \
          (double)(got)[wi_], (double)(want)[wi_], (double)(rtol), (double)(atol)); } while (0)

// Loads a reference file or fails the test (run `make refs` to regenerate).
#define LOAD_REF(st, path) do { char e_[ERRLEN]; \
    CHECK(st_read(&(st), (path), e_) == 0, "reference %s: %s (regenerate with `make refs`)", (path), e_); } while (0)

// Finds a tensor in a reference file, checking its element count.
#define REF_TENSOR(var, st, name, count) const float *var = NULL; do { \
    const StTensor *t_ = st_find(&(st), (name)); \
    CHECK(t_, "reference lacks tensor '%s'", (name)); \
    CHECK(t_->numel == (size_t)(count), "reference '%s' has %zu elements, want %zu", (name), t_->numel, (size_t)(count)); \
    var = t_->data; } while (0)

// ---- finite differences ---------------------------------------------------------------------
// loss(ctx) runs the forward pass and returns a scalar (usually sum(out * probe)).
typedef double (*test_loss_fn)(void *ctx);

// Central differences on up to max_checks entries of x (spread over the array) against the
// analytic gradient. Returns the worst ratio |a - fd| / (atol + rtol*max(|a|,|fd|)), <= 1 passes.
static __attribute__((unused)) double test_gradcheck(float *x, const float *analytic, size_t n, test_loss_fn loss, void *ctx,
                             float h, double rtol, double atol, size_t max_checks, size_t *worst,
                             double *worst_a, double *worst_fd) {
    double r = 0;
    size_t step = n > max_checks ? n / max_checks : 1;
    for (size_t i = 0; i < n; i += step) {
        float orig = x[i];
        x[i] = orig + h;
        double lp = loss(ctx);
        x[i] = orig - h;
        double lm = loss(ctx);
        x[i] = orig;
        double fd = (lp - lm) / (2.0 * h);
        double a = analytic[i];
        double m = fabs(a) > fabs(fd) ? fabs(a) : fabs(fd);
        double d = fabs(a - fd) / (atol + rtol * m);
        if (!(d <= r)) { r = d; if (worst) *worst = i; if (worst_a) *worst_a = a; if (worst_fd) *worst_fd = fd; }
    }
    return r;
}

#define CHECK_GRAD(x, analytic, n, lossfn, ctx, h, rtol, atol, what) do { \
    size_t wi_ = 0; double wa_ = 0, wf_ = 0; \
    double r_ = test_gradcheck((x), (analytic), (n), (lossfn), (ctx), (h), (rtol), (atol), 64, &wi_, &wa_, &wf_); \
    CHECK(r_ <= 1.0, "%s: gradient at %zu is %.6g, finite difference %.6g (h %g rtol %g atol %g)", (what), \
          wi_, wa_, wf_, (double)(h), (double)(rtol), (double)(atol)); } while (0)

// got[i] == want[i] for every i (-0 equals +0; a NaN in either fails): the ops' "_set"
// variants must give exactly the values of adding into zeros.
#define CHECK_SAME_VALUES(got, want, n, what) do { size_t i_ = 0; \
    while (i_ < (size_t)(n) && (got)[i_] == (want)[i_]) i_++; \
    CHECK(i_ == (size_t)(n), "%s: element %zu is %.9g, want %.9g", (what), i_, (double)(got)[i_], \
          (double)(want)[i_]); } while (0)

// sum(a*b) in double: the usual probe loss for gradient checks.
static __attribute__((unused)) double test_dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

#endif
