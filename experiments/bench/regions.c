// regions.c: an LD_PRELOAD shim for regions.sh. It wraps libgomp's GOMP_parallel (every
// `#pragma omp parallel` GCC emits calls it) and, for each top-level region, by the outlined
// function it runs (name._omp_fn.N), adds up
//   - the region's wall time, as the thread that opened it sees it (wake-up, work, barrier);
//   - each thread's time in the body (threads 0 and 1) and, call by call, the slower one's:
//     wall - slower is the region's own cost (waking the team, the barrier), and slower -
//     faster (summed call by call) the time one thread waited for the other;
//   - the serial time before it: from the end of the previous region, by pair (previous
//     body -> this body), the work no other thread can help with.
// Nested regions (inactive, one thread) are passed through uncounted. REGIONS_MARK is the
// offset of a body that ends every training step (the EMA update's): everything is counted from
// its first run's end (the warm-up step's) to its last, so the figures are of whole steady
// steps only. Offsets into the object are written to REGIONS_OUT at exit, for regions.sh to
// name with addr2line.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS 8192
typedef void (*gomp_parallel_fn)(void (*)(void *), void *, unsigned, unsigned);

// mx: the sum of each call's slower thread; solo: the wall time of calls on one thread (an `if`
// clause false, num_threads(1)), whose t[1] is t[0]: no thread waited in them, one worked.
typedef struct { void *fn; long n; double wall, t[2], mx, solo; } Region;
typedef struct { void *prev, *next; long n; double s; } Gap;
static Region regions[SLOTS], regions_snap[SLOTS];
static Gap gaps[SLOTS], gaps_snap[SLOTS];
static void *last_fn;
static double last_end;
static void *mark;          // REGIONS_MARK, as an address
static int armed;           // the mark has run once: counting
static long steps;          // marks since
static double t_armed, t_last;

typedef struct { void (*fn)(void *); void *data; double t[2]; } Call;
static int (*thread_num)(void), (*level)(void);

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void timed_body(void *p) {
    Call *c = p;
    double t0 = now();
    c->fn(c->data);
    int id = thread_num();
    if (id < 2) c->t[id] = now() - t0;
}

static unsigned long offset(void *p) {
    Dl_info d;
    return dladdr(p, &d) && d.dli_fbase ? (unsigned long)((char *)p - (char *)d.dli_fbase) : (unsigned long)p;
}

static Region *region_slot(void *fn) {
    for (size_t i = ((uintptr_t)fn >> 4) % SLOTS, k = 0; k < SLOTS; k++, i = (i + 1) % SLOTS)
        if (regions[i].fn == fn || !regions[i].fn) { regions[i].fn = fn; return &regions[i]; }
    return NULL;
}

static Gap *gap_slot(void *prev, void *next) {
    for (size_t i = (((uintptr_t)prev * 31) ^ (uintptr_t)next) % SLOTS, k = 0; k < SLOTS; k++, i = (i + 1) % SLOTS)
        if ((gaps[i].prev == prev && gaps[i].next == next) || (!gaps[i].prev && !gaps[i].next)) {
            gaps[i].prev = prev;
            gaps[i].next = next;
            return &gaps[i];
        }
    return NULL;
}

void GOMP_parallel(void (*fn)(void *), void *data, unsigned nthreads, unsigned flags) {
    static gomp_parallel_fn real;
    if (!real) {
        real = (gomp_parallel_fn)dlsym(RTLD_NEXT, "GOMP_parallel");
        thread_num = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_thread_num");
        level = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_level");
        if (!real || !thread_num || !level) { fputs("regions.so: libgomp symbols not found\n", stderr); abort(); }
        const char *m = getenv("REGIONS_MARK");
        Dl_info d; // the first region's body is in the program, as the mark is
        if (m && dladdr((void *)fn, &d) && d.dli_fbase) mark = (char *)d.dli_fbase + strtoul(m, NULL, 16);
    }
    if (level() > 0) { real(fn, data, nthreads, flags); return; }
    double start = now();
    Gap *g = last_end > 0 ? gap_slot(last_fn, (void *)fn) : NULL;
    if (g) { g->n++; g->s += start - last_end; }
    Call c = {fn, data, {0, 0}};
    real(timed_body, &c, nthreads, flags);
    last_end = now();
    last_fn = (void *)fn;
    Region *r = region_slot((void *)fn);
    if (r) {
        r->n++;
        r->wall += last_end - start;
        r->t[0] += c.t[0];
        if (nthreads == 1) {
            c.t[1] = c.t[0];
            r->solo += last_end - start;
        }
        r->t[1] += c.t[1];
        r->mx += c.t[0] > c.t[1] ? c.t[0] : c.t[1];
    }
    if (mark && (void *)fn == mark) {
        if (!armed) { // the warm-up step ends here: start from nothing
            memset(regions, 0, sizeof regions);
            memset(gaps, 0, sizeof gaps);
            armed = 1;
            t_armed = last_end;
        } else { // a steady step ends: what has been counted is of whole steps
            steps++;
            t_last = last_end;
            memcpy(regions_snap, regions, sizeof regions);
            memcpy(gaps_snap, gaps, sizeof gaps);
        }
    }
}


__attribute__((destructor)) static void regions_dump(void) {
    const char *path = getenv("REGIONS_OUT");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (!f) return;
    fprintf(f, "S %ld %.9f\n", steps, t_last - t_armed);
    const Region *R = mark ? regions_snap : regions;
    const Gap *G = mark ? gaps_snap : gaps;
    for (int i = 0; i < SLOTS; i++)
        if (R[i].fn)
            fprintf(f, "R 0x%lx %ld %.9f %.9f %.9f %.9f %.9f\n", offset(R[i].fn), R[i].n, R[i].wall, R[i].t[0],
                    R[i].t[1], R[i].mx, R[i].solo);
    for (int i = 0; i < SLOTS; i++)
        if (G[i].prev || G[i].next)
            fprintf(f, "G 0x%lx 0x%lx %ld %.9f\n", offset(G[i].prev), offset(G[i].next), G[i].n, G[i].s);
    fclose(f);
}
