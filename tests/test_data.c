// test_data.c: the four datasets, their error messages, and the Loader's order and resume.
#include <sys/stat.h>
#include <zlib.h>
#include "base/config.h"
#include "data/data.h"
#include "base/png_io.h"
#include "test.h"
#include "testutil.h"

#define FM_DIR "/usr/share/datasets/fashion-mnist"
#define TMP_FM "/tmp/repae-test-fm"
#define TMP_FOLDER "/tmp/repae-test-folder"

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static DataConfig shapes_cfg(int size, int channels, int seed) {
    Config c;
    config_defaults(&c);
    c.data.image_size = size;
    c.data.channels = channels;
    c.data.seed = seed;
    return c.data;
}

static DataConfig fm_cfg(const char *path) {
    Config c;
    config_defaults(&c);
    snprintf(c.data.dataset, sizeof c.data.dataset, "fashion-mnist");
    snprintf(c.data.path, sizeof c.data.path, "%s", path);
    c.data.image_size = 32;
    c.data.channels = 1;
    return c.data;
}

static DataConfig folder_cfg(const char *path, int size, int channels) {
    Config c;
    config_defaults(&c);
    snprintf(c.data.dataset, sizeof c.data.dataset, "folder");
    snprintf(c.data.path, sizeof c.data.path, "%s", path);
    c.data.image_size = size;
    c.data.channels = channels;
    return c.data;
}

// ---- shapes ---------------------------------------------------------------------------------

TEST(shapes_deterministic_and_in_range) {
    char err[ERRLEN];
    Dataset *a, *b, *c, *t;
    DataConfig c0 = shapes_cfg(16, 3, 0), c1 = shapes_cfg(16, 3, 1);
    CHECK(dataset_open(&a, &c0, DATA_TRAIN, err) == 0, "%s", err);
    CHECK(dataset_open(&b, &c0, DATA_TRAIN, err) == 0, "%s", err);
    CHECK(dataset_open(&c, &c1, DATA_TRAIN, err) == 0, "%s", err);
    CHECK(dataset_open(&t, &c0, DATA_TEST, err) == 0, "%s", err);
    CHECK(dataset_len(a) == 50000 && dataset_len(t) == 5000 && dataset_num_classes(a) == 5, "sizes %d/%d, %d classes",
          dataset_len(a), dataset_len(t), dataset_num_classes(a));
    CHECK(!strcmp(dataset_class_name(a, 0), "circle") && !strcmp(dataset_class_name(a, 4), "ring"), "class names");
    enum { M = 3 * 16 * 16 };
    float xa[M], xb[M], xc[M], xt[M];
    int seen[5] = {0}, ndiff_seed = 0, ndiff_split = 0;
    for (int i = 0; i < 200; i++) {
        int la, lb, lc, lt;
        dataset_get(a, i, xa, &la);
        dataset_get(b, i, xb, &lb);
        dataset_get(c, i, xc, &lc);
        dataset_get(t, i, xt, &lt);
        CHECK(la == lb && memcmp(xa, xb, sizeof xa) == 0, "image %d differs between two opens with the same seed", i);
        ndiff_seed += memcmp(xa, xc, sizeof xa) != 0;
        ndiff_split += memcmp(xa, xt, sizeof xa) != 0;
        CHECK(la >= 0 && la < 5, "label %d", la);
        seen[la]++;
        float lo = 2, hi = -2;
        for (int k = 0; k < M; k++) {
            CHECK(xa[k] >= -1.0f && xa[k] <= 1.0f, "image %d value %g outside [-1, 1]", i, xa[k]);
            lo = xa[k] < lo ? xa[k] : lo;
            hi = xa[k] > hi ? xa[k] : hi;
        }
        CHECK(hi - lo > 0.3f, "image %d is nearly flat (%g..%g): no visible shape", i, lo, hi);
    }
    CHECK(ndiff_seed == 200, "only %d of 200 images change with the seed", ndiff_seed);
    CHECK(ndiff_split == 200, "only %d of 200 test images differ from train", ndiff_split);
    for (int k = 0; k < 5; k++) CHECK(seen[k] > 15, "class %d appears %d times in 200", k, seen[k]);
    // Random access order does not matter.
    int l1, l2;
    dataset_get(a, 49999, xa, &l1);
    dataset_get(a, 7, xb, NULL);
    dataset_get(b, 49999, xb, &l2);
    CHECK(l1 == l2 && memcmp(xa, xb, sizeof xa) == 0, "image depends on access order");
    dataset_close(a);
    dataset_close(b);
    dataset_close(c);
    dataset_close(t);
}

