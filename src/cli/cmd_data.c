// cmd_data.c: `repae data`: what a dataset is, and its images as a grid PNG or a folder of
// PNGs with a labels CSV, so that a user can look at what a run trains on. The dataset comes
// from the data section of CONFIG (or the defaults, shapes), overridden by the options, and is
// opened with dataset_open exactly as training opens it: the pictures are what the model sees.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/config.h"
#include "base/png_io.h"
#include "base/suggest.h"
#include "base/util.h"
#include "cli/cli.h"
#include "data/data.h"

#define GRID_MAX 4096     // images in one grid: beyond that the PNG gets huge; --out has no such limit
#define GRID_MAX_COLS 32  // one class per column only while the grid stays a sensible width

static const char *const DATASET_NAMES[] = {"shapes", "simple-shapes", "fashion-mnist", "folder"};
#define NDATASETS (int)(sizeof DATASET_NAMES / sizeof DATASET_NAMES[0])

const ArgSpec data_args = {
    .cmd = "data",
    .usage = "usage: repae data [CONFIG] [--dataset shapes|simple-shapes|fashion-mnist|folder] [--data-path DIR]\n"
             "                  [--image-size S] [--channels C] [--split train|test] [--n 64]\n"
             "                  [--grid F.png] [--out DIR]\n\n"
             "Shows a dataset as training sees it. The data settings come from the data section of\n"
             "CONFIG (a config file), else the defaults (shapes), then from the options; --dataset\n"
             "fashion-mnist alone means 1x32x32. With no --grid or --out, prints the dataset's name,\n"
             "split sizes, channels, image size and classes.\n"
             "  --grid F.png  the first n images of the split in a grid, one class per column (the\n"
             "                first n/K images of each of the K classes) when there are 2..32 classes\n"
             "  --out DIR     the first n images as DIR/00000.png ... and DIR/labels.csv (file,label);\n"
             "                existing files of those names are overwritten\n",
    .opts = (const ArgOpt[]){ARG_OPT_STR("--dataset"), ARG_OPT_STR("--data-path"), ARG_OPT_INT("--image-size", 2, 4096),
                             ARG_OPT_INT("--channels", 1, 3), ARG_OPT_STR("--split"), ARG_OPT_INT("--n", 1, 10000000),
                             ARG_OPT_STR("--grid"), ARG_OPT_STR("--out"), ARG_OPT_END},
};

static const char *split_name(int split) { return split == DATA_TRAIN ? "train" : "test"; }

// The line(s) `repae data` prints with no output option. The other split is opened only to
// count it: when it cannot be (a folder whose test split is empty) that is said, not fatal.
static void print_info(const DataConfig *dc, const Dataset *d, int split) {
    char err[ERRLEN];
    Dataset *other = NULL;
    int n[2];
    n[split] = dataset_len(d);
    n[!split] = dataset_open(&other, dc, !split, err) == 0 ? dataset_len(other) : -1;
    printf("dataset %s", dc->dataset);
    if (dc->path[0]) printf(" (%s)", dc->path);
    printf(": train %d, test %d images of %d x %d x %d (channels x height x width)\n", n[0], n[1], dc->channels,
           dc->image_size, dc->image_size);
    if (!other) printf("  the %s split cannot be opened: %s\n", split_name(!split), err);
    dataset_close(other);
    int K = dataset_num_classes(d);
    if (K <= 0) {
        printf("no classes\n");
        return;
    }
    printf("%d classes:", K);
    for (int k = 0; k < K; k++) {
        const char *name = dataset_class_name(d, k);
        printf("%s %d%s%s", k ? "," : "", k, name[0] ? " " : "", name);
    }
    printf("\n");
}

// The grid of the first n images; with 2..GRID_MAX_COLS classes, column k holds class k's
// images in dataset order (image j of the grid is the (j / K)-th image of class j % K).
static int write_grid(const Dataset *d, int C, int S, int n, const char *path, char *err) {
    size_t per = (size_t)C * S * S;
    int K = dataset_num_classes(d), cols = 0;
    if (K >= 2 && K <= GRID_MAX_COLS) cols = K < n ? K : n;
    float *imgs = xmalloc((size_t)n * per * sizeof(float));
    if (cols == 0) {
        for (int i = 0; i < n; i++) dataset_get(d, i, imgs + (size_t)i * per, NULL);
    } else {
        for (size_t i = 0; i < (size_t)n * per; i++) imgs[i] = -1; // black where a class runs out
        int *have = xcalloc(cols, sizeof(int));
        float *tmp = xmalloc(per * sizeof(float));
        int filled = 0, len = dataset_len(d);
        for (int i = 0; i < len && filled < n; i++) {
            int y = -1;
            dataset_get(d, i, tmp, &y);
            if (y < 0 || y >= cols) continue;
            int slot = have[y] * cols + y;
            if (slot >= n) continue;
            memcpy(imgs + (size_t)slot * per, tmp, per * sizeof(float));
            have[y]++;
            filled++;
        }
        for (int k = 0; k < cols && filled < n; k++) {
            int want = (n - k + cols - 1) / cols;
            if (have[k] < want)
                fprintf(stderr, "repae data: warning: class %d (%s) has only %d images in this split; its column is "
                                "short of %d\n", k, dataset_class_name(d, k), have[k], want);
        }
        free(tmp);
        free(have);
    }
    int gw, gh;
    uint8_t *rgb = image_grid(imgs, n, C, S, S, cols, 1, &gw, &gh);
    int rc = png_write(path, rgb, gw, gh, 3, err);
    free(rgb);
    free(imgs);
    if (rc == 0) fprintf(stderr, "repae data: %d images in a %dx%d grid%s -> %s\n", n, gw, gh,
                         cols ? ", one class per column" : "", path);
    return rc;
}

