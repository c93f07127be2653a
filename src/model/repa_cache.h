// repa_cache.h: the per-token REPA targets of a whole dataset, computed once and read by
// sample index (as REPA-E caches its encoder features), so that training looks targets up
// instead of running the target encoder on every batch. The targets are of the clean images,
// with no augmentation: exactly what repa_targets computes for the same images.
//
// File: beside the encoder, "<encoder minus .safetensors>.targets-<key>.bin", key = a hash of
// (the encoder file's content hash, the dataset settings, the split's length, the token grid).
// Layout: a 64-byte header (magic "REPAETGT", version, n, T, F, the encoder content hash, the
// key hash, the data checksum), then n*T*F float32, memory-mapped read-only. A file whose
// header or checksum does not match (stale, truncated, corrupt) is never used: it is rebuilt
// (written to a temporary file and renamed) when the caller allows, else refused with an error.
//
// ---- Wiring into the trainer (src/train/trainer.c, align.kind = "repa", a dataset) ---------------
//   after repa_target_open_for(&tr->tgt, ...):
//     repa_cache_open(&tr->tcache, &tr->tgt, &c->data, tr->data, 1, log, ctx, err)   (0, or -1 + err)
//   in trainer_draw_inputs, around the loader:
//     LoaderState before = loader_state(&tr->loader);
//     loader_next_part(&tr->loader, tr->Bg, tr->off, B, tr->x, tr->y);
//     tr->have_idx = repa_batch_indices(&tr->loader, before, tr->off, B, tr->idx) == 0;
//   and instead of repa_targets(&tr->tgt, tr->x, tr->B, tr->targets):
//     repa_targets_cached(&tr->tgt, &tr->tcache, tr->have_idx ? tr->idx : NULL, tr->x, tr->B, tr->targets);
//   repa_cache_close(&tr->tcache) beside repa_target_free. Without a dataset (synthetic inputs)
//   leave the cache closed (memset 0): repa_targets_cached then computes.
#ifndef REPAE_REPA_CACHE_H
#define REPAE_REPA_CACHE_H
#include "model/repa.h"

typedef struct {
    int n, T, F;
    const float *data;    // (n,T,F), NULL when closed
    void *map;
    size_t map_len;
    char path[1100];
} RepaCache;

// Opens (or, with build != 0, builds when absent, stale or corrupt) the cache of the first
// dataset_len(ds) images of ds for target t (opened with repa_target_open_for, which records
// its file in t->path). While it builds, log (may be NULL: silent) gets progress lines; the
// caller decides where they go (stderr in the CLI, the notice line in the dashboard). Returns
// 0, or -1 with err.
typedef void (*RepaCacheLog)(void *ctx, const char *line);
int repa_cache_open(RepaCache *c, RepaTarget *t, const DataConfig *dc, const Dataset *ds, int build, RepaCacheLog log,
                    void *ctx, char *err);
// The cache file for these settings (what repa_cache_open reads or writes).
int repa_cache_path(const RepaTarget *t, const DataConfig *dc, const Dataset *ds, char *buf, size_t n, char *err);
void repa_cache_close(RepaCache *c);
// out (B,T,F) = the cached targets of dataset images idx[0..B-1].
void repa_cache_lookup(const RepaCache *c, const int *idx, int B, float *out);
// The cached targets when the cache is open and idx is given, else repa_targets on x.
void repa_targets_cached(RepaTarget *t, const RepaCache *c, const int *idx, const float *x, int B, float *out);
// The dataset indices of this process's share (off .. off+cnt-1) of the batch the latest
// loader_next_part drew, given the loader state before that call. -1 when the batch crossed an
// epoch boundary (the earlier epoch's order is gone: compute the targets for that one batch).
int repa_batch_indices(const Loader *l, LoaderState before, int off, int cnt, int *idx);

#endif
