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
    // Procedural datasets (shapes): pix is NULL and images come from gen(d, i, ...).
    void (*gen)(const Dataset *d, int i, float *chw, int *label);
    uint64_t seed;
};

int shapes_open(Dataset *d, const DataConfig *cfg, int split, char *err);
int fmnist_open(Dataset *d, const DataConfig *cfg, int split, char *err);
int folder_open(Dataset *d, const DataConfig *cfg, int split, char *err);

#endif
