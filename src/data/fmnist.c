// data_fmnist.c: Fashion-MNIST from its IDX .gz files (Debian package dataset-fashion-mnist).
// Images are kept as uint8 CHW at 32x32: the 28x28 originals centred, the 2 px border at 0
// (which reads back as -1, the padding the spec asks for).
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "data/data_impl.h"
#include "base/util.h"

#define FM_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
#define FM_SIDE 28
#define FM_PAD 2
#define FM_CLASSES 10
#define FM_MAX_COUNT 1000000

static const char *const FM_NAMES[FM_CLASSES] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                  "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

// Reads exactly n bytes; a short read is a truncated or corrupt file.
static int gz_exact(gzFile f, void *buf, size_t n, const char *path, const char *what, char *err) {
    size_t got = 0;
    while (got < n) {
        unsigned chunk = n - got > (1u << 30) ? (1u << 30) : (unsigned)(n - got);
        int r = gzread(f, (uint8_t *)buf + got, chunk);
        if (r < 0) {
            int zerr;
            const char *msg = gzerror(f, &zerr);
            return seterr(err, "%s: corrupt gzip data while reading %s: %s (reinstall dataset-fashion-mnist)", path, what,
                          msg);
        }
        if (r == 0)
            return seterr(err, "%s: truncated: %s ends after %zu of %zu bytes (reinstall dataset-fashion-mnist)", path, what,
                          got, n);
        got += (size_t)r;
    }
    return 0;
}

static gzFile open_gz(const char *path, char *err) {
    gzFile f = gzopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            seterr(err, "%s: no such file: install the Debian package dataset-fashion-mnist "
                   "(apt-get install dataset-fashion-mnist), or set data.path to a directory with the four IDX .gz files",
                   path);
        else seterr(err, "%s: cannot open: %s", path, strerror(errno ? errno : EIO));
    }
    return f;
}

int fmnist_open(Dataset *d, const DataConfig *cfg, int split, char *err) {
    if (d->channels != 1 || d->size != FM_SIDE + 2 * FM_PAD)
        return seterr(err, "fashion-mnist is 28x28 gray padded to 32x32: set data.channels to 1 and data.image_size to 32 "
                      "(they are %d and %d)", d->channels, d->size);
    const char *dir = cfg->path[0] ? cfg->path : FM_DEFAULT_DIR;
    const char *prefix = split == DATA_TRAIN ? "train" : "t10k";
    char ipath[CFG_STRLEN + 64], lpath[CFG_STRLEN + 64];
    snprintf(ipath, sizeof ipath, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    snprintf(lpath, sizeof lpath, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);

    // Labels first: they are small and fix the count the images must match.
    gzFile lf = open_gz(lpath, err);
    if (!lf) return -1;
    uint8_t hdr[16];
    if (gz_exact(lf, hdr, 8, lpath, "the header", err)) { gzclose(lf); return -1; }
    if (be32(hdr) != 2049) {
        gzclose(lf);
        return seterr(err, "%s: not an IDX label file (magic 0x%08x, want 0x00000801)", lpath, be32(hdr));
    }
    uint32_t n = be32(hdr + 4);
    if (n == 0 || n > FM_MAX_COUNT) {
        gzclose(lf);
        return seterr(err, "%s: implausible label count %u", lpath, n);
    }
    uint8_t *lab = xmalloc(n);
    int rc = gz_exact(lf, lab, n, lpath, "the labels", err);
    gzclose(lf);
    if (rc) { free(lab); return -1; }
    for (uint32_t i = 0; i < n; i++)
        if (lab[i] >= FM_CLASSES) {
            rc = seterr(err, "%s: label %u of item %u is not a class 0..9 (corrupt file?)", lpath, lab[i], i);
            free(lab);
            return rc;
        }

    gzFile imf = open_gz(ipath, err);
    if (!imf) { free(lab); return -1; }
    if (gz_exact(imf, hdr, 16, ipath, "the header", err)) { gzclose(imf); free(lab); return -1; }
    if (be32(hdr) != 2051 || be32(hdr + 4) != n || be32(hdr + 8) != FM_SIDE || be32(hdr + 12) != FM_SIDE) {
        seterr(err, "%s: not a 28x28 IDX image file matching its %u labels (magic 0x%08x, %u images of %ux%u)", ipath, n,
               be32(hdr), be32(hdr + 4), be32(hdr + 8), be32(hdr + 12));
        gzclose(imf);
        free(lab);
        return -1;
    }
    size_t raw_n = (size_t)n * FM_SIDE * FM_SIDE;
    uint8_t *raw = xmalloc(raw_n);
    rc = gz_exact(imf, raw, raw_n, ipath, "the images", err);
    gzclose(imf);
    if (rc) { free(raw); free(lab); return -1; }

    int S = FM_SIDE + 2 * FM_PAD;
    d->pix = xcalloc((size_t)n * S * S, 1);
    for (uint32_t i = 0; i < n; i++)
        for (int y = 0; y < FM_SIDE; y++)
            memcpy(d->pix + ((size_t)i * S + y + FM_PAD) * S + FM_PAD, raw + ((size_t)i * FM_SIDE + y) * FM_SIDE, FM_SIDE);
    free(raw);
    d->labels = xmalloc(sizeof(int) * n);
    for (uint32_t i = 0; i < n; i++) d->labels[i] = lab[i];
    free(lab);
    d->n = (int)n;
    d->nclasses = FM_CLASSES;
    d->class_names = xcalloc(FM_CLASSES, DATA_NAMELEN);
    for (int k = 0; k < FM_CLASSES; k++) snprintf(d->class_names[k], DATA_NAMELEN, "%s", FM_NAMES[k]);
    return 0;
}
