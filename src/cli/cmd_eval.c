// cmd_eval.c: `repae encoder train`, `repae evaluator train` (the two small CNNs of encoder.h)
// and `repae eval RUN` (generation metrics of a run's newest usable checkpoint, computed by
// eval/evaluate.h, stored with the run). Option parsing and printing only: the training loop
// of the two networks is encoder_train, the metrics eval_run.
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "base/config.h"
#include "data/data.h"
#include "model/encoder.h"
#include "model/evaluator.h"
#include "eval/evaluate.h"
#include "model/model.h"
#include "store/store.h"
#include "train/checkpoint.h"
#include "base/util.h"

// "--key value" or "--key=value" at argv[*i]; advances *i past the value. NULL if not key.
static const char *opt_value(int argc, char **argv, int *i, const char *key, const char *who, int *bad) {
    size_t k = strlen(key);
    if (strncmp(argv[*i], key, k) != 0) return NULL;
    if (argv[*i][k] == '=') return argv[*i] + k + 1;
    if (argv[*i][k] != 0) return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "repae %s: %s needs a value\n", who, key);
        *bad = 1;
        return NULL;
    }
    return argv[++*i];
}

static int parse_long(const char *s, long lo, long hi, long *out, const char *what, const char *who) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "repae %s: %s must be an integer in [%ld, %ld], not '%s'\n", who, what, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_float(const char *s, double lo, double hi, double *out, const char *what, const char *who) {
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "repae %s: %s must be a number in [%g, %g], not '%s'\n", who, what, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

// ---- encoder train / evaluator train -----------------------------------------------------------

static void print_progress(void *ctx, int step, int steps, float loss, float acc) {
    const char *who = ctx;
    fprintf(stderr, "%s: step %d/%d  loss %.4f  train accuracy %.3f\n", who, step, steps, loss, acc);
}

static int net_train(const Globals *g, int argc, char **argv, const char *kind) {
    (void)g;
    int is_eval = strcmp(kind, "evaluator") == 0;
    char usage[1400];
    snprintf(usage, sizeof usage,
             "usage: repae %s train [--dataset shapes|fashion-mnist|folder] [--data-path DIR]\n"
             "                      [--image-size S] [--channels C] [--config RUN.json]\n"
             "                      [--steps N] [--batch B] [--lr X] [--seed S] [--out F.safetensors]\n\n"
             "%s\n"
             "The data settings default to the dataset's own (fashion-mnist: 1x32x32; shapes:\n"
             "3x16x16) or come from the data section of --config. The file goes to --out, else\n"
             "$REPAE_HOME/%s-DATASET.safetensors, else ~/.cache/repae/%s-DATASET.safetensors.\n",
             kind,
             is_eval ? "Trains the evaluation network of `repae eval` (a classifier CNN with another layout\n"
                       "and seed than the REPA target encoder): its penultimate features give the Frechet\n"
                       "distance, its class probabilities the Inception-style score and class accuracy.\n"
                     : "Trains the frozen target encoder of align.kind \"repa\": a small classifier CNN on the\n"
                       "training labels; its feature map pooled to the SiT's token grid gives one target\n"
                       "vector per token.\n",
             kind, kind);
    char who[32];
    snprintf(who, sizeof who, "%s train", kind);
    if (wants_help(argc, argv)) { fputs(usage, stdout); return 0; }
    if (argc < 1 || strcmp(argv[0], "train") != 0) {
        fprintf(stderr, "repae %s: expected the subcommand 'train'\n%s", kind, usage);
        return 2;
    }
    Config cfg;
    config_defaults(&cfg);
    char err[ERRLEN];
    const char *dataset = NULL, *path = NULL, *out = NULL, *config = NULL;
    long steps = -1, batch = 64, seed = is_eval ? 2 : 1, size = -1, channels = -1;
    double lr = 2e-3;
    int bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        const char *v;
        if ((v = opt_value(argc, argv, &i, "--dataset", who, &bad))) dataset = v;
        else if ((v = opt_value(argc, argv, &i, "--data-path", who, &bad))) path = v;
        else if ((v = opt_value(argc, argv, &i, "--config", who, &bad))) config = v;
        else if ((v = opt_value(argc, argv, &i, "--out", who, &bad))) out = v;
        else if ((v = opt_value(argc, argv, &i, "--steps", who, &bad))) bad = parse_long(v, 1, 10000000, &steps, "--steps", who) != 0;
        else if ((v = opt_value(argc, argv, &i, "--batch", who, &bad))) bad = parse_long(v, 1, 4096, &batch, "--batch", who) != 0;
        else if ((v = opt_value(argc, argv, &i, "--seed", who, &bad))) bad = parse_long(v, 0, 2147483647L, &seed, "--seed", who) != 0;
        else if ((v = opt_value(argc, argv, &i, "--image-size", who, &bad))) bad = parse_long(v, 2, 4096, &size, "--image-size", who) != 0;
        else if ((v = opt_value(argc, argv, &i, "--channels", who, &bad))) bad = parse_long(v, 1, 3, &channels, "--channels", who) != 0;
        else if ((v = opt_value(argc, argv, &i, "--lr", who, &bad))) bad = parse_float(v, 1e-8, 1.0, &lr, "--lr", who) != 0;
        else if (!bad) {
            fprintf(stderr, "repae %s: unknown argument '%s'\n%s", who, argv[i], usage);
            return 2;
        }
    }
    if (bad) return 2;
    if (config && config_load(&cfg, config, err) != 0) { fprintf(stderr, "repae %s: %s\n", who, err); return 1; }
    if (dataset) {
        snprintf(cfg.data.dataset, sizeof cfg.data.dataset, "%s", dataset);
        if (strcmp(dataset, "fashion-mnist") == 0) { cfg.data.channels = 1; cfg.data.image_size = 32; }
        else if (strcmp(dataset, "shapes") == 0 && !config) { cfg.data.channels = 3; cfg.data.image_size = 16; }
    }
    if (path) snprintf(cfg.data.path, sizeof cfg.data.path, "%s", path);
    if (size > 0) cfg.data.image_size = (int)size;
    if (channels > 0) cfg.data.channels = (int)channels;
    Dataset *tr = NULL, *te = NULL;
    if (dataset_open(&tr, &cfg.data, DATA_TRAIN, err) || dataset_open(&te, &cfg.data, DATA_TEST, err)) {
        fprintf(stderr, "repae %s: %s\n", who, err);
        if (tr) dataset_close(tr);
        return 1;
    }
    int K = dataset_num_classes(tr);
    EncoderLayout L = is_eval ? evaluator_layout_default(cfg.data.channels, cfg.data.image_size, K)
                              : encoder_layout_default(cfg.data.channels, cfg.data.image_size, K);
    // Shapes is learnt in a few hundred steps; 1500 steps (1.6 epochs of fashion-mnist at batch
    // 64, a few minutes on 2 cores) bring these small nets near their plateau (~0.88).
    if (steps < 0) steps = strcmp(cfg.data.dataset, "shapes") == 0 ? 600 : 1500;
    Encoder e;
    int rc = 1;
    if (encoder_build(&e, &L, (int)batch, 1, err)) {
        fprintf(stderr, "repae %s: %s\n", who, err);
        goto done_data;
    }
    char layout[256], def[1024];
    encoder_layout_str(&L, layout, sizeof layout);
    if (!out) out = encoder_default_path(kind, cfg.data.dataset, def, sizeof def);
    // Fail on an unwritable destination now, not after the training.
    {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s", out);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = 0;
            if (mkdir_p(dir, err)) { fprintf(stderr, "repae %s: %s\n", who, err); goto done_net; }
        }
    }
    fprintf(stderr, "repae %s: %s on %s (%d train / %d test images), layout %s, %ld steps of %ld, seed %ld\n", who,
            kind, cfg.data.dataset, dataset_len(tr), dataset_len(te), layout, steps, batch, seed);
    Rng r;
    rng_seed(&r, (uint64_t)seed * 0x9e3779b97f4a7c15ULL + 17);
    encoder_init(&e, &r);
    EncoderTrainOpts o = {.steps = (int)steps, .batch = (int)batch, .lr = (float)lr, .seed = (uint64_t)seed + 1000,
                          .log_every = steps >= 20 ? (int)(steps / 10) : 1, .progress = print_progress, .ctx = who};
    double t0 = now_seconds();
    encoder_train(&e, tr, &o);
    double dt = now_seconds() - t0;
    float acc = encoder_accuracy(&e, te, 0);
    if (encoder_save(&e, out, kind, cfg.data.dataset, acc, err)) { fprintf(stderr, "repae %s: %s\n", who, err); goto done_net; }
    printf("%s: test accuracy %.4f (chance %.2f) after %ld steps in %.0f s -> %s\n", kind, acc, 1.0 / K, steps, dt, out);
    rc = 0;
