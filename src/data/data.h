// data.h: the datasets of docs/model.md ("Data") behind one small interface, and a
// Loader that draws shuffled batches in an order fixed by (seed, epoch), so that a resumed run
// that restores LoaderState sees exactly the batches the original run would have seen.
//
// Images come out as float CHW in [-1, 1] at data.image_size with data.channels planes.
//   shapes         procedural, no files; 5 classes (circle, square, triangle, cross, ring);
//                  50000 train / 5000 test images, each a pure function of (data.seed, split, index)
//   simple-shapes  procedural like shapes, easier: 4 classes (circle, square, triangle, cross),
//                  each large, upright and centred, in one of 3 bright colours on black
//   fashion-mnist  IDX .gz files in data.path ("" = /usr/share/datasets/fashion-mnist, from the
//                  Debian package dataset-fashion-mnist); 28x28 padded by 2 px of -1; 10 classes
//   folder         data.path/<class>/*.png, classes in sorted order; centre-cropped and
//                  box-resized; the test split is the files whose path hash is 0 mod 10
#ifndef REPAE_DATA_H
#define REPAE_DATA_H
#include <stdint.h>
#include "base/config.h"

enum { DATA_TRAIN = 0, DATA_TEST = 1 };

typedef struct Dataset Dataset;

// Opens one split. Returns 0, or -1 with err (ERRLEN) naming the bad file and what to do.
int dataset_open(Dataset **out, const DataConfig *cfg, int split, char *err);
// Sets cfg->dataset to name and, for a dataset with a shape of its own, its channels and image
// size: fashion-mnist always (1 x 32 x 32: its files have that shape), the generated ones
// (shapes, simple-shapes: 3 x 16 x 16) unless keep_size (a config already chose them); a folder
// keeps what cfg says. What `repae data` and `repae encoder/evaluator train` do with --dataset.
void dataset_select(DataConfig *cfg, const char *name, int keep_size);
int dataset_len(const Dataset *d);
int dataset_num_classes(const Dataset *d);
const char *dataset_class_name(const Dataset *d, int k);
// One image, float CHW (channels x size x size) in [-1, 1], and its class (label may be NULL).
// Safe to call from several threads at once.
void dataset_get(const Dataset *d, int i, float *chw, int *label);
void dataset_close(Dataset *d);

// Centre-crops a C x H x W float image in [-1, 1] to a square and box-resizes it to S x S,
// as 8-bit values (CHW): what the folder dataset does to every file.
void image_crop_resize(const float *img, int C, int H, int W, int S, uint8_t *out);

// Where a Loader is in its stream. Save these three numbers with the training state.
typedef struct {
    uint64_t seed;  // shuffle seed
    int64_t epoch;  // passes completed
    int64_t cursor; // position within the current epoch's permutation
} LoaderState;

typedef struct {
    const Dataset *ds;
    LoaderState st;
    int *perm;       // this epoch's order, rebuilt from (seed, epoch) whenever the epoch changes
    int64_t perm_epoch;
} Loader;

void loader_init(Loader *l, const Dataset *ds, uint64_t seed);
// Fills x (B x C x S x S) and y (B labels; may be NULL) with the next B images, wrapping into a
// fresh shuffle at the end of each epoch.
void loader_next(Loader *l, int B, float *x, int *y);
// Data-parallel share of a global batch: advances the stream by B images (as loader_next
// does, so every process's LoaderState is the global one) but loads only images off ..
// off + cnt - 1 of them into x and y. loader_next(l, B, x, y) is loader_next_part(l, B, 0, B, x, y).
void loader_next_part(Loader *l, int B, int off, int cnt, float *x, int *y);
LoaderState loader_state(const Loader *l);
void loader_restore(Loader *l, LoaderState st);
void loader_free(Loader *l);

#endif
