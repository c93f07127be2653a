// bench_sample.c: sampling throughput, repae against PyTorch (issue 15): n images (64) from
// noise with 50 Euler steps and classifier-free guidance (scale 4), then the VAE decoder, at
// fm32-small with random weights, 2 threads.
//
//   build/bench/bench_sample [rounds (5)] [n (64)] [config (configs/fm32-small.json)]
//   build/bench/bench_sample --child CONFIG N fp32|bf16   # one repae run, one JSON line
//
// Each round runs this binary's repae child in fp32 and bf16 and experiments/bench/torch_sample.py
// with libgomp's default wait policy and with passive waits (OpenBLAS variables unset for
// PyTorch, as in bench_step), rotating the order; the fastest PyTorch side is the denominator.
// The repae child times one model_sample call after a 2-step warm-up, as the script does.
#include "bench_common.h"
#include "base/config.h"
#include "base/util.h"
#include "model/model.h"
#include <libgen.h>
#include <limits.h>
#include <omp.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int child(const char *config, int n, const char *prec) {
    Config c;
    char err[ERRLEN], kv[64];
    config_defaults(&c);
    if (config_load(&c, config, err)) { fprintf(stderr, "bench_sample: %s\n", err); return 1; }
    snprintf(kv, sizeof kv, "train.precision=\"%s\"", prec);
    if (config_set(&c, kv, err) || config_set(&c, "sample.cfg=4", err) || config_set(&c, "sample.steps=50", err)) {
        fprintf(stderr, "bench_sample: %s\n", err);
        return 1;
    }
    omp_set_num_threads(2);
    Model m;
    if (model_build(&m, &c, n, 0, err)) { fprintf(stderr, "bench_sample: %s\n", err); return 1; }
    Rng r;
    rng_seed(&r, 1);
    model_init(&m, &r);
    SampleOpts o;
    if (sample_opts_from_config(&o, &c.sample, err)) { fprintf(stderr, "bench_sample: %s\n", err); return 1; }
    float *img = xmalloc((size_t)n * m.nx * sizeof(float));
    SampleOpts warm = o;
    warm.steps = 2;
    model_sample(&m, n, NULL, &warm, 1, img);
    double t0 = now_s();
    model_sample(&m, n, NULL, &o, 2, img);
    double dt = now_s() - t0;
    printf("{\"impl\": \"repae\", \"precision\": \"%s\", \"bf16_in_effect\": %d, \"n\": %d, \"steps\": %d, \"cfg\": %g, "
           "\"step_s\": %.4f, \"img_per_s\": %.2f, \"gflops\": 0}\n",
           prec, m.bf16, n, o.steps, (double)o.cfg_scale, dt, n / dt);
    free(img);
    model_free(&m);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "--child") == 0) return child(argv[2], atoi(argv[3]), argv[4]);
    int rounds = argc > 1 ? atoi(argv[1]) : 5; // as bench_step
    const char *n = argc > 2 ? argv[2] : "64";
    const char *config = argc > 3 ? argv[3] : "configs/fm32-small.json";
    if (rounds < 1 || rounds > MAXROUNDS || atoi(n) < 1) {
        fprintf(stderr, "bench_sample: rounds must be 1..%d and n positive\n", MAXROUNDS);
        return 2;
    }
    if (access(config, R_OK) != 0) {
        fprintf(stderr, "bench_sample: cannot read %s; run from the repository root\n", config);
        return 1;
    }
    static char self[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    if (k <= 0) { perror("bench_sample: /proc/self/exe"); return 1; }
    self[k] = 0;
    setenv("OMP_NUM_THREADS", "2", 1);
    enum { NS = 5 }; // repae fp32, repae bf16, three PyTorch configurations
    static Side sides[NS];
    char *rc[] = {self, "--child", (char *)config, (char *)n, "fp32", NULL};
    memcpy(sides[0].argv, rc, sizeof rc);
    sides[0].label = "repae";
    memcpy(sides[1].argv, rc, sizeof rc);
    sides[1].argv[4] = "bf16";
    sides[1].label = "repae-bf";
    // repae's own OpenMP waits: passive, as src/cli/main.c sets them for the repae binary.
    for (int q = 0; q < 2; q++) { sides[q].setk[0] = "OMP_WAIT_POLICY"; sides[q].setv[0] = "passive"; }
    char *rp[] = {"/usr/bin/python3", "experiments/bench/torch_sample.py", "--config", (char *)config, "--n", (char *)n,
                  "--threads", "2", NULL};
    for (int q = 2; q < NS; q++) {
        memcpy(sides[q].argv, rp, sizeof rp);
        sides[q].unset[0] = "OPENBLAS_CORETYPE";
        sides[q].unset[1] = "OPENBLAS_L2_SIZE";
    }
    sides[2].label = "pt-spin";
    sides[2].unset[2] = "OMP_WAIT_POLICY";
    sides[3].label = "pt-pasv";
    sides[3].setk[0] = "OMP_WAIT_POLICY";
    sides[3].setv[0] = "passive";
    // ATen's AVX-512 kernels (PyTorch 1.13 picks AVX2 on this CPU by default), as in bench_step.
    sides[4].label = "pt-av512";
    sides[4].unset[2] = "OMP_WAIT_POLICY";
    sides[4].setk[0] = "ATEN_CPU_CAPABILITY";
    sides[4].setv[0] = "avx512";
    printf("bench_sample: %s, %s images, 50 Euler steps, CFG 4 (two SiT passes a step), VAE decode, 2 threads, %d rounds\n",
           config, n, rounds);
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
    int best = 2;
    for (int q = 3; q < NS; q++)
        if (med[q] < med[best]) best = q;
    printf("strongest PyTorch: %s (median %.3f s for %s images)\n", sides[best].label, med[best], n);
    for (int q = 0; q < 2; q++) {
        for (int i = 0; i < rounds; i++) v[i] = sides[best].r[i].step_s / sides[q].r[i].step_s;
        printf("%s/pytorch-best sampling throughput: %.2fx (ratio of medians), %.2fx (median of per-round ratios)\n",
               sides[q].label, med[best] / med[q], median(v, rounds));
    }
    print_load("load after: ");
    return 0;
}
