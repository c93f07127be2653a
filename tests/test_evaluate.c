// test_evaluate.c: eval_open / eval_run (src/eval/evaluate.h), the metrics behind `repae eval`,
// on a checkpoint of a short tiny run and a randomly initialised evaluation network: every
// metric in range, the PSNR as model_reconstruct gives it, progress after each chunk of
// samples, the same numbers from the same seed, errors that name what is missing.
#include "test.h"
#include "eval/evaluate.h"
#include "model/encoder.h"
#include "train/checkpoint.h"
#include "train/train.h"
#include <unistd.h>

static char tmp[256];

static int set(Config *c, const char *kv) {
    char err[ERRLEN];
    if (config_set(c, kv, err)) { fprintf(stderr, "%s: %s\n", kv, err); return -1; }
    return 0;
}

typedef struct {
    int calls;
    long done[8], total;
} Progress;

static void on_progress(void *ctx, long done, long total, double seconds) {
    Progress *p = ctx;
    (void)seconds;
    if (p->calls < 8) p->done[p->calls] = done;
    p->calls++;
    p->total = total;
}

// PSNR of [0, 1] images from [-1, 1] ones, as repae eval defines it.
static double psnr_of(const float *a, const float *b, size_t n) {
    double se = 0;
    for (size_t j = 0; j < n; j++) {
        double r = b[j] < -1 ? -1 : b[j] > 1 ? 1 : b[j];
        se += (a[j] - r) * (a[j] - r);
    }
    double mse = se / n / 4.0;
    return 10.0 * log10(1.0 / (mse > 1e-10 ? mse : 1e-10));
}

