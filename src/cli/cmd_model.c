// cmd_model.c: `repae sample` and `repae reconstruct`: a run's newest usable checkpoint
// (ckpt_newest_usable in the run's directory) loaded into a Model of the run's stored config.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "data/data.h"
#include "base/config.h"
#include "model/model.h"
#include "base/png_io.h"
#include "store/store.h"
#include "train/checkpoint.h"
#include "base/util.h"

#define MAX_CHUNK 64 // images per forward pass: bounds the activation memory

// A run's config and the directory of its newest checkpoint still on disk.
typedef struct {
    Config cfg;
    char name[256];
    char ckpt[4096];
    long step;
} RunModel;

static int find_run(const Globals *g, const char *ref, RunModel *rm, char *err) {
    Store *s;
    if (store_open(&s, g->db, 0, err)) return -1;
    int64_t id;
    StoreRun r;
    if (store_resolve(s, ref, &id, err) || store_get_run(s, id, &r, err)) { store_close(s); return -1; }
    snprintf(rm->name, sizeof rm->name, "%s", r.name);
    config_defaults(&rm->cfg);
    int rc = config_parse(&rm->cfg, r.config, "the run's stored config", err);
    if (rc == 0) rc = config_validate(&rm->cfg, err);
    store_run_free(&r);
    if (rc) { store_close(s); return -1; }
    // What is on disk decides, not what the store heard of: training prunes old checkpoints,
    // a run killed mid-write leaves one the store never recorded, a damaged one is skipped.
    char dir[3000];
    store_run_dir(s, id, dir, sizeof dir);
    rm->step = ckpt_newest_usable(dir, rm->ckpt, sizeof rm->ckpt);
    store_close(s);
    if (rm->step < 0)
        return seterr(err, "run '%s' has no checkpoint yet (one is written every train.ckpt_every steps and "
                           "when a run ends or is stopped)", rm->name);
    return 0;
}

static int load_model(Model *m, const RunModel *rm, int max_batch, char *err) {
    if (model_build(m, &rm->cfg, max_batch, 0, err)) return -1;
    if (m->precision_note[0]) fprintf(stderr, "repae: warning: %s\n", m->precision_note);
    if (model_load(m, rm->ckpt, 1, err)) { model_free(m); return -1; }
    return 0;
}

// ---- sample --------------------------------------------------------------------------------------

const ArgSpec sample_args = {
    .cmd = "sample",
    .usage = "usage: repae sample RUN [--n 16] [--steps 50] [--cfg W] [--class K] [--seed S]\n"
             "                        [--solver euler|heun|sde] --out F.png\n\n"
             "Draws a grid of n samples from the newest checkpoint of RUN (id or name), with the\n"
             "SiT's EMA weights when the run keeps an EMA. Defaults for steps, cfg and solver come\n"
             "from the run's sample.* config; --class K gives every image class K (default: image i\n"
             "gets class i mod the number of classes); --cfg W is the classifier-free guidance\n"
             "scale (1 = none).\n",
    .opts = (const ArgOpt[]){ARG_OPT_INT("--n", 1, 1024), ARG_OPT_INT("--steps", 1, 100000),
                             ARG_OPT_NUM("--cfg", 0, 1000), ARG_OPT_INT("--class", 0, 1000000),
                             ARG_OPT_INT("--seed", 0, 2147483647), ARG_OPT_STR("--solver"), ARG_OPT_STR("--out"),
                             ARG_OPT_END},
};

int cmd_sample(const Globals *g, int argc, char **argv) {
    Args a;
    if (args_parse(&a, &sample_args, argc, argv) != 0) return a.status;
    const char *run = args_pos(&a, 0), *out = args_str(&a, "--out", NULL), *solver = args_str(&a, "--solver", NULL);
    if (!run) return args_usage_error(&a, "missing RUN");
    if (args_pos(&a, 1)) return args_usage_error(&a, "more than one RUN ('%s', '%s')", run, args_pos(&a, 1));
    if (!out) return args_usage_error(&a, "missing --out F.png");
    int n = (int)args_long(&a, "--n", 16), steps = (int)args_long(&a, "--steps", -1);
    int cls = (int)args_long(&a, "--class", -1), seed = (int)args_long(&a, "--seed", 0);
    int have_cfg = args_has(&a, "--cfg");
    float cfgw = (float)args_num(&a, "--cfg", 1);
    char err[ERRLEN];
    RunModel rm;
    if (find_run(g, run, &rm, err)) { fprintf(stderr, "repae sample: %s\n", err); return 1; }
    SampleOpts o;
    if (sample_opts_from_config(&o, &rm.cfg.sample, err)) { fprintf(stderr, "repae sample: %s\n", err); return 1; }
    if (steps > 0) o.steps = steps;
    if (have_cfg) o.cfg_scale = cfgw;
    if (solver && solver_parse(&o.solver, solver, err)) { fprintf(stderr, "repae sample: --solver: %s\n", err); return 2; }
    int K = rm.cfg.sit.num_classes;
    if (cls >= 0 && K == 0) { fprintf(stderr, "repae sample: run '%s' is unconditional (sit.num_classes = 0); drop --class\n", rm.name); return 2; }
    if (cls >= K && K > 0) { fprintf(stderr, "repae sample: --class %d: run '%s' has classes 0..%d\n", cls, rm.name, K - 1); return 2; }
    Model *m = xcalloc(1, sizeof *m);
    if (load_model(m, &rm, n < MAX_CHUNK ? n : MAX_CHUNK, err)) {
        fprintf(stderr, "repae sample: %s\n", err);
        free(m);
        return 1;
    }
    int *labels = NULL;
    if (cls >= 0) {
        labels = xmalloc(n * sizeof(int));
        for (int i = 0; i < n; i++) labels[i] = cls;
    }
    float *imgs = xmalloc((size_t)n * m->nx * sizeof(float));
    model_sample(m, n, labels, &o, (uint64_t)seed, imgs);
    int gw, gh;
    uint8_t *rgb = image_grid(imgs, n, m->C, m->S, m->S, 0, 1, &gw, &gh);
    int rc = png_write(out, rgb, gw, gh, 3, err);
    if (rc) fprintf(stderr, "repae sample: %s\n", err);
    else fprintf(stderr, "repae sample: %d images from run '%s' step %ld%s, %d %s steps, cfg %g -> %s\n", n,
                 rm.name, rm.step, rm.cfg.train.ema > 0 ? " (EMA)" : "", o.steps, o.solver == SOLVER_EULER ? "euler" : o.solver == SOLVER_HEUN ? "heun" : "sde",
                 o.cfg_scale, out);
    free(rgb);
    free(imgs);
    free(labels);
    model_free(m);
    free(m);
    return rc ? 1 : 0;
}

