// trainer_dist.h: what one data-parallel training step combines across the ranks (dist.h), for
// trainer.c's passes. Every call is a no-op on one process (tr->dist NULL).
//
// Gradients go as soon as the backward has finished each piece, in the same order on every
// rank (the passes run in a fixed order), so a run stays reproducible for a given world size:
// the SiT's pieces during its last backward of the step (sit.h, grad_ready: the final layer,
// the blocks from the last to the first, the embedders), then the projector's, then the VAE
// decoder's half after the decoder's backward, then the encoder's after the encoder's.
// dist_grads_wait completes them all before the gradient norms.
#ifndef REPAE_TRAINER_DIST_H
#define REPAE_TRAINER_DIST_H
#include "train/trainer.h"

// The shares' losses (means over each rank's B images) become the global batch's: their average.
void trainer_reduce_metrics(Trainer *tr, float *vals);
// Starts averaging n gradient floats at g over the ranks (bucketed, not waited for).
void trainer_reduce_grads(Trainer *tr, float *g, size_t n);
// on: the SiT's next backward is the step's last one with parameter gradients (after it they
// are final), and starts each piece as it finishes it; 0: disarms that.
void trainer_sit_reduce_during(Trainer *tr, int on);
// decoder: the VAE's half its backward finishes first (decoder.*, post_quant_conv); else the
// rest (encoder.*, quant_conv).
void trainer_reduce_vae_half(Trainer *tr, int decoder);
// on: the VAE's backwards, stage by stage, move the reductions in flight on (dist_progress):
// the SiT's and the decoder's pieces travel while the decoder and the encoder compute, not
// only at the wait. 0: disarms that.
void trainer_vae_progress_during(Trainer *tr, int on);

#endif
