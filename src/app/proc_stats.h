// proc_stats.h: a process' CPU time, resident memory and threads from Linux's /proc, for the
// dashboard's view of the process training a run.
#ifndef REPAE_APP_PROC_STATS_H
#define REPAE_APP_PROC_STATS_H

typedef struct {
    double cpu_s;     // user + system CPU seconds (all threads)
    double rss_bytes; // resident set
    int threads;
    char state;       // R S D Z T ... (Z: a zombie, as good as gone)
    int ppid;         // the parent
} ProcStats;

// Reads /proc/PID/stat and /proc/PID/statm. 0, or -1 with err when the process is gone or
// /proc cannot be read.
int proc_stats_read(int pid, ProcStats *p, char *err);

// The ranks of an MPI job on this machine, seen from one of them (pid): when pid's parent is an
// MPI launcher (mpirun, mpiexec, orterun, prterun, orted, prted), the processes it started
// (its children, pid included) are the job's local ranks; *sum gets their figures added up
// (threads, memory, CPU seconds). Returns how many, or 0 when pid's parent is no launcher (or
// cannot be read), leaving *sum alone.
int proc_stats_ranks(int pid, ProcStats *sum);

#endif
