// data_folder.c: a directory of PNGs, one subfolder per class. Every image of the split is
// decoded, centre-cropped and box-resized once at open, so a bad file is reported up front
// (by name) instead of in the middle of training, and dataset_get is a plain copy.
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include "data/data_impl.h"
#include "base/png_io.h"
#include "base/util.h"

typedef struct {
    char **v;
    int n, cap;
} StrList;

static void sl_push(StrList *l, const char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = xrealloc(l->v, sizeof(char *) * l->cap);
    }
    l->v[l->n++] = xstrdup(s);
}

static void sl_free(StrList *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int is_png_name(const char *s) {
    size_t n = strlen(s);
    return n > 4 && strcasecmp(s + n - 4, ".png") == 0 && s[0] != '.';
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

// Sorted names in dir that are subdirectories (want_dirs) or PNG files.
static int list_dir(const char *dir, int want_dirs, StrList *out, char *err) {
    DIR *d = opendir(dir);
    if (!d) return seterr(err, "data.path %s: cannot read the directory", dir);
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (want_dirs ? is_dir(path) : (is_png_name(e->d_name) && !is_dir(path))) sl_push(out, e->d_name);
    }
    closedir(d);
    if (out->n) qsort(out->v, out->n, sizeof(char *), cmp_str);
    return 0;
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
    return h;
}

// Area-weighted resampling of one axis: out[o] averages the input span [o*k, (o+1)*k), k = n/m,
// with fractional weights at the ends. Shrinks as a box filter, and enlarges as nearest.
static void resample_axis(const float *in, int n, int stride_in, float *out, int m, int stride_out) {
    double k = (double)n / m;
    for (int o = 0; o < m; o++) {
        double a = o * k, b = (o + 1) * k, s = 0;
        for (int i = (int)a; i < n && i < b; i++) {
            double lo = i > a ? i : a, hi = i + 1 < b ? i + 1 : b;
            s += (hi - lo) * in[(size_t)i * stride_in];
        }
        out[(size_t)o * stride_out] = (float)(s / k);
    }
}

// Centre-crops a C x H x W image to a square and resizes it to S x S, as uint8.
void image_crop_resize(const float *img, int C, int H, int W, int S, uint8_t *out) {
    int side = H < W ? H : W, y0 = (H - side) / 2, x0 = (W - side) / 2;
    float *tmp = xmalloc(sizeof(float) * (size_t)side * S), *res = xmalloc(sizeof(float) * (size_t)S * S);
    for (int c = 0; c < C; c++) {
        const float *p = img + (size_t)c * H * W;
        for (int y = 0; y < side; y++) resample_axis(p + (size_t)(y0 + y) * W + x0, side, 1, tmp + (size_t)y * S, S, 1);
        for (int x = 0; x < S; x++) resample_axis(tmp + x, side, S, res + x, S, S);
        for (int i = 0; i < S * S; i++) {
            float u = (res[i] + 1.0f) * 127.5f;
            out[(size_t)c * S * S + i] = u <= 0 ? 0 : u >= 255 ? 255 : (uint8_t)(u + 0.5f);
        }
    }
    free(tmp);
    free(res);
}

int folder_open(Dataset *d, const DataConfig *cfg, int split, char *err) {
    const char *root = cfg->path;
    if (!root[0]) return seterr(err, "data.path: the folder dataset needs a directory with one subfolder of PNGs per class");
    if (!is_dir(root)) return seterr(err, "data.path %s: not a directory (want DIR/<class>/*.png)", root);
    StrList classes = {0};
    if (list_dir(root, 1, &classes, err)) return -1;
    // Every file of every class, with its class, in sorted order.
    StrList files = {0};
    int *cls = NULL, ncls = 0, rc = 0;
    char path[4096];
    for (int k = 0; k < classes.n && rc == 0; k++) {
        StrList pngs = {0};
        snprintf(path, sizeof path, "%s/%s", root, classes.v[k]);
        rc = list_dir(path, 0, &pngs, err);
        if (rc == 0 && pngs.n) {
            int nc = ncls++;
            d->class_names = xrealloc(d->class_names, (size_t)ncls * DATA_NAMELEN);
            snprintf(d->class_names[nc], DATA_NAMELEN, "%s", classes.v[k]);
            cls = xrealloc(cls, sizeof(int) * (size_t)(files.n + pngs.n));
            for (int i = 0; i < pngs.n; i++) {
                snprintf(path, sizeof path, "%s/%s", classes.v[k], pngs.v[i]);
                cls[files.n] = nc;
                sl_push(&files, path);
            }
        }
        sl_free(&pngs);
    }
    sl_free(&classes);
    if (rc == 0 && files.n == 0)
        rc = seterr(err, "data.path %s: no PNG files in its subfolders (want %s/<class>/*.png)", root, root);
    // The held-out split: files whose relative path hashes to 0 mod 10 (about 10%, and stable
    // when files are added); if that picks none, the single lowest hash, so test is never empty.
    char *test = NULL;
    if (rc == 0) {
        test = xcalloc((size_t)files.n, 1);
        int ntest = 0, lowest = 0;
        for (int i = 0; i < files.n; i++) {
            uint64_t h = fnv1a(files.v[i]);
            test[i] = h % 10 == 0;
            ntest += test[i];
            if (h < fnv1a(files.v[lowest])) lowest = i;
        }
        if (ntest == 0 && files.n >= 2) test[lowest] = 1;
    }
    int S = d->size, C = d->channels;
    size_t m = (size_t)C * S * S;
    int nsplit = 0;
    for (int i = 0; i < files.n && rc == 0; i++) nsplit += test[i] == (split == DATA_TEST);
    if (nsplit) {
        d->pix = xmalloc(m * (size_t)nsplit);
        d->labels = xmalloc(sizeof(int) * (size_t)nsplit);
    }
    for (int i = 0; i < files.n && rc == 0; i++) {
        if (test[i] != (split == DATA_TEST)) continue;
        snprintf(path, sizeof path, "%s/%s", root, files.v[i]);
        float *img;
        int h, w;
        if ((rc = png_read(path, C, &img, &h, &w, err)) != 0) break;
        image_crop_resize(img, C, h, w, S, d->pix + m * d->n);
        d->labels[d->n++] = cls[i];
        free(img);
    }
    free(test);
    free(cls);
    sl_free(&files);
    d->nclasses = ncls;
    return rc;
}
