// bench_step.c: one fm32-small training step, repae against PyTorch (issue 3's speed target),
// measured in the same run, alternating, as a ratio.
//
//   build/bench/bench_step [rounds (3)] [steps (3)] [config (configs/fm32-small.json)]
//   build/bench/bench_step --ab REPAE_A REPAE_B [rounds] [steps] [config]
//
// Each round runs `repae bench` (the binary beside this one's directory: BUILD/repae) and
// experiments/bench/torch_step.py in three configurations once each, rotating the order every
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

#define MAXROUNDS 64

typedef struct {
    double step_s, img_s, gflops, rss_mb, cpu_s;
} Result;

// One side of the comparison: its command line and what it changes in the inherited
// environment (the PyTorch sides run at their best: see main).
typedef struct {
    const char *label;
    char *argv[16];
    const char *unset[4];          // variables removed
    const char *setk[2], *setv[2]; // variables set
    Result r[MAXROUNDS];
} Side;

#define MAXSIDES 4

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n) {
    double s[MAXROUNDS];
    memcpy(s, v, n * sizeof(double));
    qsort(s, n, sizeof(double), cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

// Runs argv with its stdout captured; fills r from the last JSON line printed and wait4's rusage.
static int run_one(Side *sd, int round) {
    int fd[2];
    if (pipe(fd) != 0) { perror("bench_step: pipe"); return -1; }
    pid_t pid = fork();
    if (pid < 0) { perror("bench_step: fork"); return -1; }
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        for (int i = 0; i < 4 && sd->unset[i]; i++) unsetenv(sd->unset[i]);
        for (int i = 0; i < 2 && sd->setk[i]; i++) setenv(sd->setk[i], sd->setv[i], 1);
        execv(sd->argv[0], sd->argv);
        fprintf(stderr, "bench_step: cannot run %s: %s\n", sd->argv[0], strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    char out[8192], line[4096] = "";
    size_t len = 0;
    ssize_t k;
    while ((k = read(fd[0], out + len, sizeof out - 1 - len)) > 0) len += (size_t)k;
    out[len] = 0;
    close(fd[0]);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) { perror("bench_step: wait4"); return -1; }
    for (char *p = strtok(out, "\n"); p; p = strtok(NULL, "\n"))
        if (*p == '{') snprintf(line, sizeof line, "%s", p);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !*line) {
        fprintf(stderr, "bench_step: %s failed (status %d) or printed no JSON line\n", sd->argv[0], status);
        return -1;
    }
    cJSON *j = cJSON_Parse(line);
    const cJSON *st = cJSON_GetObjectItem(j, "step_s"), *im = cJSON_GetObjectItem(j, "img_per_s"),
                *gf = cJSON_GetObjectItem(j, "gflops");
    if (!cJSON_IsNumber(st) || !cJSON_IsNumber(im) || !cJSON_IsNumber(gf)) {
        fprintf(stderr, "bench_step: %s printed no step_s/img_per_s/gflops: %s\n", sd->argv[0], line);
        cJSON_Delete(j);
        return -1;
    }
    Result *r = &sd->r[round];
    r->step_s = st->valuedouble;
    r->img_s = im->valuedouble;
    r->gflops = gf->valuedouble;
    r->rss_mb = ru.ru_maxrss / 1024.0;
    r->cpu_s = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
    cJSON_Delete(j);
    printf("  %-8s %s  [peak RSS %.0f MB, CPU %.1f s]\n", sd->label, line, r->rss_mb, r->cpu_s);
    fflush(stdout);
    return 0;
}

static void summary(const Side *sd, int n) {
    double v[5][MAXROUNDS];
    for (int i = 0; i < n; i++) {
        v[0][i] = sd->r[i].step_s; v[1][i] = sd->r[i].img_s; v[2][i] = sd->r[i].gflops;
        v[3][i] = sd->r[i].rss_mb; v[4][i] = sd->r[i].cpu_s;
    }
    printf("%-8s median of %d: step %.3f s  %.2f img/s  %.1f GFLOP/s  peak RSS %.0f MB  process CPU %.1f s\n",
           sd->label, n, median(v[0], n), median(v[1], n), median(v[2], n), median(v[3], n), median(v[4], n));
}

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
    int rounds = argc > ai ? atoi(argv[ai]) : 3;
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
           "ATEN_CPU_CAPABILITY=avx512), all without OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE; load before: ",
           config, extra ? " --set " : "", extra ? extra : "", steps, rounds, ct ? ct : "(unset)");
    FILE *la = fopen("/proc/loadavg", "r");
    char lbuf[128] = "?\n";
    if (la) { if (!fgets(lbuf, sizeof lbuf, la)) strcpy(lbuf, "?\n"); fclose(la); }
    fputs(lbuf, stdout);
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
    int best = 1;
    for (int k = 2; k < nsides; k++)
        if (med[k] < med[best]) best = k;
    for (int i = 0; i < rounds; i++) v[i] = sides[best].r[i].step_s / a->r[i].step_s;
    printf("strongest PyTorch: %s (median step %.3f s)\n", sides[best].label, med[best]);
    printf("repae/pytorch-best throughput ratio: %.2fx (ratio of median step times), %.2fx (median of per-round ratios)\n",
           med[best] / med[0], median(v, rounds));
    for (int k = 1; k < nsides; k++)
        printf("  repae/%s: %.2fx\n", sides[k].label, med[k] / med[0]);
    double ra_rss[MAXROUNDS], rb_rss[MAXROUNDS];
    for (int i = 0; i < rounds; i++) { ra_rss[i] = a->r[i].rss_mb; rb_rss[i] = sides[best].r[i].rss_mb; }
    printf("peak RSS repae/pytorch-best: %.0f / %.0f MB (%.2fx)\n", median(ra_rss, rounds), median(rb_rss, rounds),
           median(ra_rss, rounds) / median(rb_rss, rounds));
    printf("load after: ");
    la = fopen("/proc/loadavg", "r");
    if (la) { if (!fgets(lbuf, sizeof lbuf, la)) strcpy(lbuf, "?\n"); fclose(la); }
    fputs(lbuf, stdout);
    return 0;
}
