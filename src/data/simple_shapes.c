// simple_shapes.c: the `simple-shapes` built-in dataset, an easier `shapes` for a first run
// that must visibly learn within about a minute on two cores. Each image is one large, upright
// shape (circle, square, triangle or cross: one kind per class) in one of three bright colours
// on a black background, near the centre. What a model must learn is then mostly the
// silhouette of each class, which a small SiT reaches in a few hundred steps, where `shapes`'
// random colours, sizes, positions and rotations take thousands. Like `shapes`, image i of a
// split is a pure function of (data.seed, split, i).
#include <math.h>
#include <string.h>
#include "data/data_impl.h"
#include "base/rng.h"
#include "base/util.h"

#define SIMPLE_TRAIN 50000
#define SIMPLE_TEST 5000
#define SIMPLE_NKINDS 4
#define SIMPLE_NCOLOURS 3

static const int KINDS[SIMPLE_NKINDS] = {SHAPE_CIRCLE, SHAPE_SQUARE, SHAPE_TRIANGLE, SHAPE_CROSS};
static const char *const KIND_NAMES[SIMPLE_NKINDS] = {"circle", "square", "triangle", "cross"};
// White, yellow, cyan: far apart in hue, and all bright in gray (luma >= 0.67), so a gray
// simple-shapes is as easy as the RGB one.
static const float COLOURS[SIMPLE_NCOLOURS][3] = {{1, 1, 1}, {1, 0.85f, 0.2f}, {0.2f, 0.85f, 1}};

static void simple_gen(const Dataset *d, int i, float *chw, int *label) {
    Rng r;
    // Another stream than `shapes` (the constant added), so the two datasets are unrelated.
    rng_seed(&r, d->seed * 0x9e3779b97f4a7c15ULL + (uint64_t)d->split * 0xd1b54a32d192ed03ULL +
                     (uint64_t)(uint32_t)i + 0x5173b1e5ULL * 0x100000000ULL);
    int cls = (int)rng_below(&r, SIMPLE_NKINDS);
    const float *fg = COLOURS[rng_below(&r, SIMPLE_NCOLOURS)];
    static const float bg[3] = {0, 0, 0};
    int S = d->size;
    // Outer radius 36-44% of the side, centre within a pixel or two of the middle: the shape
    // fills most of the image and never leaves it.
    float rad = S * (0.36f + 0.08f * rng_uniform(&r));
    float slack = 0.5f * S - rad - 0.5f;
    float cx = 0.5f * S + slack * (2 * rng_uniform(&r) - 1), cy = 0.5f * S + slack * (2 * rng_uniform(&r) - 1);
    // Unrotated, except the triangle, turned half a turn so that it stands on its base.
    float ang = KINDS[cls] == SHAPE_TRIANGLE ? (float)M_PI : 0.0f;
    shapes_draw(S, d->channels, KINDS[cls], cx, cy, rad, ang, bg, fg, chw);
    if (label) *label = cls;
}

int simple_shapes_open(Dataset *d, const DataConfig *cfg, int split, char *err) {
    (void)cfg;
    (void)err;
    d->n = split == DATA_TRAIN ? SIMPLE_TRAIN : SIMPLE_TEST;
    d->nclasses = SIMPLE_NKINDS;
    d->class_names = xcalloc(SIMPLE_NKINDS, DATA_NAMELEN);
    for (int k = 0; k < SIMPLE_NKINDS; k++) snprintf(d->class_names[k], DATA_NAMELEN, "%s", KIND_NAMES[k]);
    d->gen = simple_gen;
    return 0;
}
