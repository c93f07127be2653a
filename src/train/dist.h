// dist.h: the data-parallel world a training run belongs to, over MPI (Open MPI), behind the
// few calls the trainer needs. The rest of the trainer calls dist_* only, never MPI.
//
// A process that was not started by a launcher (no OMPI_COMM_WORLD_SIZE from Open MPI's mpirun,
// no PMIX_RANK / PMI_RANK from a PMIx or PMI server such as `srun --mpi=pmix`, not one of
// several tasks of a Slurm job step: SLURM_PROCID with SLURM_STEP_NUM_TASKS > 1) never touches
// MPI: it is world size 1, every collective is a no-op, and no MPI daemon is started, so
// `repae train`, `make run` and a plain run in a Slurm batch script need no launcher.
#ifndef REPAE_DIST_H
#define REPAE_DIST_H
#include <stddef.h>

typedef struct DistComm DistComm; // dist.c: pending reductions and the time/bytes counters

typedef struct Dist {
    int rank, size;
    int mpi; // MPI_Init was called (and dist_finalize must call MPI_Finalize)
    // Owned by the Dist; the functions taking a const Dist * still update it (what is pending,
    // what was spent), as the world itself does not change.
    DistComm *comm;
} Dist;

// Whether the environment says a launcher started this process.
int dist_launched(void);
// Joins the launcher's world (MPI_Init) when launched, otherwise world size 1. 0, or -1 with
// err (ERRLEN), also when the launcher announced more processes than MPI can join (srun tasks
// without PMIx would each be a world of one: separate runs on one store).
int dist_init(Dist *d, char *err);
void dist_finalize(Dist *d);
static inline int dist_rank(const Dist *d) { return d ? d->rank : 0; }
static inline int dist_size(const Dist *d) { return d ? d->size : 1; }
// In-place sums over the ranks; every rank gets the same result. The reduction is done as a
// non-commutative operation, so that MPI combines the ranks' buffers in rank order whatever
// algorithm it picks: a run is reproducible for a given world size.
void dist_allreduce_sum_f(const Dist *d, float *x, size_t n);
void dist_allreduce_sum_d(const Dist *d, double *x, size_t n);
// ---- bucketed, non-blocking gradient reduction ------------------------------------------------
// dist_grads_begin starts averaging buffers over the ranks without waiting: each buffer is cut
// into DIST_BUCKET_FLOATS-sized buckets (the last one shorter), each bucket one MPI_Iallreduce,
// posted in the order given, so every rank posts the same collectives in the same order and a
// run is reproducible for a given world size (sums in rank order, as dist_allreduce_sum_f).
// Begins can follow one another; dist_grads_wait completes all of them and multiplies each
// buffer by the scale given with it (1/world for a mean). The buffers must not be touched in
// between. The transfer proceeds while the caller computes: each begin also tests the requests
// in flight, which moves the earlier ones on (Open MPI progresses only inside MPI calls), so a
// trainer that begins each piece as its backward finishes it keeps the wire busy; what is left
// goes at the wait. No-ops with one process.
#define DIST_BUCKET_FLOATS (1 << 18) // 1 MiB: few collectives per step, and under INT_MAX
void dist_grads_begin(const Dist *d, float *const *bufs, const size_t *lens, int nbufs, float scale);
void dist_grads_wait(const Dist *d);
// Tests the reductions in flight (no waiting), which moves them on: Open MPI progresses a
// non-blocking collective only inside MPI calls, so a caller computing for long between two
// begins calls this between its pieces of work. Completes nothing the wait would not; the
// results are the same whenever and however often it is called. No-op with one process or
// nothing in flight.
void dist_progress(const Dist *d);

// Time this process spent inside collectives (posting, waiting, blocking ones) and the bytes
// it handed to them, since the previous call (which resets them). The share of a step in
// collectives is seconds / step time; on one process both are 0.
typedef struct { double seconds, bytes; long collectives; } DistStats;
void dist_stats_take(const Dist *d, DistStats *out);

// Copies n bytes from rank root to every rank.
void dist_bcast(const Dist *d, void *buf, size_t n, int root);
void dist_barrier(const Dist *d);
// Takes the whole job down (MPI_Abort): a rank that cannot go on must not leave the others
// waiting in a collective. Without MPI, exits with code.
void dist_abort(const Dist *d, int code);

#endif
