// targets.c: what the trainer takes from the frozen target encoder besides the REPA pass:
// the cache of the per-token targets of the training split (model/repa_cache.h), and the
// perceptual term on the reconstructions (loss.w_perc, model/perceptual.h, LPIPS's stand-in).
#include "train/trainer.h"
#include "base/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int trainer_open_cache(Trainer *tr, RepaCacheLog log, void *ctx, char *err) {
    // Synthetic inputs (bench, tests) and an encoder built in place have nothing to cache:
    // repa_targets_cached then computes every step, as it did before the cache.
    if (tr->align != ALIGN_REPA || !tr->data || !tr->tgt.path[0]) return 0;
    if (repa_cache_open(&tr->tcache, &tr->tgt, &tr->cfg.data, tr->data, 1, log, ctx, err)) {
        char e2[ERRLEN];
        snprintf(e2, sizeof e2, "%s", err);
        return seterr(err, "align.kind \"repa\": %s", e2);
    }
    return 0;
}

void trainer_note_batch(Trainer *tr, LoaderState before) {
    tr->have_idx = tr->data && tr->idx && repa_batch_indices(&tr->loader, before, tr->off, tr->B, tr->idx) == 0;
}

void trainer_targets(Trainer *tr) {
    repa_targets_cached(&tr->tgt, &tr->tcache, tr->have_idx ? tr->idx : NULL, tr->x, tr->B, tr->targets);
}

void trainer_targets_free(Trainer *tr) {
    repa_cache_close(&tr->tcache);
    free(tr->idx);
    tr->idx = NULL;
}

// ---- the perceptual term -------------------------------------------------------------------------

int perc_build(Trainer *tr, int mode, char *err) {
    const Config *c = &tr->cfg;
    Model *m = &tr->m;
    tr->perc_on = c->loss.w_perc > 0 && c->train.train_vae;
    // A dry run (memory estimate) counts nothing for it: the copy of the encoder and its
    // feature buffers are small beside the VAE's activations (documented in docs/encoder.md).
    if (!tr->perc_on || (mode & TRAINER_COUNT)) { tr->perc_on = 0; return 0; }
    int rc;
    if (tr->align == ALIGN_REPA) rc = perceptual_build(&tr->perc, &tr->tgt.enc, tr->B, err);
    else if ((mode & TRAINER_SYNTHETIC) && !c->align.encoder[0]) {
        // Bench and tests: a random encoder of the default layout, as repa_build does.
        Encoder e;
        EncoderLayout L = encoder_layout_default(m->C, m->S, m->num_classes > 0 ? m->num_classes : 10);
        if (encoder_build(&e, &L, tr->B, 0, err)) return -1;
        Rng r;
        rng_seed(&r, (uint64_t)c->train.seed ^ 0xe7c0dedULL);
        encoder_init(&e, &r);
        rc = perceptual_build(&tr->perc, &e, tr->B, err);
        encoder_free(&e);
    } else {
        // The same file align.target / align.encoder name for REPA (kind checked there).
        RepaTarget t;
        rc = repa_target_open_for(&t, c->align.target, c->align.encoder, c->data.dataset, m->C, m->S, m->sit.gh,
                                  m->sit.gw, tr->B, err);
        if (!rc) {
            rc = perceptual_build(&tr->perc, &t.enc, tr->B, err);
            repa_target_free(&t);
        }
    }
    if (rc) {
        char e2[ERRLEN];
        snprintf(e2, sizeof e2, "%s", err);
        tr->perc_on = 0;
        return seterr(err, "loss.w_perc: %s", e2);
    }
    return 0;
}

void perc_free(Trainer *tr) {
    if (tr->perc_on) perceptual_free(&tr->perc);
    tr->perc_on = 0;
}

void perc_forward_pass(Trainer *tr, const float *xr, float *vals) {
    vals[M_PERC] = tr->perc_on ? perceptual_forward(&tr->perc, tr->x, xr, tr->B) : NAN;
}

void perc_backward_pass(Trainer *tr, float *dxr) {
    if (tr->perc_on) perceptual_backward(&tr->perc, dxr, tr->cfg.loss.w_perc);
}
