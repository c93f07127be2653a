// rng.h: a small seeded RNG (xoshiro256**) owned by whoever uses it; no global state,
// so two runs in one process never share a stream. The state is 32 bytes and is saved
// in the training-state file so that a resumed run draws the same numbers.
#ifndef REPAE_RNG_H
#define REPAE_RNG_H
#include <stdint.h>
#include <stddef.h>

typedef struct { uint64_t s[4]; } Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_u64(Rng *r);
float rng_uniform(Rng *r);              // [0, 1)
float rng_normal(Rng *r);               // standard normal
uint32_t rng_below(Rng *r, uint32_t n); // [0, n)
void rng_fill_normal(Rng *r, float *x, size_t n, float std);
void rng_fill_uniform(Rng *r, float *x, size_t n, float lo, float hi);

#endif