// ---- reconstruct ---------------------------------------------------------------------------------

const ArgSpec reconstruct_args = {
    .cmd = "reconstruct",
    .usage = "usage: repae reconstruct RUN IN.png OUT.png [--pair]\n\n"
             "Deterministic VAE round trip through the posterior mean with the newest checkpoint of\n"
             "RUN (id or name). IN is centre-cropped, resized to the run's data.image_size and\n"
             "converted to its data.channels, as the folder dataset does. OUT is the reconstruction\n"
             "alone at that size; with --pair, the input and the reconstruction side by side.\n"
             "Prints the PSNR of the round trip on stderr.\n",
    .opts = (const ArgOpt[]){ARG_OPT_FLAG("--pair"), ARG_OPT_END},
};

int cmd_reconstruct(const Globals *g, int argc, char **argv) {
    Args a;
    if (args_parse(&a, &reconstruct_args, argc, argv) != 0) return a.status;
    const char *pos[3] = {args_pos(&a, 0), args_pos(&a, 1), args_pos(&a, 2)};
    if (!pos[2] || args_pos(&a, 3)) return args_usage_error(&a, "expected RUN IN.png OUT.png");
    int pair = args_has(&a, "--pair");
    char err[ERRLEN];
    RunModel rm;
    if (find_run(g, pos[0], &rm, err)) { fprintf(stderr, "repae reconstruct: %s\n", err); return 1; }
    int C = rm.cfg.data.channels, S = rm.cfg.data.image_size, H, W;
    float *img;
    if (png_read(pos[1], C, &img, &H, &W, err)) { fprintf(stderr, "repae reconstruct: %s\n", err); return 1; }
    Model *m = xcalloc(1, sizeof *m);
    if (load_model(m, &rm, 1, err)) {
        fprintf(stderr, "repae reconstruct: %s\n", err);
        free(img);
        free(m);
        return 1;
    }
    size_t nx = m->nx;
    float *x = xmalloc(2 * nx * sizeof(float)), *xr = x + nx;
    // The image the model would have seen had IN been in a folder dataset of this run's config.
    uint8_t *pix = xmalloc(nx);
    image_crop_resize(img, C, H, W, S, pix);
    for (size_t i = 0; i < nx; i++) x[i] = pix[i] / 127.5f - 1.0f;
    free(pix);
    free(img);
    model_reconstruct(m, x, 1, xr);
    double se = 0;
    for (size_t i = 0; i < nx; i++) {
        xr[i] = xr[i] < -1 ? -1 : xr[i] > 1 ? 1 : xr[i];
        se += (double)(xr[i] - x[i]) * (xr[i] - x[i]);
    }
    double psnr = 10 * log10(4.0 / (se / nx + 1e-20)); // peak-to-peak 2 in [-1, 1]
    int rc;
    if (pair) {
        int gw, gh;
        uint8_t *rgb = image_grid(x, 2, C, S, S, 2, 1, &gw, &gh);
        rc = png_write(pos[2], rgb, gw, gh, 3, err);
        free(rgb);
    } else {
        uint8_t *pix = xmalloc(nx);
        chw_to_u8(xr, C, S, S, pix);
        rc = png_write(pos[2], pix, S, S, C, err);
        free(pix);
    }
    if (rc) fprintf(stderr, "repae reconstruct: %s\n", err);
    else fprintf(stderr, "repae reconstruct: run '%s' step %ld, %dx%d: PSNR %.2f dB -> %s\n", rm.name, rm.step, S, S,
                 psnr, pos[2]);
    free(x);
    model_free(m);
    free(m);
    return rc ? 1 : 0;
}
