// cmd_eval.c: `repae evaluator train` (the metric CNN of encoder.h; `repae encoder train` is cmd_encoder.c)
// and `repae eval RUN` (generation metrics of a run's newest usable checkpoint or of a chosen one,
// --step; --list lists them; computed by
// eval/evaluate.h, stored with the run). Option parsing and printing only: the training loop
// of the two networks is encoder_train, the metrics eval_run.
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/cli.h"
#include "base/config.h"
#include "data/data.h"
#include "model/encoder.h"
#include "model/evaluator.h"
#include "eval/evaluate.h"
#include "eval/sanity.h"
#include "model/model.h"
#include "store/store.h"
#include "train/checkpoint.h"
#include "base/util.h"

// "--key value" or "--key=value" at argv[*i]; advances *i past the value. NULL if not key.

// ---- encoder train / evaluator train -----------------------------------------------------------

// The progress lines of a training: the running loss and accuracy, the time so far and an ETA
// from the mean step time (the fashion-mnist evaluator trains for tens of minutes).
typedef struct {
    const char *who;
    double t0;
} NetProgress;

static void print_progress(void *ctx, int step, int steps, float loss, float acc) {
    const NetProgress *p = ctx;
    double dt = now_seconds() - p->t0, eta = step > 0 ? dt / step * (steps - step) : 0;
    fprintf(stderr, "%s: step %d/%d  loss %.4f  train accuracy %.3f  [%.0f s, ETA %.0f min %02.0f s]\n", p->who, step,
            steps, loss, acc, dt, floor(eta / 60), fmod(eta, 60));
}

// After `evaluator train`: the accuracy floor and the sanity ladder `repae eval` will apply, so
// that a network eval would refuse is reported now (exit status 1), not at the first eval.
static int report_trust(Encoder *e, const Dataset *tr, const Dataset *te, const char *dataset, double acc) {
    double floor = evaluator_accuracy_floor(dataset);
    int rc = 0;
    if (acc < floor) {
        printf("evaluator: below the %.0f%% accuracy floor of %s: `repae eval` will refuse it; train longer "
               "(--steps) or with another seed\n", 100 * floor, dataset);
        rc = 1;
    }
    long n = dataset_len(te) < 1000 ? dataset_len(te) : 1000;
    if (dataset_len(tr) < n) n = dataset_len(tr);
    size_t per = (size_t)e->L.channels * e->L.size * e->L.size;
    float *a = xmalloc((size_t)n * per * sizeof(float)), *b = xmalloc((size_t)n * per * sizeof(float));
    for (long i = 0; i < n; i++) {
        dataset_get(te, (int)i, a + (size_t)i * per, NULL);
        dataset_get(tr, (int)i, b + (size_t)i * per, NULL);
    }
    // The ladder runs on an Evaluator view of the trained network (no copy: it only reads it).
    Evaluator ev = {.net = *e, .F = e->L.ch[e->L.nlevels - 1], .K = e->L.num_classes, .accuracy = acc, .floor = floor};
    EvalSanity sn;
    char err[ERRLEN], line[256];
    if (eval_sanity_run(&ev, a, b, n, 1, &sn, err) == 0) {
        eval_sanity_str(&sn, line, sizeof line);
        printf("evaluator: sanity FD at n = %ld: %s\n", n, line);
        if (eval_sanity_check(&sn, err)) {
            printf("evaluator: fails the sanity ladder, `repae eval` will refuse it: %s\n", err);
            rc = 1;
        }
    } else {
        fprintf(stderr, "repae evaluator train: sanity ladder: %s\n", err);
        rc = 1;
    }
    free(a);
    free(b);
    return rc;
}

// The option tables (main.c's --db scan reads them too); the usage texts are built at run time.
const ArgSpec eval_args = {
    .cmd = "eval",
    .opts = (const ArgOpt[]){ARG_OPT_INT("--n", 2, 10000000),
                     ARG_OPT_INT("--steps", 1, 10000),
                     ARG_OPT_INT("--seed", 0, 2147483647),
                     ARG_OPT_INT("--batch", 1, 4096),
                     ARG_OPT_NUM("--cfg", 0, 100),
                     ARG_OPT_STR("--evaluator"),
                     ARG_OPT_FLAG("--no-store"),
                     ARG_OPT_INT("--step", 0, 2147483647),
                     ARG_OPT_FLAG("--list"),
                     ARG_OPT_END},
};

