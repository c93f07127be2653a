// test_dist.c: the MPI wrapper's bucketed gradient reduction (train/dist.h). Run alone it checks
// the one-process world (no MPI: every call a no-op, the buffers untouched); under `mpirun -np
// N` (tests/test_mpi_dist.sh) it checks that buffers spanning several buckets, begun one after
// another, come back as the scaled mean on every rank (on 2 ranks bit for bit as the blocking
// sum: x0 + x1 has one rounding whatever the algorithm; on more, MPI may group the rank-ordered
// sum differently from the blocking one, so within 1e-6), the same bits on every rank and on
// a second round, and that the counters saw every byte and bucket.
#include <unistd.h>
#include "train/dist.h"
#include "test.h"

static Dist d;

// Rank r's value at index i: distinct per rank and index, not exactly representable sums.
static float val(int r, size_t i) { return (float)((r + 1) * 0.37 + (double)(i % 1000) * 1.3e-3 + (double)i * 1e-9); }

TEST(bucketed_sum_matches_blocking_sum) {
    size_t n[2] = {3 * (size_t)DIST_BUCKET_FLOATS + 17, 5};
    float *a[2], *b[2];
    for (int k = 0; k < 2; k++) {
        a[k] = xmalloc(n[k] * sizeof(float));
        b[k] = xmalloc(n[k] * sizeof(float));
        for (size_t i = 0; i < n[k]; i++) a[k][i] = b[k][i] = val(d.rank, i + (size_t)k * 7);
    }
    DistStats st;
    dist_stats_take(&d, &st);
    float scale = 1.0f / (float)d.size;
    // Begun separately, as the trainer does (SiT, then the VAE after its backward).
    dist_grads_begin(&d, &a[0], &n[0], 1, scale);
    dist_grads_begin(&d, &a[1], &n[1], 1, scale);
    dist_grads_wait(&d);
    dist_stats_take(&d, &st);
    for (int k = 0; k < 2; k++) {
        dist_allreduce_sum_f(&d, b[k], n[k]);
        for (size_t i = 0; i < n[k]; i++) b[k][i] *= scale;
    }
    int bad = 0;
    size_t at = 0;
    for (int k = 0; k < 2 && !bad; k++)
        for (size_t i = 0; i < n[k]; i++)
            if (a[k][i] != b[k][i]) { bad = 1; at = i; break; }
    double worst = 0; // against the sum computed here from every rank's values
    for (size_t i = 0; i < n[0]; i++) {
        double want = 0;
        for (int r = 0; r < d.size; r++) want += val(r, i);
        want /= d.size;
        double e = fabs(a[0][i] - want) / fabs(want);
        if (e > worst) worst = e;
    }
    for (int k = 0; k < 2; k++) { free(a[k]); free(b[k]); }
    CHECK(!bad || d.size > 2, "rank %d: bucketed result differs from the blocking sum at %zu", d.rank, at);
    CHECK(worst < 1e-6, "rank %d: off the exact mean by %g relative", d.rank, worst);
    if (d.size > 1) {
        double want_bytes = (double)(n[0] + n[1]) * sizeof(float);
        CHECK(st.collectives == 5 && st.bytes == want_bytes && st.seconds > 0,
              "counters: %ld collectives (want 5 buckets), %.0f bytes (want %.0f), %g s", st.collectives, st.bytes,
              want_bytes, st.seconds);
    } else {
        CHECK(st.collectives == 0 && st.bytes == 0, "one process counted %ld collectives", st.collectives);
    }
}

// Every rank holds the same result (a fixed order), and a second round gives the same bits.
TEST(same_bits_on_every_rank_and_round) {
    size_t n = (size_t)DIST_BUCKET_FLOATS + 3;
    float *x = xmalloc(n * sizeof(float)), *y = xmalloc(n * sizeof(float));
    for (int round = 0; round < 2; round++) {
        float *p = round ? y : x;
        for (size_t i = 0; i < n; i++) p[i] = val(d.rank, 3 * i);
        dist_grads_begin(&d, &p, &n, 1, 1.0f);
        dist_grads_wait(&d);
    }
    int same = memcmp(x, y, n * sizeof(float)) == 0;
    // Rank 0's bits to everyone: each compares its own.
    float *r0 = xmalloc(n * sizeof(float));
    memcpy(r0, x, n * sizeof(float));
    dist_bcast(&d, r0, n * sizeof(float), 0);
    int as_rank0 = memcmp(r0, x, n * sizeof(float)) == 0;
    free(x); free(y); free(r0);
    CHECK(same, "rank %d: two rounds of the same reduction differ", d.rank);
    CHECK(as_rank0, "rank %d: result differs from rank 0's", d.rank);
}

TEST(world_matches_launcher) {
    const char *env = getenv("OMPI_COMM_WORLD_SIZE");
    int want = env ? atoi(env) : 1;
    CHECK(d.size == want && d.rank >= 0 && d.rank < d.size, "size %d rank %d, launcher says %d", d.size, d.rank, want);
    CHECK(dist_launched() == (env != NULL), "dist_launched %d", dist_launched());
}

int main(void) {
    char err[ERRLEN];
    if (dist_init(&d, err) != 0) { printf("FAIL dist_init: %s\n", err); return 1; }
    // Under mpirun only rank 0 prints, so the lines are counted once; every rank's failure
    // still sets the exit code (mpirun returns non-zero if any rank does).
    if (d.rank != 0 && !freopen("/dev/null", "w", stdout)) return 1;
    RUN(world_matches_launcher);
    RUN(bucketed_sum_matches_blocking_sum);
    RUN(same_bits_on_every_rank_and_round);
    int rc = test_summary();
    dist_finalize(&d);
    return rc;
}
