// data_shapes.c: the built-in procedural dataset. Image i of a split is drawn from an RNG seeded
// by (data.seed, split, i) alone, so any image can be made on demand, in any order, on any
// thread, and tests and first runs need no files.
#include <math.h>
#include <string.h>
#include "data/data_impl.h"
#include "base/rng.h"
#include "base/util.h"

#define SHAPES_TRAIN 50000
#define SHAPES_TEST 5000
// Anti-aliasing: SS x SS coverage samples per pixel; 1 gives hard edges.
#define SHAPES_SS 3

#define NKINDS SHAPE_NKINDS
static const char *const KIND_NAMES[NKINDS] = {"circle", "square", "triangle", "cross", "ring"};

static float luma(const float *rgb) { return 0.299f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2]; }

// Is (u, v), in the shape's own frame scaled so its outer radius is 1, inside?
static int inside(int kind, float u, float v) {
    switch (kind) {
    case SHAPE_CIRCLE: return u * u + v * v <= 1.0f;
    case SHAPE_SQUARE: return fabsf(u) <= 0.75f && fabsf(v) <= 0.75f;
    case SHAPE_TRIANGLE: {
        // Equilateral, inscribed in the unit circle: its edges are at distance 0.5 from the centre.
        for (int k = 0; k < 3; k++) {
            float a = (float)(M_PI / 2 + k * 2 * M_PI / 3);
            if (-(u * cosf(a) + v * sinf(a)) > 0.5f) return 0;
        }
        return 1;
    }
    case SHAPE_CROSS: return (fabsf(u) <= 0.3f && fabsf(v) <= 0.95f) || (fabsf(v) <= 0.3f && fabsf(u) <= 0.95f);
    case SHAPE_RING: {
        float r2 = u * u + v * v;
        return r2 <= 1.0f && r2 >= 0.55f * 0.55f;
    }
    }
    return 0;
}

void shapes_draw(int S, int channels, int kind, float cx, float cy, float rad, float ang, const float bg[3],
                 const float fg[3], float *chw) {
    float ca = cosf(ang) / rad, sa = sinf(ang) / rad;
    size_t plane = (size_t)S * S;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            int hits = 0;
            for (int sy = 0; sy < SHAPES_SS; sy++)
                for (int sx = 0; sx < SHAPES_SS; sx++) {
                    float px = x + (sx + 0.5f) / SHAPES_SS - cx, py = y + (sy + 0.5f) / SHAPES_SS - cy;
                    hits += inside(kind, ca * px + sa * py, -sa * px + ca * py);
                }
            float cov = (float)hits / (SHAPES_SS * SHAPES_SS);
            float px[3];
            for (int k = 0; k < 3; k++) px[k] = bg[k] + cov * (fg[k] - bg[k]);
            size_t o = (size_t)y * S + x;
            if (channels == 1) chw[o] = 2.0f * luma(px) - 1.0f;
            else
                for (int k = 0; k < 3; k++) chw[k * plane + o] = 2.0f * px[k] - 1.0f;
        }
}

static void shapes_gen(const Dataset *d, int i, float *chw, int *label) {
    Rng r;
    // Distinct streams per (seed, split, index); rng_seed mixes this through splitmix64.
    rng_seed(&r, d->seed * 0x9e3779b97f4a7c15ULL + (uint64_t)d->split * 0xd1b54a32d192ed03ULL + (uint64_t)(uint32_t)i);
    int kind = (int)rng_below(&r, NKINDS);
    int S = d->size;
    float bg[3], fg[3];
    for (int k = 0; k < 3; k++) bg[k] = rng_uniform(&r);
    // Redraw the foreground until it stands out in gray too; bounded, and deterministic.
    for (int tries = 0; tries < 16; tries++) {
        for (int k = 0; k < 3; k++) fg[k] = rng_uniform(&r);
        if (fabsf(luma(fg) - luma(bg)) >= 0.3f) break;
        if (tries == 15)
            for (int k = 0; k < 3; k++) fg[k] = luma(bg) > 0.5f ? 0.1f * fg[k] : 0.9f + 0.1f * fg[k];
    }
    float rad = S * (0.22f + 0.18f * rng_uniform(&r));
    float cx = rad + (S - 2 * rad) * rng_uniform(&r), cy = rad + (S - 2 * rad) * rng_uniform(&r);
    float ang = (float)(2 * M_PI) * rng_uniform(&r);
    shapes_draw(S, d->channels, kind, cx, cy, rad, ang, bg, fg, chw);
    if (label) *label = kind;
}

int shapes_open(Dataset *d, const DataConfig *cfg, int split, char *err) {
    (void)cfg;
    (void)err;
    d->n = split == DATA_TRAIN ? SHAPES_TRAIN : SHAPES_TEST;
    d->nclasses = NKINDS;
    d->class_names = xcalloc(NKINDS, DATA_NAMELEN);
    for (int k = 0; k < NKINDS; k++) snprintf(d->class_names[k], DATA_NAMELEN, "%s", KIND_NAMES[k]);
    d->gen = shapes_gen;
    return 0;
}
