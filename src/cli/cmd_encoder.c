// cmd_encoder.c: `repae encoder train`, the frozen REPA target encoder (docs/encoder.md):
// self-supervised (--objective ssl, the default: VICReg, src/model/ssl.h, no labels) or the
// earlier label-supervised classifier (--objective supervised). Both report, on held-out
// images, what the targets are worth (src/model/ssl_probe.h) against a random-init encoder of
// the same layout, and record it in the file's metadata. Option parsing and printing only.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "base/config.h"
#include "base/util.h"
#include "data/data.h"
#include "model/encoder.h"
#include "model/ssl.h"
#include "model/ssl_probe.h"

const ArgSpec encoder_args = {
    .cmd = "encoder train",
    .opts = (const ArgOpt[]){ARG_OPT_STR("--dataset"), ARG_OPT_STR("--data-path"), ARG_OPT_STR("--config"),
                             ARG_OPT_STR("--out"), ARG_OPT_INT("--steps", 1, 10000000), ARG_OPT_INT("--batch", 1, 4096),
                             ARG_OPT_INT("--seed", 0, 2147483647), ARG_OPT_INT("--image-size", 2, 4096),
                             ARG_OPT_INT("--channels", 1, 3), ARG_OPT_NUM("--lr", 1e-8, 1.0), ARG_OPT_STR("--layout"),
                             ARG_OPT_INT("--augment", 0, 8), ARG_OPT_STR("--objective"), ARG_OPT_INT("--grid", 1, 4096),
                             ARG_OPT_NUM("--w-dense", 0, 1000), ARG_OPT_INT("--probe-n", 2, 10000000),
                             ARG_OPT_END},
};

static const char USAGE[] =
    "usage: repae encoder train [--objective ssl|supervised] [--dataset shapes|simple-shapes|fashion-mnist|folder]\n"
    "                           [--data-path DIR] [--image-size S] [--channels C] [--config RUN.json]\n"
    "                           [--steps N] [--batch B] [--lr X] [--seed S] [--out F.safetensors]\n"
    "                           [--grid G] [--w-dense W] [--augment PIXELS] [--probe-n N]\n"
    "                           [--layout 'C=1 S=32 ch=16,32,64 convs=2 groups=8 classes=10']\n\n"
    "Trains the frozen target encoder of align.kind \"repa\"; its feature map pooled to the SiT's\n"
    "token grid gives one target vector per token.\n"
    "  ssl (default)  self-supervised, no labels: VICReg on two augmented views (crop, flip,\n"
    "                 translate, intensity/colour), on the pooled features and, weighted by\n"
    "                 --w-dense (1), on the token features of matching positions. The file is\n"
    "                 $REPAE_HOME/ssl-encoder-DATASET.safetensors (align.target \"ssl\").\n"
    "  supervised     a classifier on the training labels (--augment: flips and shifts); the\n"
    "                 file is $REPAE_HOME/encoder-DATASET.safetensors (align.target \"supervised\").\n"
    "Without $REPAE_HOME the files go to ~/.cache/repae/. --out names another file.\n"
    "--grid is the SiT token grid side (default: image_size / (2^(len(vae.ch)-1) * sit.patch) of\n"
    "the data and model settings, which come from --config or the dataset's own (fashion-mnist:\n"
    "1x32x32; shapes: 3x16x16)).\n"
    "Afterwards, on held-out images: the linear-probe accuracy of the pooled features, and the\n"
    "alignment (-cos) reached by predicting the targets from (class, position) means fitted on\n"
    "training images 0..N-1 and scored on N..2N-1 (--probe-n N, default 10000), for this encoder\n"
    "and for a random-init one; recorded in the file's metadata.\n";

static void ssl_progress(void *ctx, int step, int steps, float loss, const float p[4]) {
    (void)ctx;
    fprintf(stderr, "encoder train: step %d/%d  loss %.4f  (global inv %.4f var %.4f cov %.4f, dense %.4f)\n", step,
            steps, loss, p[0], p[1], p[2], p[3]);
}

static void sup_progress(void *ctx, int step, int steps, float loss, float acc) {
    (void)ctx;
    fprintf(stderr, "encoder train: step %d/%d  loss %.4f  train accuracy %.3f\n", step, steps, loss, acc);
}

static int destination_ok(const char *out, char *err) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", out);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        return mkdir_p(dir, err);
    }
    return 0;
}

