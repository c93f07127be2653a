// dist.c: see dist.h. The only file that includes mpi.h.
#include "train/dist.h"
#include "base/util.h"
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int dist_launched(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK") || getenv("SLURM_PROCID");
}

int dist_init(Dist *d, char *err) {
    d->rank = 0;
    d->size = 1;
    d->mpi = 0;
    if (!dist_launched()) return 0;
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
    return 0;
}

void dist_finalize(Dist *d) {
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

static void allreduce(const Dist *d, void *x, size_t n, MPI_Datatype type, MPI_User_function *fn, size_t elem) {
    if (!d || d->size <= 1 || n == 0) return;
    MPI_Op op;
    MPI_Op_create(fn, 0, &op);
    // MPI counts are ints: large buffers go in pieces.
    for (size_t off = 0; off < n;) {
        size_t k = n - off > (size_t)INT_MAX / 2 ? (size_t)INT_MAX / 2 : n - off;
        MPI_Allreduce(MPI_IN_PLACE, (char *)x + off * elem, (int)k, type, op, MPI_COMM_WORLD);
        off += k;
    }
    MPI_Op_free(&op);
}

void dist_allreduce_sum_f(const Dist *d, float *x, size_t n) { allreduce(d, x, n, MPI_FLOAT, sum_f, sizeof(float)); }
void dist_allreduce_sum_d(const Dist *d, double *x, size_t n) { allreduce(d, x, n, MPI_DOUBLE, sum_d, sizeof(double)); }

void dist_bcast(const Dist *d, void *buf, size_t n, int root) {
    if (!d || d->size <= 1) return;
    for (size_t off = 0; off < n;) {
        size_t k = n - off > (size_t)INT_MAX ? (size_t)INT_MAX : n - off;
        MPI_Bcast((char *)buf + off, (int)k, MPI_BYTE, root, MPI_COMM_WORLD);
        off += k;
    }
}

void dist_barrier(const Dist *d) {
    if (d && d->size > 1) MPI_Barrier(MPI_COMM_WORLD);
}

void dist_abort(const Dist *d, int code) {
    if (d && d->mpi) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}
