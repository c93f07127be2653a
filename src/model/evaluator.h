// evaluator.h: the evaluation network of the generation metrics. It is the CNN of encoder.h
// with another layout (evaluator_layout_default: other widths, one more stage, one conv per
// stage) trained from another seed, so that the metric does not reward samples for matching
// the very features the REPA target encoder taught the SiT. For a set of images it gives the
// penultimate features (the pooled last stage, for FD) and the class probabilities (for the
// Inception-style score and the class accuracy of conditional samples).
#ifndef REPAE_EVALUATOR_H
#define REPAE_EVALUATOR_H
#include "model/encoder.h"

typedef struct {
    Encoder net;
    int F, K;      // feature width, classes
} Evaluator;

// Loads path ("" or NULL = encoder_default_path("evaluator", dataset)) for images
// (channels, size). A missing file names the command that writes it.
int evaluator_open(Evaluator *ev, const char *path, const char *dataset, int channels, int size, int max_batch,
                   char *err);
void evaluator_free(Evaluator *ev);
// n images (n,C,S,S) in [-1, 1] -> feats (n,F) and probs (n,K) (either may be NULL), in
// batches of the evaluator's max_batch.
void evaluator_run(Evaluator *ev, const float *images, long n, float *feats, float *probs);

#endif