int cmd_encoder(const Globals *g, int argc, char **argv) {
    (void)g;
    ArgSpec spec = encoder_args;
    spec.usage = USAGE;
    Args a;
    if (args_parse(&a, &spec, argc, argv) != 0) return a.status;
    if (!args_pos(&a, 0) || strcmp(args_pos(&a, 0), "train") != 0) return args_usage_error(&a, "expected the subcommand 'train'");
    if (args_pos(&a, 1)) return args_usage_error(&a, "unknown argument '%s'", args_pos(&a, 1));
    const char *objective = args_str(&a, "--objective", "ssl");
    int ssl = strcmp(objective, "ssl") == 0;
    if (!ssl && strcmp(objective, "supervised") != 0)
        return args_usage_error(&a, "--objective '%s': use ssl (self-supervised, the default) or supervised", objective);
    Config cfg;
    config_defaults(&cfg);
    char err[ERRLEN];
    const char *dataset = args_str(&a, "--dataset", NULL), *path = args_str(&a, "--data-path", NULL);
    const char *out = args_str(&a, "--out", NULL), *config = args_str(&a, "--config", NULL);
    const char *layout_s = args_str(&a, "--layout", NULL);
    long augment = args_long(&a, "--augment", 0), grid = args_long(&a, "--grid", -1);
    long steps = args_long(&a, "--steps", -1), batch = args_long(&a, "--batch", ssl ? 32 : 64);
    long seed = args_long(&a, "--seed", 1), size = args_long(&a, "--image-size", -1);
    long channels = args_long(&a, "--channels", -1), probe_n = args_long(&a, "--probe-n", 10000);
    double lr = args_num(&a, "--lr", 2e-3), w_dense = args_num(&a, "--w-dense", 1.0);
    if (config && config_load(&cfg, config, err) != 0) { fprintf(stderr, "repae encoder train: %s\n", err); return 1; }
    if (dataset) dataset_select(&cfg.data, dataset, config != NULL);
    if (path) snprintf(cfg.data.path, sizeof cfg.data.path, "%s", path);
    if (size > 0) cfg.data.image_size = (int)size;
    if (channels > 0) cfg.data.channels = (int)channels;
    if (grid < 0) {
        int down = (1 << (cfg.vae.nlevels - 1)) * cfg.sit.patch;
        grid = cfg.data.image_size / (down > 0 ? down : 1);
        if (grid < 1) grid = 1;
    }
    Dataset *tr = NULL, *te = NULL;
    if (dataset_open(&tr, &cfg.data, DATA_TRAIN, err) || dataset_open(&te, &cfg.data, DATA_TEST, err)) {
        fprintf(stderr, "repae encoder train: %s\n", err);
        if (tr) dataset_close(tr);
        return 1;
    }
    int K = dataset_num_classes(tr);
    EncoderLayout L = encoder_layout_default(cfg.data.channels, cfg.data.image_size, K);
    Encoder e, r0;
    int rc = 1, have_e = 0, have_r = 0;
    if (layout_s && encoder_layout_parse(&L, layout_s, err)) {
        fprintf(stderr, "repae encoder train: --layout: %s\n", err);
        rc = 2;
        goto done;
    }
    // Supervised: as before (shapes is learnt in a few hundred steps; 1500 steps bring fashion-mnist
    // near the plateau). SSL: 1200 steps of 32 images (64 views) -- see docs/encoder.md for the times.
    if (steps < 0) steps = ssl ? 1200 : strcmp(cfg.data.dataset, "shapes") == 0 ? 600 : 1500;
    if (encoder_build(&e, &L, (int)(ssl ? 2 * batch : batch), ALLOC_GRAD, err)) {
        fprintf(stderr, "repae encoder train: %s\n", err);
        goto done;
    }
    have_e = 1;
    char layout[256], def[1024];
    encoder_layout_str(&L, layout, sizeof layout);
    const char *kind = ssl ? "ssl-encoder" : "encoder";
    if (!out) out = encoder_default_path(kind, cfg.data.dataset, def, sizeof def);
    if (destination_ok(out, err)) { fprintf(stderr, "repae encoder train: %s\n", err); goto done; }
    fprintf(stderr, "repae encoder train: %s (%s) on %s (%d train / %d test images), layout %s, token grid %ldx%ld, "
                    "%ld steps of %ld, seed %ld\n", kind, objective, cfg.data.dataset, dataset_len(tr), dataset_len(te),
            layout, grid, grid, steps, batch, seed);
    Rng r;
    rng_seed(&r, (uint64_t)seed * 0x9e3779b97f4a7c15ULL + 17);
    encoder_init(&e, &r);
    double t0 = now_seconds();
    if (ssl) {
        SslTrainOpts o = ssl_train_default((int)grid);
        o.steps = (int)steps;
        o.batch = (int)batch;
        o.lr = (float)lr;
        o.w_dense = (float)w_dense;
        o.seed = (uint64_t)seed + 1000;
        o.log_every = steps >= 20 ? (int)(steps / 20) : 1;
        o.progress = ssl_progress;
        if (isnan(ssl_train(&e, tr, &o, err))) { fprintf(stderr, "repae encoder train: %s\n", err); goto done; }
    } else {
        EncoderTrainOpts o = {.steps = (int)steps, .batch = (int)batch, .lr = (float)lr, .seed = (uint64_t)seed + 1000,
                              .log_every = steps >= 20 ? (int)(steps / 10) : 1, .progress = sup_progress,
                              .augment = (int)augment, .lr_end = 0.1f, .weight_decay = 1e-4f};
        encoder_train(&e, tr, &o);
    }
    double dt = now_seconds() - t0;
    // What the targets are worth, against a random-init encoder of the same layout.
    fprintf(stderr, "repae encoder train: probing on held-out images (linear probe, lookup baselines)\n");
    SslProbe pe, pr;
    if (ssl_probe_run(&e, (int)grid, tr, te, (int)probe_n, (int)probe_n, 5000, &pe, err)) {
        fprintf(stderr, "repae encoder train: %s\n", err);
        goto done;
    }
    if (encoder_build(&r0, &L, e.max_batch, 0, err)) { fprintf(stderr, "repae encoder train: %s\n", err); goto done; }
    have_r = 1;
    rng_seed(&r, (uint64_t)seed * 0x9e3779b97f4a7c15ULL + 17); // the trained encoder's starting point
    encoder_init(&r0, &r);
    if (ssl_probe_run(&r0, (int)grid, tr, te, (int)probe_n, (int)probe_n, 5000, &pr, err)) {
        fprintf(stderr, "repae encoder train: %s\n", err);
        goto done;
    }
    double acc = ssl ? -1 : encoder_accuracy(&e, te, 0);
    char v[8][48];
    snprintf(v[0], sizeof v[0], "%.4f", pe.probe_acc);
    snprintf(v[1], sizeof v[1], "%.4f", pe.lookup_align);
    snprintf(v[2], sizeof v[2], "%.4f", pe.position_align);
    snprintf(v[3], sizeof v[3], "%.4f", pr.probe_acc);
    snprintf(v[4], sizeof v[4], "%.4f", pr.lookup_align);
    snprintf(v[5], sizeof v[5], "%ldx%ld", grid, grid);
    snprintf(v[6], sizeof v[6], "%.0f", dt);
    snprintf(v[7], sizeof v[7], "%ld", steps);
    const char *meta[] = {"repae.objective", objective, "repae.probe_accuracy", v[0], "repae.lookup_align", v[1],
                          "repae.position_align", v[2], "repae.random_probe_accuracy", v[3],
                          "repae.random_lookup_align", v[4], "repae.grid", v[5], "repae.train_seconds", v[6],
                          "repae.steps", v[7]};
    if (encoder_save_meta(&e, out, kind, cfg.data.dataset, acc, meta, 9, err)) {
        fprintf(stderr, "repae encoder train: %s\n", err);
        goto done;
    }
    if (!ssl) printf("encoder: test accuracy %.4f (chance %.2f)\n", acc, 1.0 / K);
    printf("%s: %ld steps in %.0f s -> %s\n", kind, steps, dt, out);
    printf("%s: linear probe %.4f (random-init encoder %.4f, chance %.2f) on %d test images\n", kind, pe.probe_acc,
           pr.probe_acc, 1.0 / K, pe.nprobe_test);
    printf("%s: lookup alignment from (class, position) means %.4f, from position alone %.4f "
           "(random-init encoder %.4f, %.4f); fit on %d, scored on %d training images\n",
           kind, pe.lookup_align, pe.position_align, pr.lookup_align, pr.position_align, pe.nfit, pe.nscore);
    rc = 0;
done:
    if (have_e) encoder_free(&e);
    if (have_r) encoder_free(&r0);
    dataset_close(tr);
    dataset_close(te);
    return rc;
}
