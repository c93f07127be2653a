// mpi_launch.h: starting `repae train` on N local processes through mpirun, detached from the
// dashboard (its own session, stdio to a log file), so that quitting the dashboard or losing
// its terminal does not end the run. The run writes the store like any `repae train`.
#ifndef REPAE_APP_MPI_LAUNCH_H
#define REPAE_APP_MPI_LAUNCH_H
#include <stddef.h>

// The launcher on PATH (or $REPAE_MPIRUN when set): 0 and its path in out, or -1 with err
// saying how to install it.
int mpi_launcher_find(char *out, size_t n, char *err);

// The command line: mpirun -np np --oversubscribe [--allow-run-as-root] --mca btl tcp,self
// --mca btl_tcp_if_include lo BIN --db DB train CONFIG --name NAME [--set S]... argv is
// malloc'd (each string too), NULL-terminated; free with mpi_argv_free. --oversubscribe always
// (Open MPI refuses more ranks than the cores it counts), --allow-run-as-root when running as
// root (Open MPI refuses root otherwise); TCP over loopback, the transport used between machines, as the tests use it.
char **mpi_argv(const char *mpirun, int np, const char *bin, const char *db, const char *config, const char *name,
                int nset, char *const *sets);
void mpi_argv_free(char **argv);

// Runs argv detached: a grandchild in its own session (setsid), stdin /dev/null, stdout and
// stderr appended to log (created). Returns once it has exec'd (or failed to: -1 with err).
int mpi_spawn_detached(char *const *argv, const char *log, char *err);

#include <stdint.h>
#include "store/store.h"
// After the spawn: whether the run named name shows in the store yet. 1 with *id once it does
// (the log moved into the run's directory as mpirun.log, and a console note saying how it
// was started: cmd, short, e.g. "mpirun -np 2"), 0 not yet, -1 with err.
int mpi_launch_settle(Store *s, const char *name, const char *log, const char *cmd, int64_t *id, char *err);
// The last non-empty line of the log (what mpirun or repae said before giving up), in out.
void mpi_log_tail(const char *log, char *out, size_t n);

#endif