TEST(shapes_gray_and_other_sizes) {
    char err[ERRLEN];
    Dataset *g, *rgb;
    DataConfig cg = shapes_cfg(32, 1, 5), cr = shapes_cfg(32, 3, 5);
    CHECK(dataset_open(&g, &cg, DATA_TRAIN, err) == 0, "%s", err);
    CHECK(dataset_open(&rgb, &cr, DATA_TRAIN, err) == 0, "%s", err);
    float x1[32 * 32], x3[3 * 32 * 32];
    int l1, l3;
    dataset_get(g, 3, x1, &l1);
    dataset_get(rgb, 3, x3, &l3);
    CHECK(l1 == l3, "gray and RGB versions of an image have different classes");
    // The gray image is the luma of the RGB one.
    float worst = 0;
    for (int i = 0; i < 32 * 32; i++) {
        float y = 0.299f * x3[i] + 0.587f * x3[1024 + i] + 0.114f * x3[2048 + i];
        worst = fmaxf(worst, fabsf(y - x1[i]));
    }
    dataset_close(g);
    dataset_close(rgb);
    CHECK(worst < 1e-5f, "gray differs from RGB luma by %g", worst);
}

// ---- simple-shapes --------------------------------------------------------------------------

static DataConfig simple_cfg(int size, int channels, int seed) {
    DataConfig d = shapes_cfg(size, channels, seed);
    snprintf(d.dataset, sizeof d.dataset, "simple-shapes");
    return d;
}

TEST(simple_shapes_deterministic_with_its_classes) {
    char err[ERRLEN];
    Dataset *a, *b, *t;
    DataConfig c0 = simple_cfg(16, 3, 0);
    CHECK(dataset_open(&a, &c0, DATA_TRAIN, err) == 0, "%s", err);
    CHECK(dataset_open(&b, &c0, DATA_TRAIN, err) == 0, "%s", err);
    CHECK(dataset_open(&t, &c0, DATA_TEST, err) == 0, "%s", err);
    CHECK(dataset_len(a) == 50000 && dataset_len(t) == 5000 && dataset_num_classes(a) == 4, "sizes %d/%d, %d classes",
          dataset_len(a), dataset_len(t), dataset_num_classes(a));
    CHECK(!strcmp(dataset_class_name(a, 0), "circle") && !strcmp(dataset_class_name(a, 3), "cross"), "class names");
    enum { M = 3 * 16 * 16 };
    float xa[M], xb[M], xt[M];
    int seen[4] = {0}, ndiff_split = 0;
    for (int i = 0; i < 200; i++) {
        int la, lb, lt;
        dataset_get(a, i, xa, &la);
        dataset_get(b, i, xb, &lb);
        dataset_get(t, i, xt, &lt);
        CHECK(la == lb && memcmp(xa, xb, sizeof xa) == 0, "image %d differs between two opens with the same seed", i);
        ndiff_split += memcmp(xa, xt, sizeof xa) != 0;
        CHECK(la >= 0 && la < 4, "label %d", la);
        seen[la]++;
        for (int k = 0; k < M; k++) CHECK(xa[k] >= -1.0f && xa[k] <= 1.0f, "image %d value %g outside [-1, 1]", i, xa[k]);
        // A plain black background: the four corners are black in every channel.
        for (int c = 0; c < 3; c++) {
            const float *p = xa + c * 256;
            CHECK(p[0] == -1 && p[15] == -1 && p[240] == -1 && p[255] == -1, "image %d: a corner is not black", i);
        }
    }
    CHECK(ndiff_split == 200, "only %d of 200 test images differ from train", ndiff_split);
    for (int k = 0; k < 4; k++) CHECK(seen[k] > 25, "class %d appears %d times in 200", k, seen[k]);
    // The shapes dataset with the same seed is another set of images.
    Dataset *s;
    DataConfig cs = shapes_cfg(16, 3, 0);
    CHECK(dataset_open(&s, &cs, DATA_TRAIN, err) == 0, "%s", err);
    dataset_get(s, 0, xb, NULL);
    dataset_get(a, 0, xa, NULL);
    CHECK(memcmp(xa, xb, sizeof xa) != 0, "simple-shapes image 0 equals shapes image 0");
    dataset_close(s);
    dataset_close(a);
    dataset_close(b);
    dataset_close(t);
}

