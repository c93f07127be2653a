// bench_common.h: what bench_step and bench_sample share: a "side" of a comparison (a command
// line and its environment changes), running it once with its stdout captured (the last JSON
// line it prints, its peak RSS and CPU time from wait4), medians and the per-side summary.
// Header-only (static functions) for the experiments/bench/ binaries, which are built one
// source file each.
#ifndef REPAE_BENCH_COMMON_H
#define REPAE_BENCH_COMMON_H
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
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

#define MAXSIDES 6

static __attribute__((unused)) int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static __attribute__((unused)) double median(const double *v, int n) {
    double s[MAXROUNDS];
    memcpy(s, v, n * sizeof(double));
    qsort(s, n, sizeof(double), cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

// Runs argv with its stdout captured; fills r from the last JSON line printed and wait4's rusage.
static __attribute__((unused)) int run_one(Side *sd, int round) {
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
        fprintf(stderr, "bench: %s failed (status %d) or printed no JSON line\n", sd->argv[0], status);
        return -1;
    }
    cJSON *j = cJSON_Parse(line);
    const cJSON *st = cJSON_GetObjectItem(j, "step_s"), *im = cJSON_GetObjectItem(j, "img_per_s"),
                *gf = cJSON_GetObjectItem(j, "gflops");
    if (!cJSON_IsNumber(st) || !cJSON_IsNumber(im) || !cJSON_IsNumber(gf)) {
        fprintf(stderr, "%s printed no step_s/img_per_s/gflops: %s\n", sd->argv[0], line);
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

static __attribute__((unused)) void summary(const Side *sd, int n) {
    double v[5][MAXROUNDS];
    for (int i = 0; i < n; i++) {
        v[0][i] = sd->r[i].step_s; v[1][i] = sd->r[i].img_s; v[2][i] = sd->r[i].gflops;
        v[3][i] = sd->r[i].rss_mb; v[4][i] = sd->r[i].cpu_s;
    }
    printf("%-8s median of %d: step %.3f s  %.2f img/s  %.1f GFLOP/s  peak RSS %.0f MB  process CPU %.1f s\n",
           sd->label, n, median(v[0], n), median(v[1], n), median(v[2], n), median(v[3], n), median(v[4], n));
}


static __attribute__((unused)) void print_load(const char *what) {
    FILE *la = fopen("/proc/loadavg", "r");
    char lbuf[128] = "?\n";
    if (la) { if (!fgets(lbuf, sizeof lbuf, la)) strcpy(lbuf, "?\n"); fclose(la); }
    printf("%s%s", what, lbuf);
}
#endif
