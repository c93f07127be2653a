// dist.c: see dist.h. The only file that includes mpi.h.
#include "train/dist.h"
#include "base/util.h"
#include "ops/ops.h"
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

// A positive count from the environment, or 0.
static long env_count(const char *name) {
    const char *s = getenv(name);
    long v = s ? strtol(s, NULL, 10) : 0;
    return v > 0 ? v : 0;
}

// Slurm sets SLURM_PROCID in a batch script too, where repae runs as one plain process: only a
// job step srun started with several tasks is a world.
static int srun_world(void) { return getenv("SLURM_PROCID") && env_count("SLURM_STEP_NUM_TASKS") > 1; }

int dist_launched(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK") || srun_world();
}

// The world size the launcher announced (0: it did not say). Open MPI's variables first: under
// mpirun inside a Slurm allocation the ranks also inherit the Slurm step of mpirun's daemons.
static long launcher_size(void) {
    if (getenv("OMPI_COMM_WORLD_SIZE")) return env_count("OMPI_COMM_WORLD_SIZE");
    if (getenv("PMI_RANK")) return env_count("PMI_SIZE");
    if (getenv("SLURM_PROCID")) return env_count("SLURM_STEP_NUM_TASKS");
    return 0;
}

// What a world of more than one process keeps between calls.
typedef struct { float *buf; size_t n; float scale; } Pending;
struct DistComm {
    MPI_Op sum_f;            // the rank-ordered float sum, made once
    MPI_Request *req;        // posted, not yet completed
    int nreq, capreq;
    Pending *pend;           // the buffers those requests fill, with their scale
    int npend, cappend;
    double seconds, bytes;   // since dist_stats_take
    long collectives;
};

static void sum_f(void *in, void *inout, int *len, MPI_Datatype *t);

int dist_init(Dist *d, char *err) {
    d->rank = 0;
    d->size = 1;
    d->mpi = 0;
    d->comm = NULL;
    if (!dist_launched()) return 0;
    // srun without a process-management interface Open MPI can use: each task would start as a
    // world of its own, N separate runs writing one store.
    if (srun_world() && !getenv("PMIX_RANK") && !getenv("PMI_RANK") && !getenv("OMPI_COMM_WORLD_SIZE"))
        return seterr(err, "srun started %ld tasks but gave them no PMIx, so they cannot form one MPI world: "
                           "launch with `srun --mpi=pmix` (`srun --mpi=list` shows what this Slurm offers), or "
                           "run mpirun inside the allocation", env_count("SLURM_STEP_NUM_TASKS"));
    int provided;
    // The training loop calls MPI from one thread only; OpenMP threads never do.
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return seterr(err, "MPI_Init failed: the launcher's environment is set but MPI cannot start; "
                           "run without mpirun/srun, or check the Open MPI installation (ompi_info)");
    d->mpi = 1;
    // A failing collective aborts the job (the default): no rank is left waiting.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    long want = launcher_size();
    if (want > 0 && want != d->size) {
        seterr(err, "the launcher started %ld processes but MPI sees a world of %d: this Open MPI cannot use its "
                    "process-management interface (Debian's Open MPI 4.1 speaks PMIx only: `srun --mpi=pmix`, or mpirun)",
               want, d->size);
        MPI_Finalize();
        d->mpi = 0;
        d->size = 1;
        d->rank = 0;
        return -1;
    }
    d->comm = xcalloc(1, sizeof *d->comm);
    MPI_Op_create(sum_f, 0, &d->comm->sum_f);
    return 0;
}

void dist_finalize(Dist *d) {
    if (d->comm) {
        dist_grads_wait(d); // MPI_Finalize with a collective in flight is erroneous
        MPI_Op_free(&d->comm->sum_f);
        free(d->comm->req);
        free(d->comm->pend);
        free(d->comm);
        d->comm = NULL;
    }
    if (d->mpi) MPI_Finalize();
    d->mpi = 0;
}

// Sums in rank order: a non-commutative user operation makes MPI keep the operands' order.
static void sum_f(void *in, void *inout, int *len, MPI_Datatype *t) {
    (void)t;
    const float *a = in;
    float *b = inout;
    for (int i = 0; i < *len; i++) b[i] = a[i] + b[i];
}

static void sum_d(void *in, void *inout, int *len, MPI_Datatype *t) {
    (void)t;
    const double *a = in;
    double *b = inout;
    for (int i = 0; i < *len; i++) b[i] = a[i] + b[i];
}

static void count(const Dist *d, double t0, double bytes) {
    if (!d->comm) return;
    d->comm->seconds += MPI_Wtime() - t0;
    d->comm->bytes += bytes;
    d->comm->collectives++;
}