// Each class's silhouette at 32x32, told apart by scale-free measures of its lit pixels: how
// much of their bounding box they fill (square ~1, circle ~0.79, triangle and cross ~0.5), and
// where the widest row is (a triangle's at its base, the top or bottom edge; a cross's in the
// middle).
TEST(simple_shapes_draw_their_class) {
    char err[ERRLEN];
    Dataset *d, *g;
    DataConfig c = simple_cfg(32, 3, 3), cg = simple_cfg(32, 1, 3);
    CHECK(dataset_open(&d, &c, DATA_TRAIN, err) == 0, "%s", err);
    CHECK(dataset_open(&g, &cg, DATA_TRAIN, err) == 0, "%s", err);
    enum { S = 32, P = S * S };
    float x[3 * P], y[P];
    for (int i = 0; i < 80; i++) {
        int lab, labg;
        dataset_get(d, i, x, &lab);
        dataset_get(g, i, y, &labg);
        CHECK(lab == labg, "image %d: gray and RGB classes differ", i);
        int x0 = S, x1 = -1, y0 = S, y1 = -1, lit = 0, widest = 0, wrow = 0;
        for (int r = 0; r < S; r++) {
            int w = 0;
            for (int q = 0; q < S; q++) {
                float v = -1;
                for (int ch = 0; ch < 3; ch++) v = fmaxf(v, x[ch * P + r * S + q]);
                // Every colour has a channel at full brightness: lit means over half covered.
                if (v <= 0) continue;
                CHECK(y[r * S + q] > -0.4f, "image %d: a lit pixel is near black in gray (%g)", i, y[r * S + q]);
                lit++, w++;
                x0 = q < x0 ? q : x0, x1 = q > x1 ? q : x1, y0 = r < y0 ? r : y0, y1 = r > y1 ? r : y1;
            }
            if (w > widest) widest = w, wrow = r;
        }
        CHECK(lit > 0, "image %d is empty", i);
        float fill = (float)lit / (float)((x1 - x0 + 1) * (y1 - y0 + 1));
        float h = (float)(y1 - y0 + 1), at = (wrow - y0 + 0.5f) / h;  // 0 top .. 1 bottom
        CHECK(h >= 0.5f * S, "image %d: the shape is only %g px tall", i, h);
        switch (lab) {
        case 0: CHECK(fill > 0.7f && fill < 0.88f, "image %d circle fills %g of its box", i, fill); break;
        case 1: CHECK(fill > 0.9f, "image %d square fills %g of its box", i, fill); break;
        case 2: CHECK(fill < 0.65f && (at < 0.2f || at > 0.8f), "image %d triangle: fill %g, widest row at %g", i, fill, at); break;
        case 3: CHECK(fill < 0.65f && at > 0.3f && at < 0.7f, "image %d cross: fill %g, widest row at %g", i, fill, at); break;
        }
    }
    dataset_close(d);
    dataset_close(g);
}

// ---- fashion-mnist --------------------------------------------------------------------------

// Reads the first n bytes after the header of an IDX .gz straight through zlib.
static int raw_idx(const char *path, int header, uint8_t *out, int n) {
    gzFile f = gzopen(path, "rb");
    if (!f) return -1;
    uint8_t hdr[16];
    int ok = gzread(f, hdr, header) == header && gzread(f, out, n) == n;
    gzclose(f);
    return ok ? 0 : -1;
}

