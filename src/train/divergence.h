// divergence.h: the divergence watch, the other half of TRAIN_DIVERGED. A NaN/Inf loss stops a
// run inside trainer_step; a loss that blows up to 1e8 but stays finite (train.lr=10 on the tiny
// recipe: kl 1e10, diffusion 1e8 from its second step on) trained on to "done". This watch
// flags it. It is pure (no trainer, no I/O): one step's loss values in, a verdict out.
//
// The rule, per loss, fed once per step:
//   - lowest: the lowest finite value since the watch began, warm-up steps included (a run can
//     blow up at its second step, as lr=10 does; a lowest taken only after the warm-up would
//     be the blown-up value and never fire).
//   - limit: max(DIVERGE_FLOOR, DIVERGE_FACTOR x lowest). The floor keeps losses that start near
//     0 and grow as they should (kl from a fresh encoder) from ever firing: no healthy loss of
//     these models comes near 1e6 (recon, diffusion, align, smooth are O(1), kl with w_kl=1e-6
//     O(10^2..10^4)). The factor scales the limit for a loss whose healthy level is itself large.
//   - it fires when a loss has been above its limit for DIVERGE_PATIENCE consecutive steps
//     (a single spike, which AdamW and clipping usually absorb, resets when the loss comes back)
//     and only once more than DIVERGE_WARMUP steps were fed (the first steps of a fresh run are
//     the most violent and often recover).
// NaN values (a loss not computed this step, such as diffusion without a SiT pass) change
// nothing and reset that loss's count.
//
// With several MPI ranks the caller feeds the losses averaged across ranks (the values
// trainer_step returns), so that every rank reaches the same verdict at the same step.
// The watch starts with the process: a resumed run begins a fresh warm-up and lowest.
#ifndef REPAE_DIVERGENCE_H
#define REPAE_DIVERGENCE_H

#define DIVERGE_WARMUP 50
#define DIVERGE_PATIENCE 10
#define DIVERGE_FLOOR 1e6
#define DIVERGE_FACTOR 1e4
#define DIVERGE_MAX 8 // losses one watch follows

typedef struct {
    int n;      // losses watched
    long steps; // steps fed
    double lowest[DIVERGE_MAX];
    int above[DIVERGE_MAX]; // consecutive steps above the limit, up to now
} Divergence;

// A watch over n (1..DIVERGE_MAX) losses.
void divergence_init(Divergence *d, int n);
// Feeds one step's n loss values. Returns the index of the first loss that has diverged at this
// step (above its limit for DIVERGE_PATIENCE steps, past the warm-up), or -1.
int divergence_step(Divergence *d, const float *x);
// Loss i's current limit, max(DIVERGE_FLOOR, DIVERGE_FACTOR x its lowest), for messages.
double divergence_limit(const Divergence *d, int i);

#endif