// `repae encoder train` and `repae evaluator train` take the same options.
#define NET_TRAIN_OPTS                                                                              \
    (const ArgOpt[]) {                                                                              \
        ARG_OPT_STR("--dataset"), ARG_OPT_STR("--data-path"), ARG_OPT_STR("--config"),              \
            ARG_OPT_STR("--out"), ARG_OPT_INT("--steps", 1, 10000000), ARG_OPT_INT("--batch", 1, 4096), \
            ARG_OPT_INT("--seed", 0, 2147483647), ARG_OPT_INT("--image-size", 2, 4096),             \
            ARG_OPT_INT("--channels", 1, 3), ARG_OPT_NUM("--lr", 1e-8, 1.0), ARG_OPT_STR("--layout"),             \
            ARG_OPT_INT("--augment", 0, 8), ARG_OPT_NUM("--lr-end", 0, 1), ARG_OPT_NUM("--weight-decay", 0, 1), ARG_OPT_END            \
    }
const ArgSpec evaluator_args = {.cmd = "evaluator train", .opts = NET_TRAIN_OPTS};

// `repae evaluator train`. (The target encoder's training is src/cli/cmd_encoder.c.)
int cmd_evaluator(const Globals *g, int argc, char **argv) {
    (void)g;
    const char *kind = "evaluator";
    char usage[2048];
    snprintf(usage, sizeof usage,
             "usage: repae %s train [--dataset shapes|simple-shapes|fashion-mnist|folder] [--data-path DIR]\n"
             "                      [--image-size S] [--channels C] [--config RUN.json]\n"
             "                      [--steps N] [--batch B] [--lr X] [--seed S] [--out F.safetensors]\n"
             "                      [--augment PIXELS] [--lr-end FRACTION] [--weight-decay W]\n"
             "                      [--layout 'C=1 S=32 ch=16,32,64 convs=2 groups=8 classes=10']\n\n"
             "%s\n"
             "The data settings default to the dataset's own (fashion-mnist: 1x32x32; shapes:\n"
             "3x16x16) or come from the data section of --config. The file goes to --out, else\n"
             "$REPAE_HOME/%s-DATASET.safetensors, else ~/.cache/repae/%s-DATASET.safetensors.\n"
             "%s",
             kind,
             "Trains the evaluation network of `repae eval` (a classifier CNN with another layout\n"
             "and seed than the REPA target encoder): its penultimate features give the Frechet\n"
             "distance, its class probabilities the Inception-style score and class accuracy.\n",
             kind, kind,
             "The evaluator's defaults on fashion-mnist are its own recipe (docs/evaluator.md):\n"
             "--layout 'C=1 S=32 ch=32,64,128,256 convs=2 groups=8 classes=10' --steps 15000 --augment 1\n"
             "--lr-end 0 --weight-decay 0.05, aimed at the 93% floor `repae eval` asks for; elsewhere the\n"
             "small net (--lr-end 0.1 --weight-decay 1e-4).\n");
    char who[32];
    snprintf(who, sizeof who, "%s train", kind);
    ArgSpec spec = evaluator_args; // the table main.c's --db scan reads too
    spec.usage = usage;
    Args a;
    if (args_parse(&a, &spec, argc, argv) != 0) return a.status;
    if (!args_pos(&a, 0) || strcmp(args_pos(&a, 0), "train") != 0) return args_usage_error(&a, "expected the subcommand 'train'");
    if (args_pos(&a, 1)) return args_usage_error(&a, "unknown argument '%s'", args_pos(&a, 1));
    Config cfg;
    config_defaults(&cfg);
    char err[ERRLEN];
    const char *dataset = args_str(&a, "--dataset", NULL), *path = args_str(&a, "--data-path", NULL);
    const char *out = args_str(&a, "--out", NULL), *config = args_str(&a, "--config", NULL);
    const char *layout_s = args_str(&a, "--layout", NULL);
    long seed = args_long(&a, "--seed", 2), size = args_long(&a, "--image-size", -1);
    long channels = args_long(&a, "--channels", -1);
    if (config && config_load(&cfg, config, err) != 0) { fprintf(stderr, "repae %s: %s\n", who, err); return 1; }
    if (dataset) dataset_select(&cfg.data, dataset, config != NULL);
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
    // The dataset's recipe (evaluator.h) gives the defaults the options override.
    EvaluatorRecipe rec = evaluator_recipe(cfg.data.dataset, cfg.data.channels, cfg.data.image_size, K);
    EncoderLayout L = rec.layout;
    long augment = args_long(&a, "--augment", rec.augment);
    long steps = args_long(&a, "--steps", rec.steps), batch = args_long(&a, "--batch", rec.batch);
    double lr = args_num(&a, "--lr", rec.lr), lr_end = args_num(&a, "--lr-end", rec.lr_end);
    double wd = args_num(&a, "--weight-decay", rec.weight_decay);
    if (layout_s && encoder_layout_parse(&L, layout_s, err)) {
        fprintf(stderr, "repae %s: --layout: %s\n", who, err);
        dataset_close(tr);
        dataset_close(te);
        return 2;
    }
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
    fprintf(stderr, "repae %s: %s on %s (%d train / %d test images), layout %s, %ld steps of %ld, lr %g (cosine to "
                    "%g), weight decay %g, augment %ld, seed %ld\n", who, kind, cfg.data.dataset, dataset_len(tr),
            dataset_len(te), layout, steps, batch, lr, lr * lr_end, wd, augment, seed);
    NetProgress pr = {who, now_seconds()};
    Rng r;
    rng_seed(&r, (uint64_t)seed * 0x9e3779b97f4a7c15ULL + 17);
    encoder_init(&e, &r);
    EncoderTrainOpts o = {.steps = (int)steps, .batch = (int)batch, .lr = (float)lr, .seed = (uint64_t)seed + 1000,
                          .log_every = steps >= 20 ? (int)(steps < 2000 ? steps / 10 : 200) : 1, .progress = print_progress, .ctx = &pr,
                          .augment = (int)augment, .lr_end = (float)lr_end, .weight_decay = (float)wd};
    encoder_train(&e, tr, &o);
    double dt = now_seconds() - pr.t0;
    float acc = encoder_accuracy(&e, te, 0);
    if (encoder_save(&e, out, kind, cfg.data.dataset, acc, err)) { fprintf(stderr, "repae %s: %s\n", who, err); goto done_net; }
    printf("%s: test accuracy %.4f (chance %.2f) after %ld steps in %.0f s -> %s\n", kind, acc, 1.0 / K, steps, dt, out);
    rc = 0;
    rc = report_trust(&e, tr, te, cfg.data.dataset, acc);
done_net:
    encoder_free(&e);
done_data:
    dataset_close(tr);
    dataset_close(te);
    return rc;
}


