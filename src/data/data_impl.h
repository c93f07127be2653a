// data_impl.h: what the dataset back ends (data_*.c) share with data.c; not for other callers.
#ifndef REPAE_DATA_IMPL_H
#define REPAE_DATA_IMPL_H
#include "data/data.h"

#define DATA_NAMELEN 64

struct Dataset {
    int split, n, nclasses, channels, size;
    // Stored datasets (fashion-mnist, folder): n images as uint8 CHW at the final size, and labels.
    uint8_t *pix;
    int *labels;
    char (*class_names)[DATA_NAMELEN];
    // Procedural datasets (shapes, simple-shapes): pix is NULL and images come from gen(d, i, ...).
    void (*gen)(const Dataset *d, int i, float *chw, int *label);
    uint64_t seed;
};

// The shape kinds both procedural datasets draw (shapes.c), in class order.
enum { SHAPE_CIRCLE, SHAPE_SQUARE, SHAPE_TRIANGLE, SHAPE_CROSS, SHAPE_RING, SHAPE_NKINDS };
// Draws one anti-aliased shape of outer radius rad (pixels) centred at (cx, cy), turned by ang
// radians, in colour fg over bg (RGB in [0, 1]) into an S x S image, float CHW in [-1, 1];
// channels 1 gives its luma.
void shapes_draw(int S, int channels, int kind, float cx, float cy, float rad, float ang, const float bg[3],
                 const float fg[3], float *chw);

int shapes_open(Dataset *d, const DataConfig *cfg, int split, char *err);
int simple_shapes_open(Dataset *d, const DataConfig *cfg, int split, char *err);
int fmnist_open(Dataset *d, const DataConfig *cfg, int split, char *err);
int folder_open(Dataset *d, const DataConfig *cfg, int split, char *err);

#endif