TEST(fashion_mnist_matches_the_raw_files) {
    char err[ERRLEN];
    Dataset *tr, *te;
    DataConfig cfg = fm_cfg("");
    CHECK(dataset_open(&tr, &cfg, DATA_TRAIN, err) == 0, "%s", err);
    CHECK(dataset_open(&te, &cfg, DATA_TEST, err) == 0, "%s", err);
    CHECK(dataset_len(tr) == 60000 && dataset_len(te) == 10000 && dataset_num_classes(tr) == 10, "sizes %d/%d",
          dataset_len(tr), dataset_len(te));
    uint8_t raw[28 * 28], lab[2];
    CHECK(raw_idx(FM_DIR "/train-images-idx3-ubyte.gz", 16, raw, 28 * 28) == 0, "cannot read the raw image file");
    CHECK(raw_idx(FM_DIR "/train-labels-idx1-ubyte.gz", 8, lab, 1) == 0, "cannot read the raw label file");
    float x[32 * 32];
    int y;
    dataset_get(tr, 0, x, &y);
    CHECK(y == lab[0] && y == 9, "first label %d, raw %d (Fashion-MNIST's first is 9, ankle boot)", y, lab[0]);
    for (int r = 0; r < 32; r++)
        for (int c = 0; c < 32; c++) {
            float want = (r < 2 || r >= 30 || c < 2 || c >= 30) ? -1.0f : raw[(r - 2) * 28 + c - 2] * (2.0f / 255.0f) - 1.0f;
            CHECK(fabsf(x[r * 32 + c] - want) < 1e-6f, "pixel (%d,%d) is %g, want %g", r, c, x[r * 32 + c], want);
        }
    CHECK(raw_idx(FM_DIR "/t10k-labels-idx1-ubyte.gz", 8, lab, 2) == 0, "cannot read the raw test labels");
    dataset_get(te, 1, x, &y);
    CHECK(y == lab[1], "test label 1 is %d, raw %d", y, lab[1]);
    dataset_close(tr);
    dataset_close(te);
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

// Writes an IDX pair with n images; image i is filled with the value 10*i+1, label i % 10.
static int write_idx(const char *dir, const char *prefix, int n, uint32_t img_magic) {
    char p[256];
    uint8_t hdr[16];
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    gzFile f = gzopen(p, "wb");
    if (!f) return -1;
    put_be32(hdr, img_magic);
    put_be32(hdr + 4, n);
    put_be32(hdr + 8, 28);
    put_be32(hdr + 12, 28);
    gzwrite(f, hdr, 16);
    uint8_t img[28 * 28];
    for (int i = 0; i < n; i++) {
        memset(img, 10 * i + 1, sizeof img);
        gzwrite(f, img, sizeof img);
    }
    gzclose(f);
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    f = gzopen(p, "wb");
    if (!f) return -1;
    put_be32(hdr, 2049);
    put_be32(hdr + 4, n);
    gzwrite(f, hdr, 8);
    for (int i = 0; i < n; i++) {
        uint8_t l = (uint8_t)(i % 10);
        gzwrite(f, &l, 1);
    }
    return gzclose(f) == Z_OK ? 0 : -1;
}

TEST(fashion_mnist_errors) {
    char err[ERRLEN];
    Dataset *d = NULL;
    DataConfig cfg = fm_cfg("/tmp/repae-no-such-fm-dir");
    CHECK(dataset_open(&d, &cfg, DATA_TRAIN, err) != 0 && d == NULL, "missing directory accepted");
    CHECK(contains(err, "/tmp/repae-no-such-fm-dir/train-labels-idx1-ubyte.gz") && contains(err, "dataset-fashion-mnist"),
          "missing: %s", err);
    mkdir(TMP_FM, 0755);
    // A small valid set first: the path override works and values land where they should.
    CHECK(write_idx(TMP_FM, "train", 7, 2051) == 0, "cannot write %s", TMP_FM);
    cfg = fm_cfg(TMP_FM);
    CHECK(dataset_open(&d, &cfg, DATA_TRAIN, err) == 0, "%s", err);
    float x[32 * 32];
    int y;
    dataset_get(d, 3, x, &y);
    CHECK(dataset_len(d) == 7 && y == 3 && x[0] == -1.0f && fabsf(x[16 * 32 + 16] - (31 * 2.0f / 255.0f - 1.0f)) < 1e-6f,
          "small IDX set read wrongly");
    dataset_close(d);
    // Wrong magic.
    CHECK(write_idx(TMP_FM, "train", 7, 2050) == 0, "cannot write");
    CHECK(dataset_open(&d, &cfg, DATA_TRAIN, err) != 0 && contains(err, TMP_FM "/train-images-idx3-ubyte.gz") &&
          contains(err, "magic"), "wrong magic: %s", err);
    // Truncated images: the header promises 7, the file holds fewer.
    CHECK(write_idx(TMP_FM, "train", 7, 2051) == 0, "cannot write");
    {
        gzFile f = gzopen(TMP_FM "/train-images-idx3-ubyte.gz", "wb");
        uint8_t hdr[16], img[28 * 28] = {0};
        put_be32(hdr, 2051);
        put_be32(hdr + 4, 7);
        put_be32(hdr + 8, 28);
        put_be32(hdr + 12, 28);
        gzwrite(f, hdr, 16);
        gzwrite(f, img, sizeof img);
        gzclose(f);
    }
    CHECK(dataset_open(&d, &cfg, DATA_TRAIN, err) != 0 && contains(err, "train-images-idx3-ubyte.gz") &&
          contains(err, "truncated"), "truncated: %s", err);
    // Corrupt gzip: a valid gzip header followed by garbage.
    {
        FILE *f = fopen(TMP_FM "/train-labels-idx1-ubyte.gz", "wb");
        const uint8_t gzhdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
        fwrite(gzhdr, 1, 10, f);
        for (int i = 0; i < 200; i++) fputc((i * 37) ^ 0xa5, f);
        fclose(f);
    }
    CHECK(dataset_open(&d, &cfg, DATA_TRAIN, err) != 0 && contains(err, "train-labels-idx1-ubyte.gz"), "corrupt: %s", err);
    // Not gzip at all and not IDX either.
    {
        FILE *f = fopen(TMP_FM "/train-labels-idx1-ubyte.gz", "wb");
        fputs("hello, this is not a dataset", f);
        fclose(f);
    }
    CHECK(dataset_open(&d, &cfg, DATA_TRAIN, err) != 0 && contains(err, "train-labels-idx1-ubyte.gz") &&
          contains(err, "magic"), "text file: %s", err);
    // Wrong shape in the config.
    cfg.image_size = 28;
    CHECK(dataset_open(&d, &cfg, DATA_TRAIN, err) != 0 && contains(err, "32"), "size 28 accepted: %s", err);
    test_rm_rf(TMP_FM);
}

// ---- folder ---------------------------------------------------------------------------------

// cat/: 20x10 RGB images, white centre square between black (left) and red (right) strips.
// dog/: 16x16 gray images of alternating black and white columns.
static int make_folder(int per_class) {
    char err[ERRLEN], p[256];
    mkdir(TMP_FOLDER, 0755);
    mkdir(TMP_FOLDER "/cat", 0755);
    mkdir(TMP_FOLDER "/dog", 0755);
    mkdir(TMP_FOLDER "/empty", 0755);
    uint8_t cat[10 * 20 * 3], dog[16 * 16];
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 20; x++) {
            uint8_t *q = cat + (y * 20 + x) * 3;
            q[0] = x < 5 ? 0 : 255;
            q[1] = q[2] = x < 5 || x >= 15 ? 0 : 255;
        }
    for (int i = 0; i < 16 * 16; i++) dog[i] = (i % 2) ? 255 : 0;
    for (int i = 0; i < per_class; i++) {
        snprintf(p, sizeof p, TMP_FOLDER "/cat/c%02d.png", i);
        if (png_write(p, cat, 20, 10, 3, err)) return -1;
        snprintf(p, sizeof p, TMP_FOLDER "/dog/d%02d.PNG", i);
        if (png_write(p, dog, 16, 16, 1, err)) return -1;
    }
    FILE *f = fopen(TMP_FOLDER "/dog/notes.txt", "w"); // ignored: not a PNG
    if (f) fclose(f);
    return 0;
}

