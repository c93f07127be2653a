// bench_step.c: one fm32-small training step, repae against PyTorch (issue 3's speed target),
// measured in the same run, alternating, as a ratio.
//
//   build/bench/bench_step [rounds (5)] [steps (3)] [config (configs/fm32-small.json)]
//   build/bench/bench_step --ab REPAE_A REPAE_B [rounds] [steps] [config]
//
// Each round runs `repae bench` (the binary beside this one's directory: BUILD/repae) in fp32
// and with train.precision = "bf16" (side repae-bf; not when a fourth argument gives repae's
// own --set), and experiments/bench/torch_step.py in three configurations, once each, rotating the order every
// round so that a change in the machine's load hits every side alike. All get
// OMP_NUM_THREADS=2 and the same latent-BN recipe (--set vae.latent_bn=true); repae inherits the
// environment (it sets OMP_WAIT_POLICY=passive itself, src/cli/main.c); PyTorch runs at its
// best (see main): OpenBLAS left to pick its own kernels, default or passive OpenMP waits, ATen
// AVX2 or AVX-512. The fastest PyTorch side is the ratio's denominator.
//
//   build/bench/bench_step 3 3 configs/fm32-small.json 'train.precision="bf16"'  # bf16 repae
//
// Output: each run's JSON line, then per side the medians of step_s, img/s, GFLOP/s, the peak
// RSS (the child's ru_maxrss from wait4, the same measurement for both: it includes Python and
// libtorch for PyTorch) and the process CPU seconds (setup included), then the repae/PyTorch
// throughput ratio against the strongest PyTorch side: the ratio of the medians and the median
// of the per-round ratios.
// --ab compares two repae binaries the same way (B/A), for before/after measurements.
#include <cjson/cJSON.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