done_net:
    encoder_free(&e);
done_data:
    dataset_close(tr);
    dataset_close(te);
    return rc;
}

int cmd_encoder(const Globals *g, int argc, char **argv) { return net_train(g, argc, argv, "encoder"); }
int cmd_evaluator(const Globals *g, int argc, char **argv) { return net_train(g, argc, argv, "evaluator"); }

// ---- eval ----------------------------------------------------------------------------------------

typedef struct {
    int tty;
    long chunk; // samples per progress report
} EvalProgress;

static void eval_progress(void *ctx, long done, long total, double seconds) {
    const EvalProgress *p = ctx;
    if (p->tty) fprintf(stderr, "\rrepae eval: sampled %ld/%ld (%.0f s)\033[K", done, total, seconds);
    else if (done == total || (done / p->chunk) % 10 == 0)
        fprintf(stderr, "repae eval: sampled %ld/%ld (%.0f s)\n", done, total, seconds);
}

int cmd_eval(const Globals *g, int argc, char **argv) {
    const char *who = "eval";
    const char *usage =
        "usage: repae eval RUN [--n 5000] [--steps N] [--cfg W] [--seed S] [--batch B]\n"
        "                      [--evaluator F.safetensors] [--no-store]\n\n"
        "Generation metrics of the run's newest checkpoint (EMA weights when the run keeps an EMA),\n"
        "printed and stored with the run as eval.* metrics at the checkpoint's step:\n"
        "  eval.fd          Frechet distance between the evaluation network's penultimate features\n"
        "                   of N samples and of N held-out images (the test split)\n"
        "  eval.is          Inception-style score of the samples' class probabilities (10 splits)\n"
        "  eval.acc         share of class-conditional samples the evaluator puts in the requested\n"
        "                   class (class k % num_classes for sample k; conditional runs only)\n"
        "  eval.psnr        VAE reconstruction PSNR (dB, posterior mean) on the held-out images\n"
        "  eval.latent_std  spatial std of the VAE's latents (posterior mean) on the held-out images\n"
        "  eval.rfd         Frechet distance of the reconstructions to the held-out images\n"
        "Sampling uses the run's sample.* settings unless --steps / --cfg say otherwise.\n"
        "The evaluation network comes from `repae evaluator train --dataset D` (or --evaluator).\n";
    if (wants_help(argc, argv)) { fputs(usage, stdout); return 0; }
    const char *ref = NULL, *evpath = NULL;
    long n = 5000, steps = -1, seed = 0, batch = 64;
    double cfgw = -1;
    int bad = 0, store_it = 1;
    for (int i = 0; i < argc && !bad; i++) {
        const char *v;
        if ((v = opt_value(argc, argv, &i, "--n", who, &bad))) bad = parse_long(v, 2, 10000000, &n, "--n", who) != 0;
        else if ((v = opt_value(argc, argv, &i, "--steps", who, &bad))) bad = parse_long(v, 1, 10000, &steps, "--steps", who) != 0;
        else if ((v = opt_value(argc, argv, &i, "--seed", who, &bad))) bad = parse_long(v, 0, 2147483647L, &seed, "--seed", who) != 0;
        else if ((v = opt_value(argc, argv, &i, "--batch", who, &bad))) bad = parse_long(v, 1, 4096, &batch, "--batch", who) != 0;
        else if ((v = opt_value(argc, argv, &i, "--cfg", who, &bad))) bad = parse_float(v, 0, 100, &cfgw, "--cfg", who) != 0;
        else if ((v = opt_value(argc, argv, &i, "--evaluator", who, &bad))) evpath = v;
        else if (strcmp(argv[i], "--no-store") == 0) store_it = 0;
        else if (!bad && argv[i][0] == '-') { fprintf(stderr, "repae eval: unknown option '%s'\n%s", argv[i], usage); return 2; }
        else if (!bad && !ref) ref = argv[i];
        else if (!bad) { fprintf(stderr, "repae eval: expected one RUN\n%s", usage); return 2; }
    }
    if (bad) return 2;
    if (!ref) { fprintf(stderr, "repae eval: which run? give its id or name\n%s", usage); return 2; }

    char err[ERRLEN];
    Store *s = NULL;
    if (store_open(&s, g->db, 0, err)) { fprintf(stderr, "repae eval: %s\n", err); return 1; }
    int64_t id;
    StoreRun run;
    memset(&run, 0, sizeof run);
    int rc = 1, have_run = 0, have_eval = 0;
    Evaluation *ev = xcalloc(1, sizeof *ev);
    if (store_resolve(s, ref, &id, err) || store_get_run(s, id, &run, err)) goto fail;
    have_run = 1;
    Config cfg;
    config_defaults(&cfg);
    if (config_parse(&cfg, run.config, "the run's stored config", err) || config_validate(&cfg, err)) goto fail;
    char run_dir[2048], ck[4096];
    store_run_dir(s, id, run_dir, sizeof run_dir);
    long step = ckpt_newest_usable(run_dir, ck, sizeof ck);
    if (step < 0) {
        seterr(err, "the run has no usable checkpoint in %s/ckpt (it writes one every train.ckpt_every steps "
                    "and at its end)", run_dir);
        goto fail;
    }
    EvalProgress pr = {isatty(2), batch * EVAL_CHUNK_BATCHES};
    EvalOpts o = {.n = n, .batch = (int)batch, .steps = (int)steps, .cfg_scale = cfgw, .seed = (uint64_t)seed,
                  .evaluator = evpath, .progress = eval_progress, .ctx = &pr};
    if (eval_open(ev, &cfg, ck, &o, err)) goto fail;
    have_eval = 1;
    fprintf(stderr, "repae eval: run %" PRId64 " (%s), checkpoint at step %ld%s; %ld samples (%d %s steps, cfg %.2f) "
                    "against %ld held-out %s images\n", id, run.name, step, ev->use_ema ? " (EMA)" : "", n, ev->so.steps,
            cfg.sample.solver, ev->so.cfg_scale, ev->nheld, cfg.data.dataset);
    EvalResult R;
    int failed = eval_run(ev, &R, err);
    if (pr.tty) fputc('\n', stderr);
    if (failed) goto fail;

    char acc[32];
    if (isnan(R.acc)) snprintf(acc, sizeof acc, "n/a (unconditional)");
    else snprintf(acc, sizeof acc, "%.4f", R.acc);
    printf("run %" PRId64 " (%s) step %ld: fd %.4f  is %.4f (+- %.3f)  acc %s  psnr %.3f dB  latent_std %.4f  rfd %.4f"
           "  [%ld samples, %ld held-out, %.0f s]\n", id, run.name, step, R.fd, R.is, R.is_std, acc, R.psnr,
           R.latent_std, R.rfd, R.n, R.nheld, R.seconds);
    if (store_it) {
        double wall = wall_seconds();
        StoreMetric mt[7] = {
            {"eval.fd", step, R.fd, wall},         {"eval.is", step, R.is, wall},
            {"eval.psnr", step, R.psnr, wall},     {"eval.latent_std", step, R.latent_std, wall},
            {"eval.rfd", step, R.rfd, wall},       {"eval.n", step, (double)R.n, wall},
            {"eval.acc", step, R.acc, wall},
        };
        if (store_log_metrics(s, id, mt, isnan(R.acc) ? 6 : 7, err)) goto fail;
        fprintf(stderr, "repae eval: stored eval.* metrics with run %" PRId64 " at step %ld\n", id, step);
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "repae eval: %s\n", err);
done:
    if (have_eval) eval_close(ev);
    free(ev);
    if (have_run) store_run_free(&run);
    store_close(s);
    return rc;
}