TEST(folder_dataset) {
    const int per = 15;
    char err[ERRLEN];
    test_rm_rf(TMP_FOLDER);
    CHECK(make_folder(per) == 0, "cannot write test PNGs under %s", TMP_FOLDER);
    DataConfig cfg = folder_cfg(TMP_FOLDER, 8, 3);
    Dataset *tr = NULL, *te = NULL;
    int rc = dataset_open(&tr, &cfg, DATA_TRAIN, err);
    if (rc == 0) rc = dataset_open(&te, &cfg, DATA_TEST, err);
    if (rc) { test_rm_rf(TMP_FOLDER); CHECK(0, "%s", err); }
    int ntr = dataset_len(tr), nte = dataset_len(te);
    int ok_split = ntr + nte == 2 * per && nte >= 1 && nte <= 2 * per / 3;
    int ok_classes = dataset_num_classes(tr) == 2 && !strcmp(dataset_class_name(tr, 0), "cat") &&
                     !strcmp(dataset_class_name(tr, 1), "dog");
    // Every cat crops to its white centre; every dog averages to mid gray.
    float x[3 * 8 * 8], worst_cat = 0, worst_dog = 0;
    int y, ncat = 0;
    for (int i = 0; i < ntr; i++) {
        dataset_get(tr, i, x, &y);
        for (int k = 0; k < 3 * 64; k++) {
            if (y == 0) worst_cat = fmaxf(worst_cat, fabsf(x[k] - 1.0f));
            else worst_dog = fmaxf(worst_dog, fabsf(x[k]));
        }
        ncat += y == 0;
    }
    dataset_close(tr);
    dataset_close(te);
    // Same files, same split, every time.
    Dataset *te2 = NULL;
    rc = dataset_open(&te2, &cfg, DATA_TEST, err);
    int same_split = rc == 0 && dataset_len(te2) == nte;
    dataset_close(te2);
    // A broken file is named.
    FILE *f = fopen(TMP_FOLDER "/dog/bad.png", "w");
    if (f) { fputs("garbage", f); fclose(f); }
    Dataset *bad = NULL;
    int rc_tr = dataset_open(&bad, &cfg, DATA_TRAIN, err);
    dataset_close(bad);
    char err_bad[ERRLEN];
    snprintf(err_bad, sizeof err_bad, "%s", err);
    if (rc_tr == 0) { // bad.png may have landed in the test split
        rc_tr = dataset_open(&bad, &cfg, DATA_TEST, err_bad);
        dataset_close(bad);
    }
    test_rm_rf(TMP_FOLDER);
    CHECK(ok_split, "split %d train + %d test of %d files", ntr, nte, 2 * per);
    CHECK(ok_classes, "classes are not [cat, dog]");
    CHECK(ncat > 0 && ncat < ntr, "train split holds %d cats of %d", ncat, ntr);
    CHECK(worst_cat < 0.01f, "cat not centre-cropped to white (off by %g)", worst_cat);
    CHECK(worst_dog < 0.01f, "dog stripes not box-averaged to gray (off by %g)", worst_dog);
    CHECK(same_split, "test split changed between opens");
    CHECK(rc_tr != 0 && contains(err_bad, "bad.png"), "bad PNG: %s", err_bad);
}

