// ssl_probe.h: what a REPA target encoder's targets are worth, on held-out images (what
// `repae encoder train` reports and records, docs/encoder.md):
//   - the linear probe: a logistic regression on the frozen pooled features (the token mean of
//     the target stage, standardised), trained briefly on training images and scored on the
//     test split: how much class information the representation holds;
//   - the lookup baseline: the alignment (-cos, REPA's loss) reached by predicting each image's
//     per-token targets from its (class, token position) mean, fitted on training images
//     0..nfit-1 and scored on nfit..nfit+nscore-1 (the audit's protocol), and the same from the
//     position alone. The closer the lookup gets to -1, the more of what REPA asks for is the label.
// Run on a random-init encoder of the same layout they give the baseline of no learning.
#ifndef REPAE_SSL_PROBE_H
#define REPAE_SSL_PROBE_H
#include "model/encoder.h"

typedef struct {
    double probe_acc;        // linear-probe test accuracy
    double lookup_align;     // (class, position) means: mean -cos on the scored images
    double position_align;   // position means alone
    int nfit, nscore, nprobe_test;
} SslProbe;

// Per-token targets of images i0..i0+n-1 of ds on the grid x grid token grid (the stage
// repa_pick_stage picks): out (n, T, F); labels (n, may be NULL).
int ssl_dataset_targets(Encoder *e, int grid, const Dataset *ds, int i0, int n, float *out, int *labels, char *err);
// Both measures. nfit + nscore <= len(train) (smaller datasets: halves of it); the probe trains
// on the nfit fitted images and is scored on up to nprobe_test test images.
int ssl_probe_run(Encoder *e, int grid, const Dataset *train, const Dataset *test, int nfit, int nscore,
                  int nprobe_test, SslProbe *out, char *err);

#endif
