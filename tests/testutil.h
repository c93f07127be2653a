// testutil.h: helpers the C tests share, once: deterministic test inputs, reference-file keys
// and weights, relative errors and temporary-directory cleanup. tests/testutil.c is built into
// build/libtests.a with the other non-test_*.c files, so every test binary links it; test.h
// (the framework) stays header-only and independent of it.
#ifndef REPAE_TESTUTIL_H
#define REPAE_TESTUTIL_H
#include <stddef.h>
#include <stdint.h>
#include "base/safetensors.h"
#include "model/params.h"

// ---- deterministic inputs --------------------------------------------------------------------
// Two tiny linear congruential generators, for test inputs only (the product draws from
// base/rng.h). Each keeps its state in the caller's variable, so a test's inputs depend only
// on its own seed. Both return the top 24 bits, which a float holds exactly.

// Knuth's MMIX LCG (64-bit): a float in [0, 1).
float test_unit64(uint64_t *state);
// The same generator, in [-1, 1).
float test_urand(uint64_t *state);
// x[i] = test_urand(state) * scale + offset for i < n.
void test_fill(float *x, size_t n, uint64_t *state, float scale, float offset);
// The Numerical Recipes LCG (32-bit): a float in [0, 1).
float test_unit32(uint32_t *state);
// A new array (xmalloc, at least one element, free() it) of n test_unit32 draws mapped to [-1, 1).
float *test_rand_array(size_t n, uint32_t *state);
// A new copy of n floats, and n zeros (both with one spare element, so n may be 0).
float *test_copyf(const float *src, size_t n);
float *test_zerosf(size_t n);

// ---- reference files -------------------------------------------------------------------------
// "a.b", the names of the per-case tensors in tests/ref files. The string lives in a static
// buffer until the next call: use it at once (REF_TENSOR(x, st, test_key(name, "x"), n)).
const char *test_key(const char *a, const char *b);
// Copies every tensor "<prefix><name>" of st into t's parameters; returns how many were missing
// or had the wrong element count (those are left as they were).
int test_load_prefixed(ParamTable *t, const SafeTensors *st, const char *prefix);

// ---- comparisons -----------------------------------------------------------------------------
// max |a - b| / max(max |b|, 1e-3): the error relative to the tensor's scale. References that
// are all but zero (the key bias of softmax attention has an exactly zero gradient) are
// measured against 1e-3 instead. A NaN anywhere gives infinity.
double test_rel_err(const float *a, const float *b, size_t n);
// max |b|.
double test_max_abs(const float *b, size_t n);

// ---- files -----------------------------------------------------------------------------------
// Removes path and everything below it, like `rm -rf` but without a shell (no quoting of odd
// names) and without following symbolic links. A missing path is success. On failure it prints
// what could not be removed to stderr and returns -1.
int test_rm_rf(const char *path);

#endif