// DIR/00000.png ... and DIR/labels.csv. The CSV is opened first, so that a folder that cannot
// be written to fails before any image is made.
static int write_folder(const Dataset *d, int C, int S, int n, const char *dir, char *err) {
    if (mkdir_p(dir, err)) return -1;
    char path[4200];
    snprintf(path, sizeof path, "%s/labels.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f) return seterr(err, "%s: cannot write: %s (is the folder writable?)", path, strerror(errno));
    fprintf(f, "file,label\n");
    size_t per = (size_t)C * S * S;
    float *chw = xmalloc(per * sizeof(float));
    uint8_t *pix = xmalloc(per);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        int y = -1;
        dataset_get(d, i, chw, &y);
        chw_to_u8(chw, C, S, S, pix);
        snprintf(path, sizeof path, "%s/%05d.png", dir, i);
        rc = png_write(path, pix, S, S, C, err);
        if (rc == 0) fprintf(f, "%05d.png,%d\n", i, y);
    }
    free(pix);
    free(chw);
    if (fclose(f) != 0 && rc == 0) rc = seterr(err, "%s/labels.csv: write failed: %s", dir, strerror(errno));
    if (rc == 0) fprintf(stderr, "repae data: %d images and labels.csv -> %s\n", n, dir);
    return rc;
}

int cmd_data(const Globals *g, int argc, char **argv) {
    (void)g;
    Args a;
    if (args_parse(&a, &data_args, argc, argv) != 0) return a.status;
    const char *config = args_pos(&a, 0);
    if (args_pos(&a, 1)) return args_usage_error(&a, "more than one CONFIG ('%s', '%s')", config, args_pos(&a, 1));
    const char *dataset = args_str(&a, "--dataset", NULL), *path = args_str(&a, "--data-path", NULL);
    const char *splits = args_str(&a, "--split", "train"), *grid = args_str(&a, "--grid", NULL);
    const char *out = args_str(&a, "--out", NULL);
    long n = args_long(&a, "--n", 64), size = args_long(&a, "--image-size", -1), channels = args_long(&a, "--channels", -1);
    int split;
    if (strcmp(splits, "train") == 0) split = DATA_TRAIN;
    else if (strcmp(splits, "test") == 0) split = DATA_TEST;
    else return args_usage_error(&a, "--split '%s': expected train or test", splits);
    if (dataset) {
        int known = 0;
        for (int i = 0; i < NDATASETS; i++) known |= strcmp(dataset, DATASET_NAMES[i]) == 0;
        if (!known) {
            const char *near = suggest_nearest(dataset, DATASET_NAMES, NDATASETS, suggest_max_dist(dataset));
            char hint[96] = "";
            if (near) snprintf(hint, sizeof hint, " (did you mean '%s'?)", near);
            return args_usage_error(&a, "--dataset '%s': unknown dataset%s; the datasets are shapes, simple-shapes, "
                                        "fashion-mnist and folder", dataset, hint);
        }
    }
    if (grid && n > GRID_MAX)
        return args_usage_error(&a, "--n %ld: a grid holds 1..%d images; use --out DIR for more", n, GRID_MAX);

    char err[ERRLEN];
    Config cfg;
    config_defaults(&cfg);
    if (config && config_load(&cfg, config, err) != 0) { fprintf(stderr, "repae data: %s\n", err); return 1; }
    // The same data defaults as `repae encoder train`: a dataset named alone gets its own size.
    if (dataset) dataset_select(&cfg.data, dataset, config != NULL);
    if (path) snprintf(cfg.data.path, sizeof cfg.data.path, "%s", path);
    if (size > 0) cfg.data.image_size = (int)size;
    if (channels > 0) cfg.data.channels = (int)channels;

    Dataset *d;
    if (dataset_open(&d, &cfg.data, split, err)) { fprintf(stderr, "repae data: %s\n", err); return 1; }
    int len = dataset_len(d), C = cfg.data.channels, S = cfg.data.image_size, rc = 0;
    if ((grid || out) && n > len) {
        fprintf(stderr, "repae data: --n %ld: the %s split of %s has %d images; give --n 1..%d\n", n, split_name(split),
                cfg.data.dataset, len, len);
        dataset_close(d);
        return 2;
    }
    if (!grid && !out) print_info(&cfg.data, d, split);
    if (grid && write_grid(d, C, S, (int)n, grid, err)) rc = 1;
    if (rc == 0 && out && write_folder(d, C, S, (int)n, out, err)) rc = 1;
    if (rc) fprintf(stderr, "repae data: %s\n", err);
    dataset_close(d);
    return rc;
}