// ---- eval ----------------------------------------------------------------------------------------

// The steps of run_dir's checkpoints, ascending, as "250, 500, 1000" into buf ("none" if none).
static void steps_text(const char *run_dir, char *buf, size_t n) {
    long *steps;
    int k = ckpt_list(run_dir, &steps, NULL);
    size_t used = 0;
    buf[0] = 0;
    for (int i = k - 1; i >= 0 && used < n; i--)
        used += (size_t)snprintf(buf + used, n - used, i == k - 1 ? "%ld" : ", %ld", steps[i]);
    if (k == 0) snprintf(buf, n, "none");
    free(steps);
}

// `repae eval RUN --list`: one line per checkpoint, oldest first: its step and whether it is
// whole ("ok") or why not. Scripts read the first column.
static int list_checkpoints(const char *run_dir) {
    long *steps;
    int corrupt, k = ckpt_list(run_dir, &steps, &corrupt);
    for (int i = k - 1; i >= 0; i--) {
        char dir[4200], why[ERRLEN];
        ckpt_dir(dir, sizeof dir, run_dir, steps[i]);
        if (ckpt_check(dir, why) == 0) printf("%ld\tok\n", steps[i]);
        else printf("%ld\tdamaged: %s\n", steps[i], why);
    }
    if (k == 0) fprintf(stderr, "repae eval: the run has no checkpoint in %s/ckpt\n", run_dir);
    if (corrupt) fprintf(stderr, "repae eval: %s/ckpt also holds checkpoints set aside as *.corrupt\n", run_dir);
    free(steps);
    return 0;
}