TEST(metrics_of_a_checkpoint) {
    char err[ERRLEN], run[300], evpath[300], ck[600];
    Config c;
    config_defaults(&c);
    CHECK(!set(&c, "train.steps=2") && !set(&c, "train.threads=1") && !set(&c, "train.sample_every=0") &&
          !set(&c, "sample.steps=2") && !set(&c, "sit.num_classes=5") && !set(&c, "train.ema=0.9"),
          "config");
    CHECK(config_validate(&c, err) == 0, "%s", err);
    snprintf(run, sizeof run, "%s/run", tmp);
    CHECK(train_run(&c, run, 0, NULL, err) == TRAIN_DONE, "%s", err);
    CHECK(ckpt_newest_usable(run, ck, sizeof ck) == 2, "no checkpoint at step 2 in %s", run);

    // The evaluation network: random weights of the evaluator's layout are enough here.
    Dataset *ds;
    CHECK(dataset_open(&ds, &c.data, DATA_TEST, err) == 0, "%s", err);
    int K = dataset_num_classes(ds), N = dataset_len(ds);
    dataset_close(ds);
    EncoderLayout L = evaluator_layout_default(c.data.channels, c.data.image_size, K);
    Encoder e;
    CHECK(encoder_build(&e, &L, 4, 0, err) == 0, "%s", err);
    Rng r;
    rng_seed(&r, 5);
    encoder_init(&e, &r);
    snprintf(evpath, sizeof evpath, "%s/evaluator.safetensors", tmp);
    CHECK(encoder_save(&e, evpath, "evaluator", c.data.dataset, -1, err) == 0, "%s", err);
    encoder_free(&e);

    Progress pr = {0};
    EvalOpts o = {.n = 40, .batch = 4, .steps = 2, .cfg_scale = -1, .seed = 7, .evaluator = evpath,
                  .progress = on_progress, .ctx = &pr, .unchecked = 1}; // a random evaluator
    Evaluation *ev = xcalloc(1, sizeof *ev);
    CHECK(eval_open(ev, &c, ck, &o, err) == 0, "%s", err);
    CHECK(ev->use_ema && ev->so.steps == 2 && ev->nheld == (N < 40 ? N : 40), "opened: ema %d, %d steps, %ld held-out",
          ev->use_ema, ev->so.steps, ev->nheld);
    EvalResult R, R2;
    CHECK(eval_run(ev, &R, err) == 0, "%s", err);
    printf("  fd %.4f  is %.4f (+- %.3f)  acc %.3f  psnr %.3f dB  latent_std %.4f  rfd %.4f\n", R.fd, R.is, R.is_std,
           R.acc, R.psnr, R.latent_std, R.rfd);
    CHECK(R.n == 40 && R.nheld == ev->nheld, "counts %ld, %ld", R.n, R.nheld);
    CHECK(isfinite(R.fd) && R.fd >= 0 && isfinite(R.rfd) && R.rfd >= 0, "fd %g, rfd %g", R.fd, R.rfd);
    CHECK(R.is >= 1 - 1e-9 && R.is <= K + 1e-9 && R.acc >= 0 && R.acc <= 1, "is %g, acc %g", R.is, R.acc);
    CHECK(isfinite(R.psnr) && R.latent_std > 0, "psnr %g, latent_std %g", R.psnr, R.latent_std);
    // KID, precision/recall and the real-vs-real floor at the same N beside them.
    CHECK(isfinite(R.kid) && R.precision >= 0 && R.precision <= 1 && R.recall >= 0 && R.recall <= 1 &&
          R.recon.fd == R.rfd && R.nfloor == 40 && isfinite(R.floor.fd) && R.floor.fd >= 0 && isfinite(R.floor.kid),
          "kid %g precision %g recall %g floor fd %g kid %g (%ld)", R.kid, R.precision, R.recall, R.floor.fd,
          R.floor.kid, R.nfloor);
    // Progress after each chunk of EVAL_CHUNK_BATCHES batches (16 samples), the last one at n.
    CHECK(pr.calls == 3 && pr.done[0] == 16 && pr.done[1] == 32 && pr.done[2] == 40 && pr.total == 40,
          "%d progress calls, last at %ld of %ld", pr.calls, pr.calls ? pr.done[pr.calls - 1] : -1, pr.total);

    // The reconstruction PSNR, as model_reconstruct computes the round trip.
    size_t nx = ev->m.nx;
    long nh = ev->nheld;
    float *x = xmalloc(nh * nx * sizeof(float)), *xr = xmalloc(nh * nx * sizeof(float));
    for (long i = 0; i < nh; i++) dataset_get(ev->te, (int)i, x + i * nx, NULL);
    model_reconstruct(&ev->m, x, (int)nh, xr);
    double psnr = 0;
    for (long i = 0; i < nh; i++) psnr += psnr_of(x + i * nx, xr + i * nx, nx);
    psnr /= nh;
    free(x);
    free(xr);
    CHECK(fabs(psnr - R.psnr) < 1e-9 * fabs(psnr), "psnr %.9g, by model_reconstruct %.9g", R.psnr, psnr);

    // The FD reference is held out: the test split's images, none of them among the training
    // images the evaluator and the model learnt from.
    {
        Dataset *te, *tr;
        CHECK(dataset_open(&te, &c.data, DATA_TEST, err) == 0 && dataset_open(&tr, &c.data, DATA_TRAIN, err) == 0,
              "%s", err);
        float *a = xmalloc(nx * sizeof(float)), *b = xmalloc(nx * sizeof(float));
        int same_as_test = 1, in_train = 0, ntr = dataset_len(tr) < 2000 ? dataset_len(tr) : 2000;
        for (long i = 0; i < nh; i++) {
            dataset_get(ev->te, (int)i, a, NULL);
            dataset_get(te, (int)i, b, NULL);
            same_as_test &= memcmp(a, b, nx * sizeof(float)) == 0;
            for (int j = 0; j < ntr; j++) {
                dataset_get(tr, j, b, NULL);
                in_train += memcmp(a, b, nx * sizeof(float)) == 0;
            }
        }
        CHECK(same_as_test && in_train == 0, "held-out images: test split %d, %d found among %d training images",
              same_as_test, in_train, ntr);
        free(a);
        free(b);
        dataset_close(te);
        dataset_close(tr);
    }

    // The same seed gives the same numbers.
    CHECK(eval_run(ev, &R2, err) == 0, "%s", err);
    CHECK(R2.fd == R.fd && R2.is == R.is && R2.acc == R.acc && R2.rfd == R.rfd && R2.psnr == R.psnr, "second run differs");
    eval_close(ev);

    // What is missing is named.
    o.evaluator = "/nonexistent/evaluator.safetensors";
    CHECK(eval_open(ev, &c, ck, &o, err) != 0 && strstr(err, "/nonexistent/evaluator.safetensors"), "evaluator: %s", err);
    o.evaluator = evpath;
    CHECK(eval_open(ev, &c, tmp, &o, err) != 0 && strstr(err, "vae.safetensors"), "checkpoint: %s", err);
    free(ev);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/repae_test_evaluate_%d", (int)getpid());
    char err[ERRLEN];
    if (mkdir_p(tmp, err)) { printf("FAIL setup: %s\n", err); return 1; }
    RUN(metrics_of_a_checkpoint);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return test_summary();
}