TEST(folder_errors) {
    char err[ERRLEN];
    Dataset *d = NULL;
    DataConfig cfg = folder_cfg("/tmp/repae-no-such-folder", 8, 3);
    CHECK(dataset_open(&d, &cfg, DATA_TRAIN, err) != 0 && contains(err, "/tmp/repae-no-such-folder"), "missing: %s", err);
    mkdir(TMP_FOLDER "-empty", 0755);
    cfg = folder_cfg(TMP_FOLDER "-empty", 8, 3);
    int rc = dataset_open(&d, &cfg, DATA_TRAIN, err);
    rmdir(TMP_FOLDER "-empty");
    CHECK(rc != 0 && contains(err, "no PNG"), "empty folder: %s", err);
    cfg = folder_cfg("", 8, 3);
    CHECK(dataset_open(&d, &cfg, DATA_TRAIN, err) != 0 && contains(err, "data.path"), "no path: %s", err);
}

// ---- loader ---------------------------------------------------------------------------------

// A 7-image IDX set where image i is filled with 10*i+1: the pixel identifies the image.
static int id_of(const float *x) { return (int)lrintf(((x[16 * 32 + 16] + 1.0f) * 127.5f - 1.0f) / 10.0f); }

TEST(loader_order_epochs_and_resume) {
    char err[ERRLEN];
    mkdir(TMP_FM, 0755);
    CHECK(write_idx(TMP_FM, "train", 7, 2051) == 0, "cannot write %s", TMP_FM);
    DataConfig cfg = fm_cfg(TMP_FM);
    Dataset *d;
    int rc = dataset_open(&d, &cfg, DATA_TRAIN, err);
    test_rm_rf(TMP_FM);
    CHECK(rc == 0, "%s", err);
    enum { B = 3, M = 32 * 32, NB = 14 }; // 42 draws = 6 epochs of 7
    float x[B * M];
    int y[B], ids[NB * B];
    Loader a;
    loader_init(&a, d, 42);
    LoaderState mid = {0};
    for (int s = 0; s < NB; s++) {
        if (s == 5) mid = loader_state(&a);
        loader_next(&a, B, x, y);
        for (int b = 0; b < B; b++) {
            ids[s * B + b] = id_of(x + b * M);
            if (y[b] != ids[s * B + b] % 10) { loader_free(&a); dataset_close(d); CHECK(0, "label does not match image"); }
        }
    }
    // Each epoch is a permutation, and consecutive epochs are shuffled differently.
    int epochs_differ = 0;
    for (int e = 0; e < 6; e++) {
        int seen = 0;
        for (int k = 0; k < 7; k++) seen |= 1 << ids[e * 7 + k];
        if (seen != 0x7f) { loader_free(&a); dataset_close(d); CHECK(0, "epoch %d is not a permutation", e); }
        if (e && memcmp(ids + e * 7, ids + (e - 1) * 7, 7 * sizeof(int))) epochs_differ = 1;
    }
    // Same seed: same stream. Restored state: same continuation, across epoch boundaries.
    Loader b2, c2, other;
    loader_init(&b2, d, 42);
    loader_init(&c2, d, 7);
    loader_init(&other, d, 43);
    loader_restore(&c2, mid);
    int same = 1, resumed = 1, differ = 0;
    for (int s = 0; s < NB; s++) {
        loader_next(&b2, B, x, NULL);
        for (int b = 0; b < B; b++) same &= id_of(x + b * M) == ids[s * B + b];
        loader_next(&other, B, x, NULL);
        for (int b = 0; b < B; b++) differ |= id_of(x + b * M) != ids[s * B + b];
        if (s >= 5) {
            loader_next(&c2, B, x, NULL);
            for (int b = 0; b < B; b++) resumed &= id_of(x + b * M) == ids[s * B + b];
        }
    }
    LoaderState end = loader_state(&b2);
    loader_free(&a);
    loader_free(&b2);
    loader_free(&c2);
    loader_free(&other);
    dataset_close(d);
    CHECK(epochs_differ, "every epoch has the same order");
    CHECK(same, "two loaders with one seed disagree");
    CHECK(differ, "another seed gives the same order");
    CHECK(resumed, "a restored LoaderState does not continue the same stream");
    CHECK(end.epoch == 5 && end.cursor == 7 && end.seed == 42, "end state epoch %lld cursor %lld",
          (long long)end.epoch, (long long)end.cursor);
}

int main(void) {
    RUN(shapes_deterministic_and_in_range);
    RUN(shapes_gray_and_other_sizes);
    RUN(simple_shapes_deterministic_with_its_classes);
    RUN(simple_shapes_draw_their_class);
    RUN(fashion_mnist_matches_the_raw_files);
    RUN(fashion_mnist_errors);
    RUN(folder_dataset);
    RUN(folder_errors);
    RUN(loader_order_epochs_and_resume);
    return test_summary();
}
