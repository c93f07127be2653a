// memory.c: the up-front memory estimate and check. The estimate is a dry run of the builders
// (trainer_build with TRAINER_COUNT): every table is registered and sized exactly as the run
// would, without allocating, and the totals are read back, so a change to any layer's layout
// is counted without a second description of it. tests/test_train_memory.c holds the estimate
// to the allocations of built trainers.
#include "train/train.h"
#include "train/trainer.h"
#include "base/sysmem.h"
#include "base/fmt.h"
#include "base/util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

// Floats a built or counted trainer holds, summed in double from its tables.
static double trainer_floats(const Trainer *tr) {
    const Model *m = &tr->m;
    // Every table is zeroed when its part is absent (no repa: no projector, no target encoder).
    // (no GAN term: no discriminator).
    const ParamTable *pt[] = {&m->vae.params, &m->sit.params, &m->bn.params, &tr->proj.params, &tr->tgt.enc.params,
                              &tr->disc.params};
    const BufTable *bt[] = {&m->vae.acts, &m->sit.acts, &tr->bufs, &tr->proj.acts, &tr->tgt.enc.acts, &tr->disc.acts};
    double f = (double)m->vae.ws.cap + (double)tr->tgt.enc.ws.cap + (double)tr->disc.ws.cap;
    for (size_t i = 0; i < sizeof pt / sizeof *pt; i++) f += (double)pt[i]->total + (double)pt[i]->ngrad;
    for (size_t i = 0; i < sizeof bt / sizeof *bt; i++) f += buf_floats(bt[i]);
    // trainer_build's own allocations: AdamW moments of both sides, the SiT EMA and its backup;
    // the projector's moments and EMA; three int labels per image; the discriminator's moments.
    f += 2.0 * m->vae.params.ntrain + 2.0 * m->sit.params.ntrain + 2.0 * m->sit.params.total;
    f += 3.0 * tr->proj.params.ntrain + 3.0 * tr->B;
    f += 2.0 * tr->disc.params.ntrain; // the discriminator's AdamW moments
    return f;
}

// Floats of cfg's trainer at batch B, from a dry run. -1 if it cannot be built.
static int counted_floats(const Config *cfg, int B, double *floats) {
    Trainer *tr = xcalloc(1, sizeof *tr);
    Config c = *cfg;
    c.train.batch_size = B;
    char err[ERRLEN];
    int rc = trainer_build(tr, &c, TRAINER_COUNT, err);
    if (rc == 0) {
        *floats = trainer_floats(tr);
        trainer_free(tr);
    }
    free(tr);
    return rc;
}

// The slope at large batches is measured between these: scratch sized for a few images (4 for
// a VAE conv, 16 for an upsampling conv, up to 4096 for the target encoder's smallest maps)
// stops growing before them, and the largest scratch of a few images gives way to one that
// grows with the batch.
#define SLOPE_B1 4096
#define SLOPE_B2 8192

double train_memory_estimate(const Config *cfg, double *per_image) {
    int B = cfg->train.batch_size;
    double f1, f2, est, a, b;
    if (B < 1 || counted_floats(cfg, 1, &f1) || counted_floats(cfg, 2, &f2)) return -1;
    // No part is more than B times its size at one image, so while B * f1 stays far below
    // size_t's range the dry runs at B and at the slope's batches are exact. Beyond it (an
    // absurd config, or one whose larger dry runs are refused) the sizes are extrapolated in
    // doubles from one and two images; that over-counts the scratch that stops growing after a
    // few images, which matters little for a config that size.
    double bmax = B > SLOPE_B2 ? B : SLOPE_B2, per;
    if (f1 * bmax < 1e18 && counted_floats(cfg, B, &est) == 0 && counted_floats(cfg, SLOPE_B1, &a) == 0 &&
        counted_floats(cfg, SLOPE_B2, &b) == 0) {
        per = (b - a) / (SLOPE_B2 - SLOPE_B1);
    } else {
        per = f2 - f1;
        est = f1 + (B - 1) * per;
    }
    if (per_image) *per_image = 4 * per;
    return 4 * est;
}

// Beyond the estimate: BLAS and thread buffers, the dataset, the store's writer, sampling.
#define MEM_SLACK_BYTES (128.0 * 1024 * 1024)
static double with_headroom(double est) { return est * 1.1 + MEM_SLACK_BYTES; }

int train_memory_check(const Config *cfg, char *err) {
    const char *what;
    double avail = sysmem_available(&what);
    if (avail < 0) return 0; // nothing to compare with: let the allocation decide
    double per, est = train_memory_estimate(cfg, &per);
    if (est < 0) return 0; // not buildable: trainer_build says why
    double need = with_headroom(est);
    if (need <= avail) return 0;
    double B = cfg->train.batch_size, fixed = est - B * per;
    if (fixed < 0) fixed = 0;
    char sneed[32], savail[32], sfixed[32], sacts[32], sper[32], advice[256];
    fmt_bytes(sneed, sizeof sneed, need);
    fmt_bytes(savail, sizeof savail, avail > 0 ? avail : 0);
    fmt_bytes(sfixed, sizeof sfixed, fixed);
    fmt_bytes(sacts, sizeof sacts, B * per);
    fmt_bytes(sper, sizeof sper, per);
    double bmax = per > 0 ? floor(((avail - MEM_SLACK_BYTES) / 1.1 - fixed) / per) : 0;
    if (bmax >= 1)
        snprintf(advice, sizeof advice, "lower train.batch_size to at most %.0f (about %s per image), or the model's "
                 "size (vae.ch, sit.hidden, sit.depth, data.image_size)", bmax, sper);
    else
        snprintf(advice, sizeof advice, "even one image per batch does not fit: lower the model's size (vae.ch, "
                 "sit.hidden, sit.depth, sit.patch up, data.image_size)");
    return seterr(err, "this config needs about %s of memory (%s for weights, gradients and optimiser state; %s "
                  "for the activations of train.batch_size=%.0f) but only %s is available (%s): %s",
                  sneed, sfixed, sacts, B, savail, what, advice);
}
