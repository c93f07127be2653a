// proc_stats.h: a process' CPU time, resident memory and threads from Linux's /proc, for the
// dashboard's view of the process training a run.
#ifndef REPAE_APP_PROC_STATS_H
#define REPAE_APP_PROC_STATS_H

typedef struct {
    double cpu_s;     // user + system CPU seconds (all threads)
    double rss_bytes; // resident set
    int threads;
    char state;       // R S D Z T ... (Z: a zombie, as good as gone)
} ProcStats;

// Reads /proc/PID/stat and /proc/PID/statm. 0, or -1 with err when the process is gone or
// /proc cannot be read.
int proc_stats_read(int pid, ProcStats *p, char *err);

#endif