// The checkpoint to evaluate: the newest usable one, or that of step want (>= 0). Returns its
// step and writes its directory into ck, or -1 with err naming the steps there are.
static long pick_checkpoint(const char *run_dir, long want, char *ck, size_t n, char *err) {
    char have[1024];
    if (want < 0) {
        long step = ckpt_newest_usable(run_dir, ck, n);
        if (step < 0)
            seterr(err, "the run has no usable checkpoint in %s/ckpt (it writes one every train.ckpt_every steps, at "
                        "the steps of train.ckpt_keep and at its end)", run_dir);
        return step;
    }
    char why[ERRLEN];
    ckpt_dir(ck, n, run_dir, want);
    struct stat sb;
    if (stat(ck, &sb) != 0) {
        steps_text(run_dir, have, sizeof have);
        seterr(err, "--step %ld: the run has no checkpoint of that step in %s/ckpt; its checkpoints are of steps: %s "
                    "(checkpoints of the steps in train.ckpt_keep are kept; others are pruned as training goes on)",
               want, run_dir, have);
        return -1;
    }
    if (ckpt_check(ck, why) != 0) {
        seterr(err, "--step %ld: the checkpoint %s cannot be used: %s", want, ck, why);
        return -1;
    }
    return want;
}

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
    const char *usage =
        "usage: repae eval RUN [--n 5000] [--steps N] [--cfg W] [--seed S] [--batch B]\n"
        "                      [--step S] [--evaluator F.safetensors] [--no-store]\n"
        "       repae eval RUN --list\n\n"
        "Generation metrics of the run's newest checkpoint, or of the checkpoint of step S (--step;\n"
        "train.ckpt_keep keeps chosen steps), with the EMA weights when the run keeps an EMA,\n"
        "printed and stored with the run as eval.* metrics at the checkpoint's step. --list prints\n"
        "the run's checkpoints, one line each: the step and \"ok\" or why it cannot be used.\n"
        "  eval.fd          Frechet distance between the evaluation network's penultimate features\n"
        "                   of N samples and of N held-out images (the test split)\n"
        "  eval.is          Inception-style score of the samples' class probabilities (10 splits)\n"
        "  eval.acc         share of class-conditional samples the evaluator puts in the requested\n"
        "                   class (class k % num_classes for sample k; conditional runs only)\n"
        "  eval.psnr        VAE reconstruction PSNR (dB, posterior mean) on the held-out images\n"
        "  eval.latent_std  spatial std of the VAE's latents (posterior mean) on the held-out images\n"
        "  eval.rfd         Frechet distance of the reconstructions to the held-out images\n"
        "  eval.kid         KID (unbiased MMD^2, cubic polynomial kernel) of samples vs held-out\n"
        "  eval.rkid        the same for the reconstructions\n"
        "  eval.precision   share of samples inside the held-out images' k-NN balls (k = 3)\n"
        "  eval.recall      share of held-out images inside the samples' k-NN balls (k = 3)\n"
        "  eval.fd_floor    FD (and eval.kid_floor KID) of N other real images (training split)\n"
        "                   against the held-out ones: what a perfect generator scores at this N\n"
        "Read a difference of FD only well above the floor; final numbers need N >= 5000.\n"
        "Sampling uses the run's sample.* settings unless --steps / --cfg say otherwise. The noise\n"
        "and the labels (class k % num_classes for sample k) depend only on --seed, --n and --batch,\n"
        "never on the run's train.seed: runs of one latent shape and sampler evaluated with the same\n"
        "--seed, --n and --batch see the same noise and labels (common random numbers), and the\n"
        "held-out images are the first N of the test split.\n"
        "The evaluation network comes from `repae evaluator train --dataset D` (or --evaluator);\n"
        "eval refuses one below its dataset's accuracy floor, one without a recorded accuracy,\n"
        "and one whose FD does not rise with blur and noise or scores grey/noise images near the data.\n";
    ArgSpec spec = eval_args;
    spec.usage = usage;
    Args a;
    if (args_parse(&a, &spec, argc, argv) != 0) return a.status;
    const char *ref = args_pos(&a, 0), *evpath = args_str(&a, "--evaluator", NULL);
    if (!ref) return args_usage_error(&a, "which run? give its id or name");
    if (args_pos(&a, 1)) return args_usage_error(&a, "expected one RUN, not also '%s'", args_pos(&a, 1));
    long n = args_long(&a, "--n", 5000), steps = args_long(&a, "--steps", -1), seed = args_long(&a, "--seed", 0);
    long batch = args_long(&a, "--batch", 64);
    double cfgw = args_num(&a, "--cfg", -1);
    int store_it = !args_has(&a, "--no-store");


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
    if (args_has(&a, "--list")) {
        rc = list_checkpoints(run_dir);
        goto done;
    }
    long step = pick_checkpoint(run_dir, args_long(&a, "--step", -1), ck, sizeof ck, err);
    if (step < 0) goto fail;
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
    printf("run %" PRId64 " (%s) step %ld: %ld samples and %ld reconstructions against %ld held-out images; "
           "floor = %ld other real images (training split)%s\n", id, run.name, step, R.n, R.nheld, R.nheld,
           R.nfloor, R.n < EVAL_FINAL_N ? " [n < 5000: not final numbers]" : "");
    printf("  %-10s %12s %12s %16s\n", "", "samples", "floor", "reconstructions");
    printf("  %-10s %12.4f %12.4f %16.4f\n", "fd", R.fd, R.floor.fd, R.recon.fd);
    printf("  %-10s %12.5f %12.5f %16.5f\n", "kid", R.kid, R.floor.kid, R.recon.kid);
    printf("  %-10s %12.4f %12.4f %16.4f\n", "precision", R.precision, R.floor.precision, R.recon.precision);
    printf("  %-10s %12.4f %12.4f %16.4f\n", "recall", R.recall, R.floor.recall, R.recon.recall);
    printf("  is %.4f (+- %.3f)  acc %s  psnr %.3f dB  latent_std %.4f  [%.0f s]\n", R.is, R.is_std, acc, R.psnr,
           R.latent_std, R.seconds);
    char line[256];
    eval_sanity_str(&R.sanity, line, sizeof line);
    printf("  evaluator: test accuracy %.4f (floor %.2f); sanity FD at n = %ld: %s\n", ev->ev.accuracy, ev->ev.floor,
           R.sanity.n, line);
    if (store_it) {
        double wall = wall_seconds();
        StoreMetric mt[16] = {
            {"eval.fd", step, R.fd, wall},         {"eval.is", step, R.is, wall},
            {"eval.psnr", step, R.psnr, wall},     {"eval.latent_std", step, R.latent_std, wall},
            {"eval.rfd", step, R.rfd, wall},       {"eval.n", step, (double)R.n, wall},
            {"eval.kid", step, R.kid, wall},       {"eval.precision", step, R.precision, wall},
            {"eval.recall", step, R.recall, wall}, {"eval.rkid", step, R.recon.kid, wall},
            {"eval.fd_floor", step, R.floor.fd, wall}, {"eval.kid_floor", step, R.floor.kid, wall},
            {"eval.acc", step, R.acc, wall},
        };
        int nm = 13;
        // NaN (too few images for k-NN, unconditional runs) is not stored: it would read as a value.
        int k = 0;
        for (int i = 0; i < nm; i++)
            if (!isnan(mt[i].value)) mt[k++] = mt[i];
        if (store_log_metrics(s, id, mt, k, err)) goto fail;
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