int main(int argc, char **argv) {
    static char repae[PATH_MAX], self[PATH_MAX];
    const char *bin_a = NULL, *bin_b = NULL;
    int ai = 1;
    if (argc > 1 && strcmp(argv[1], "--ab") == 0) {
        if (argc < 4) { fprintf(stderr, "usage: bench_step --ab REPAE_A REPAE_B [rounds] [steps] [config]\n"); return 2; }
        bin_a = argv[2];
        bin_b = argv[3];
        ai = 4;
    }
    int rounds = argc > ai ? atoi(argv[ai]) : 5; // 3 left the medians to the host's swings (0.85-1.07 s)
    const char *steps = argc > ai + 1 ? argv[ai + 1] : "3";
    const char *config = argc > ai + 2 ? argv[ai + 2] : "configs/fm32-small.json";
    const char *extra = argc > ai + 3 ? argv[ai + 3] : NULL; // one more --set for repae (e.g. train.precision="bf16")
    if (rounds < 1 || rounds > MAXROUNDS || atoi(steps) < 1) {
        fprintf(stderr, "bench_step: rounds must be 1..%d and steps positive\n", MAXROUNDS);
        return 2;
    }
    if (!bin_a) { // BUILD/bench/bench_step -> BUILD/repae
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) { perror("bench_step: /proc/self/exe"); return 1; }
        self[n] = 0;
        snprintf(repae, sizeof repae, "%s/../repae", dirname(self));
        if (access(repae, X_OK) != 0) {
            fprintf(stderr, "bench_step: %s not found; build it first (make bench builds it)\n", repae);
            return 1;
        }
        bin_a = repae;
    }
    if (access(config, R_OK) != 0) {
        fprintf(stderr, "bench_step: cannot read %s; run from the repository root\n", config);
        return 1;
    }
    setenv("OMP_NUM_THREADS", "2", 1);

    static Side sides[MAXSIDES];
    int nsides = 0;
    char *ra[] = {(char *)bin_a, "bench", "--config", (char *)config, "--steps", (char *)steps,
                  "--set", "vae.latent_bn=true", "--set", "train.threads=2", NULL, NULL, NULL};
    if (extra) { ra[10] = "--set"; ra[11] = (char *)extra; }
    Side *a = &sides[nsides++];
    memcpy(a->argv, ra, sizeof ra);
    a->label = bin_b ? "A" : "repae";
    int p0 = 1; // the first PyTorch side
    static char *rbf[13];
    if (!bin_b && !extra) { // the same binary with train.precision = "bf16"
        Side *h = &sides[nsides++];
        memcpy(rbf, ra, sizeof ra);
        rbf[10] = "--set";
        rbf[11] = "train.precision=\"bf16\"";
        memcpy(h->argv, rbf, sizeof rbf);
        h->label = "repae-bf";
        p0 = 2;
    }
    if (bin_b) {
        Side *b = &sides[nsides++];
        memcpy(b->argv, ra, sizeof ra);
        b->argv[0] = (char *)bin_b;
        b->label = "B";
    } else {
        // PyTorch at its best (issue 15): OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed for its
        // process only (this machine's environment holds OpenBLAS to its AVX2 Haswell kernels;
        // unset, it picks Cooperlake's AVX-512 ones: torch_step.py prints which it runs), and
        // three configurations: libgomp's default wait policy (spinning), passive waits, and
        // ATen's AVX-512 kernels (PyTorch 1.13 picks AVX2 on this CPU by default). The fastest
        // median is the ratio's denominator.
        char *rb[] = {"/usr/bin/python3", "experiments/bench/torch_step.py", "--config", (char *)config,
                      "--steps", (char *)steps, "--threads", "2", "--set", "vae.latent_bn=true", NULL};
        static const char *const labels[] = {"pt-spin", "pt-pasv", "pt-av512"};
        for (int k = 0; k < 3; k++) {
            Side *b = &sides[nsides++];
            memcpy(b->argv, rb, sizeof rb);
            b->label = labels[k];
            b->unset[0] = "OPENBLAS_CORETYPE";
            b->unset[1] = "OPENBLAS_L2_SIZE";
            b->unset[2] = k == 1 ? NULL : "OMP_WAIT_POLICY";
            if (k == 1) { b->setk[0] = "OMP_WAIT_POLICY"; b->setv[0] = "passive"; }
            if (k == 2) { b->setk[0] = "ATEN_CPU_CAPABILITY"; b->setv[0] = "avx512"; }
        }
    }
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("bench_step: %s%s%s, batch from the config, %s timed steps per run (after one warm-up), %d rounds, "
           "2 threads; repae with the inherited environment (OPENBLAS_CORETYPE=%s); PyTorch sides: pt-spin "
           "(default OMP wait policy), pt-pasv (OMP_WAIT_POLICY=passive), pt-av512 (default wait, "
           "ATEN_CPU_CAPABILITY=avx512), all without OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE\n",
           config, extra ? " --set " : "", extra ? extra : "", steps, rounds, ct ? ct : "(unset)");
    print_load("load before: ");
    for (int i = 0; i < rounds; i++) {
        printf("round %d\n", i + 1);
        // Rotate the order each round so that a change in the machine's load hits every side alike.
        for (int k = 0; k < nsides; k++)
            if (run_one(&sides[(i + k) % nsides], i)) return 1;
    }
    for (int k = 0; k < nsides; k++) summary(&sides[k], rounds);
    double med[MAXSIDES], v[MAXROUNDS];
    for (int k = 0; k < nsides; k++) {
        for (int i = 0; i < rounds; i++) v[i] = sides[k].r[i].step_s;
        med[k] = median(v, rounds);
    }
    if (bin_b) {
        for (int i = 0; i < rounds; i++) v[i] = a->r[i].step_s / sides[1].r[i].step_s;
        printf("B/A throughput ratio: %.2fx (ratio of median step times), %.2fx (median of per-round ratios)\n",
               med[0] / med[1], median(v, rounds));
        return 0;
    }
    int best = p0;
    for (int k = p0 + 1; k < nsides; k++)
        if (med[k] < med[best]) best = k;
    printf("strongest PyTorch: %s (median step %.3f s)\n", sides[best].label, med[best]);
    for (int q = 0; q < p0; q++) {
        for (int i = 0; i < rounds; i++) v[i] = sides[best].r[i].step_s / sides[q].r[i].step_s;
        printf("%s/pytorch-best throughput ratio: %.2fx (ratio of median step times), %.2fx (median of per-round "
               "ratios)\n", sides[q].label, med[best] / med[q], median(v, rounds));
        for (int k = p0; k < nsides; k++) printf("  %s/%s: %.2fx\n", sides[q].label, sides[k].label, med[k] / med[q]);
    }
    double ra_rss[MAXROUNDS], rb_rss[MAXROUNDS];
    for (int i = 0; i < rounds; i++) { ra_rss[i] = a->r[i].rss_mb; rb_rss[i] = sides[best].r[i].rss_mb; }
    printf("peak RSS repae/pytorch-best: %.0f / %.0f MB (%.2fx)\n", median(ra_rss, rounds), median(rb_rss, rounds),
           median(ra_rss, rounds) / median(rb_rss, rounds));
    print_load("load after: ");
    return 0;
}