static void allreduce(const Dist *d, void *x, size_t n, MPI_Datatype type, MPI_User_function *fn, size_t elem) {
    if (!d || d->size <= 1 || n == 0) return;
    double t0 = MPI_Wtime();
    MPI_Op op;
    MPI_Op_create(fn, 0, &op);
    // MPI counts are ints: large buffers go in pieces.
    for (size_t off = 0; off < n;) {
        size_t k = n - off > (size_t)INT_MAX / 2 ? (size_t)INT_MAX / 2 : n - off;
        MPI_Allreduce(MPI_IN_PLACE, (char *)x + off * elem, (int)k, type, op, MPI_COMM_WORLD);
        off += k;
    }
    MPI_Op_free(&op);
    count(d, t0, (double)(n * elem));
}

void dist_allreduce_sum_f(const Dist *d, float *x, size_t n) { allreduce(d, x, n, MPI_FLOAT, sum_f, sizeof(float)); }
void dist_allreduce_sum_d(const Dist *d, double *x, size_t n) { allreduce(d, x, n, MPI_DOUBLE, sum_d, sizeof(double)); }

void dist_bcast(const Dist *d, void *buf, size_t n, int root) {
    if (!d || d->size <= 1) return;
    double t0 = MPI_Wtime();
    for (size_t off = 0; off < n;) {
        size_t k = n - off > (size_t)INT_MAX ? (size_t)INT_MAX : n - off;
        MPI_Bcast((char *)buf + off, (int)k, MPI_BYTE, root, MPI_COMM_WORLD);
        off += k;
    }
    count(d, t0, (double)n);
}

void dist_barrier(const Dist *d) {
    if (!d || d->size <= 1) return;
    double t0 = MPI_Wtime();
    MPI_Barrier(MPI_COMM_WORLD);
    count(d, t0, 0);
}

// ---- bucketed, non-blocking gradient reduction --------------------------------------------------

void dist_grads_begin(const Dist *d, float *const *bufs, const size_t *lens, int nbufs, float scale) {
    if (!d || d->size <= 1 || !d->comm) return;
    DistComm *c = d->comm;
    double t0 = MPI_Wtime();
    for (int b = 0; b < nbufs; b++) {
        if (!lens[b]) continue;
        if (c->npend == c->cappend) {
            c->cappend = c->cappend ? 2 * c->cappend : 8;
            c->pend = xrealloc(c->pend, (size_t)c->cappend * sizeof *c->pend);
        }
        c->pend[c->npend++] = (Pending){bufs[b], lens[b], scale};
        for (size_t off = 0; off < lens[b]; off += DIST_BUCKET_FLOATS) {
            size_t k = lens[b] - off < DIST_BUCKET_FLOATS ? lens[b] - off : DIST_BUCKET_FLOATS;
            if (c->nreq == c->capreq) {
                c->capreq = c->capreq ? 2 * c->capreq : 64;
                c->req = xrealloc(c->req, (size_t)c->capreq * sizeof *c->req);
            }
            MPI_Iallreduce(MPI_IN_PLACE, bufs[b] + off, (int)k, MPI_FLOAT, c->sum_f, MPI_COMM_WORLD, &c->req[c->nreq++]);
            c->bytes += (double)(k * sizeof(float));
            c->collectives++;
        }
    }
    // Open MPI moves a non-blocking collective only inside MPI calls (no progress thread by
    // default): testing the requests in flight lets those posted earlier in the backward go on
    // to their next rounds now rather than all at the wait.
    int done;
    MPI_Testall(c->nreq, c->req, &done, MPI_STATUSES_IGNORE);
    c->seconds += MPI_Wtime() - t0;
}

void dist_progress(const Dist *d) {
    if (!d || d->size <= 1 || !d->comm || !d->comm->nreq) return;
    DistComm *c = d->comm;
    double t0 = MPI_Wtime();
    int done;
    MPI_Testall(c->nreq, c->req, &done, MPI_STATUSES_IGNORE);
    c->seconds += MPI_Wtime() - t0;
}

void dist_grads_wait(const Dist *d) {
    if (!d || d->size <= 1 || !d->comm) return;
    DistComm *c = d->comm;
    if (!c->nreq && !c->npend) return;
    double t0 = MPI_Wtime();
    MPI_Waitall(c->nreq, c->req, MPI_STATUSES_IGNORE);
    c->seconds += MPI_Wtime() - t0;
    // The same multiply as a blocking sum followed by a scale: bit for bit the same result.
    for (int i = 0; i < c->npend; i++) {
        Pending *p = &c->pend[i];
        if (p->scale != 1.0f)
            scale_inplace(p->buf, p->n, p->scale);
    }
    c->nreq = c->npend = 0;
}

void dist_stats_take(const Dist *d, DistStats *out) {
    *out = (DistStats){0, 0, 0};
    if (!d || !d->comm) return;
    *out = (DistStats){d->comm->seconds, d->comm->bytes, d->comm->collectives};
    d->comm->seconds = d->comm->bytes = 0;
    d->comm->collectives = 0;
}

void dist_abort(const Dist *d, int code) {
    if (d && d->mpi) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}
