// bench_eval.c: evaluation throughput, repae against PyTorch (issue 15): FD on 5000 samples, i.e.
// the evaluation network's features (evaluator_layout_default for 32x32 grey images, 10 classes,
// random weights: the cost does not depend on them) of 5000 generated and 5000 held-out images,
// then the Fréchet distance (frechet.h). Sampling the 5000 is bench_sample's business; `repae
// eval` adds the reconstruction metrics and the floor, which cost the same passes again.
//
//   build/bench/bench_eval [rounds (3)] [n (5000)]
//   build/bench/bench_eval --child N          # one repae run, one JSON line
//
// Rounds alternate repae and experiments/bench/torch_eval.py (OpenBLAS variables unset for
// PyTorch, default and passive waits); the fastest PyTorch side is the denominator.
#include "bench_common.h"
#include "base/util.h"
#include "eval/frechet.h"
#include "model/evaluator.h"
#include <limits.h>
#include <omp.h>
#include <time.h>

#define BATCH 250

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int child(long n) {
    omp_set_num_threads(2);
    EncoderLayout L = evaluator_layout_default(1, 32, 10);
    Evaluator ev = {0};
    char err[ERRLEN];
    if (encoder_build(&ev.net, &L, BATCH, 0, err)) { fprintf(stderr, "bench_eval: %s\n", err); return 1; }
    Rng r;
    rng_seed(&r, 3);
    encoder_init(&ev.net, &r);
    ev.F = L.ch[L.nlevels - 1];
    ev.K = L.num_classes;
    size_t per = 32 * 32;
    float *img = xmalloc(2 * (size_t)n * per * sizeof(float)), *f = xmalloc(2 * (size_t)n * ev.F * sizeof(float));
    for (size_t i = 0; i < 2 * (size_t)n * per; i++) img[i] = 2.0f * rng_uniform(&r) - 1.0f;
    evaluator_run(&ev, img, BATCH, f, NULL); // warm-up
    double t0 = now_s(), d;
    evaluator_run(&ev, img, n, f, NULL);
    evaluator_run(&ev, img + (size_t)n * per, n, f + (size_t)n * ev.F, NULL);
    if (fd_features(f, n, f + (size_t)n * ev.F, n, ev.F, &d, err)) { fprintf(stderr, "bench_eval: %s\n", err); return 1; }
    double dt = now_s() - t0;
    printf("{\"impl\": \"repae\", \"n\": %ld, \"step_s\": %.4f, \"img_per_s\": %.1f, \"gflops\": 0, \"fd\": %.6g}\n", n, dt,
           2 * n / dt, d);
    free(img);
    free(f);
    encoder_free(&ev.net);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--child") == 0) return child(atol(argv[2]));
    int rounds = argc > 1 ? atoi(argv[1]) : 3;
    const char *n = argc > 2 ? argv[2] : "5000";
    if (rounds < 1 || rounds > MAXROUNDS || atol(n) < 2) {
        fprintf(stderr, "bench_eval: rounds must be 1..%d and n at least 2\n", MAXROUNDS);
        return 2;
    }
    static char self[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    if (k <= 0) { perror("bench_eval: /proc/self/exe"); return 1; }
    self[k] = 0;
    setenv("OMP_NUM_THREADS", "2", 1);
    enum { NS = 4 }; // repae, three PyTorch configurations
    static Side sides[NS];
    char *rc[] = {self, "--child", (char *)n, NULL};
    memcpy(sides[0].argv, rc, sizeof rc);
    sides[0].label = "repae";
    sides[0].setk[0] = "OMP_WAIT_POLICY";
    sides[0].setv[0] = "passive";
    char *rp[] = {"/usr/bin/python3", "experiments/bench/torch_eval.py", "--n", (char *)n, "--threads", "2", NULL};
    for (int q = 1; q < NS; q++) {
        memcpy(sides[q].argv, rp, sizeof rp);
        sides[q].unset[0] = "OPENBLAS_CORETYPE";
        sides[q].unset[1] = "OPENBLAS_L2_SIZE";
    }
    sides[1].label = "pt-spin";
    sides[1].unset[2] = "OMP_WAIT_POLICY";
    sides[2].label = "pt-pasv";
    sides[2].setk[0] = "OMP_WAIT_POLICY";
    sides[2].setv[0] = "passive";
    // ATen's AVX-512 kernels (PyTorch 1.13 picks AVX2 on this CPU by default), as in bench_step.
    sides[3].label = "pt-av512";
    sides[3].unset[2] = "OMP_WAIT_POLICY";
    sides[3].setk[0] = "ATEN_CPU_CAPABILITY";
    sides[3].setv[0] = "avx512";
    printf("bench_eval: FD on %s samples (features of %s generated + %s held-out images, evaluator layout, batch %d), "
           "2 threads, %d rounds\n", n, n, n, BATCH, rounds);
    print_load("load before: ");
    for (int i = 0; i < rounds; i++) {
        printf("round %d\n", i + 1);
        for (int q = 0; q < NS; q++)
            if (run_one(&sides[(i + q) % NS], i)) return 1;
    }
    double med[NS], v[MAXROUNDS];
    for (int q = 0; q < NS; q++) {
        summary(&sides[q], rounds);
        for (int i = 0; i < rounds; i++) v[i] = sides[q].r[i].step_s;
        med[q] = median(v, rounds);
    }
    int best = 1;
    for (int q = 2; q < NS; q++)
        if (med[q] < med[best]) best = q;
    for (int i = 0; i < rounds; i++) v[i] = sides[best].r[i].step_s / sides[0].r[i].step_s;
    printf("strongest PyTorch: %s (median %.3f s)\n", sides[best].label, med[best]);
    printf("repae/pytorch-best evaluation throughput: %.2fx (ratio of medians), %.2fx (median of per-round ratios)\n",
           med[best] / med[0], median(v, rounds));
    print_load("load after: ");
    return 0;
}
