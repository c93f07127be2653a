// dist.h: the data-parallel world a training run belongs to, over MPI (Open MPI), behind the
// few calls the trainer needs. The rest of the trainer calls dist_* only, never MPI.
//
// A process that was not started by a launcher (no OMPI_COMM_WORLD_SIZE / PMIX_RANK from
// Open MPI's mpirun, no SLURM_PROCID from Slurm's srun) never touches MPI: it is world size 1,
// every collective is a no-op, and no MPI daemon is started, so `repae train` and `make run`
// need no launcher.
#ifndef REPAE_DIST_H
#define REPAE_DIST_H
#include <stddef.h>

typedef struct Dist {
    int rank, size;
    int mpi; // MPI_Init was called (and dist_finalize must call MPI_Finalize)
} Dist;

// Whether the environment says a launcher started this process.
int dist_launched(void);
// Joins the launcher's world (MPI_Init) when launched, otherwise world size 1. 0, or -1 with
// err (ERRLEN).
int dist_init(Dist *d, char *err);
void dist_finalize(Dist *d);
static inline int dist_rank(const Dist *d) { return d ? d->rank : 0; }
static inline int dist_size(const Dist *d) { return d ? d->size : 1; }
// In-place sums over the ranks; every rank gets the same result. The reduction is done as a
// non-commutative operation, so that MPI combines the ranks' buffers in rank order whatever
// algorithm it picks: a run is reproducible for a given world size.
void dist_allreduce_sum_f(const Dist *d, float *x, size_t n);
void dist_allreduce_sum_d(const Dist *d, double *x, size_t n);
// Copies n bytes from rank root to every rank.
void dist_bcast(const Dist *d, void *buf, size_t n, int root);
void dist_barrier(const Dist *d);
// Takes the whole job down (MPI_Abort): a rank that cannot go on must not leave the others
// waiting in a collective. Without MPI, exits with code.
void dist_abort(const Dist *d, int code);

#endif
