// data.c: dataset dispatch, access to stored images, and the shuffling Loader.
#include "data/data.h"
#include <stdlib.h>
#include <string.h>
#include "data/data_impl.h"
#include "base/rng.h"
#include "base/util.h"

void dataset_select(DataConfig *cfg, const char *name, int keep_size) {
    snprintf(cfg->dataset, sizeof cfg->dataset, "%s", name);
    if (strcmp(name, "fashion-mnist") == 0) { cfg->channels = 1; cfg->image_size = 32; }
    else if ((strcmp(name, "shapes") == 0 || strcmp(name, "simple-shapes") == 0) && !keep_size) {
        cfg->channels = 3;
        cfg->image_size = 16;
    }
}

int dataset_open(Dataset **out, const DataConfig *cfg, int split, char *err) {
    *out = NULL;
    if (split != DATA_TRAIN && split != DATA_TEST) return seterr(err, "dataset: split %d is neither train nor test", split);
    if (cfg->channels != 1 && cfg->channels != 3)
        return seterr(err, "data.channels: %d is not allowed: must be 1 or 3", cfg->channels);
    if (cfg->image_size < 2 || cfg->image_size > 4096)
        return seterr(err, "data.image_size: %d is out of range [2, 4096]", cfg->image_size);
    Dataset *d = xcalloc(1, sizeof *d);
    d->split = split;
    d->channels = cfg->channels;
    d->size = cfg->image_size;
    d->seed = (uint64_t)(uint32_t)cfg->seed;
    int rc;
    if (strcmp(cfg->dataset, "shapes") == 0) rc = shapes_open(d, cfg, split, err);
    else if (strcmp(cfg->dataset, "simple-shapes") == 0) rc = simple_shapes_open(d, cfg, split, err);
    else if (strcmp(cfg->dataset, "fashion-mnist") == 0) rc = fmnist_open(d, cfg, split, err);
    else if (strcmp(cfg->dataset, "folder") == 0) rc = folder_open(d, cfg, split, err);
    else rc = seterr(err, "data.dataset: \"%s\" is not one of \"shapes\", \"simple-shapes\", \"fashion-mnist\", \"folder\"", cfg->dataset);
    if (rc == 0 && d->n <= 0)
        rc = seterr(err, "%s: the %s split has no images", cfg->dataset, split == DATA_TRAIN ? "train" : "test");
    if (rc) {
        dataset_close(d);
        return -1;
    }
    *out = d;
    return 0;
}

int dataset_len(const Dataset *d) { return d->n; }
int dataset_num_classes(const Dataset *d) { return d->nclasses; }

const char *dataset_class_name(const Dataset *d, int k) {
    if (k < 0 || k >= d->nclasses || !d->class_names) return "";
    return d->class_names[k];
}

void dataset_get(const Dataset *d, int i, float *chw, int *label) {
    if (d->gen) {
        d->gen(d, i, chw, label);
        return;
    }
    size_t m = (size_t)d->channels * d->size * d->size;
    const uint8_t *p = d->pix + (size_t)i * m;
    for (size_t k = 0; k < m; k++) chw[k] = (float)p[k] * (2.0f / 255.0f) - 1.0f;
    if (label) *label = d->labels[i];
}

void dataset_close(Dataset *d) {
    if (!d) return;
    free(d->pix);
    free(d->labels);
    free(d->class_names);
    free(d);
}

// ---- Loader ---------------------------------------------------------------------------------

static void build_perm(Loader *l) {
    int n = l->ds->n;
    Rng r;
    // Each epoch's order is a function of (seed, epoch) alone, so restoring a LoaderState
    // needs no RNG state beyond these numbers.
    rng_seed(&r, l->st.seed * 0x9e3779b97f4a7c15ULL + (uint64_t)l->st.epoch + 1);
    for (int i = 0; i < n; i++) l->perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(&r, (uint32_t)i + 1);
        int t = l->perm[i];
        l->perm[i] = l->perm[j];
        l->perm[j] = t;
    }
    l->perm_epoch = l->st.epoch;
}

void loader_init(Loader *l, const Dataset *ds, uint64_t seed) {
    l->ds = ds;
    l->st.seed = seed;
    l->st.epoch = 0;
    l->st.cursor = 0;
    l->perm = xmalloc(sizeof(int) * (size_t)ds->n);
    build_perm(l);
}

void loader_next(Loader *l, int B, float *x, int *y) { loader_next_part(l, B, 0, B, x, y); }

void loader_next_part(Loader *l, int B, int off, int cnt, float *x, int *y) {
    int n = l->ds->n;
    if (B <= 0) return;
    int *idx = xmalloc(sizeof(int) * (size_t)B);
    for (int b = 0; b < B; b++) {
        if (l->st.cursor >= n) {
            l->st.epoch++;
            l->st.cursor = 0;
        }
        if (l->perm_epoch != l->st.epoch) build_perm(l);
        idx[b] = l->perm[l->st.cursor++];
    }
    size_t m = (size_t)l->ds->channels * l->ds->size * l->ds->size;
    const Dataset *ds = l->ds;
#pragma omp parallel for schedule(dynamic, 1) if (cnt > 1)
    for (int b = 0; b < cnt; b++) dataset_get(ds, idx[off + b], x + (size_t)b * m, y ? &y[b] : NULL);
    free(idx);
}

LoaderState loader_state(const Loader *l) { return l->st; }

void loader_restore(Loader *l, LoaderState st) {
    l->st = st;
    if (l->st.cursor < 0 || l->st.cursor > l->ds->n) l->st.cursor = 0;
    build_perm(l);
}

void loader_free(Loader *l) {
    free(l->perm);
    l->perm = NULL;
}
