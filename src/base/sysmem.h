// sysmem.h: how much memory this process may still allocate, from what Linux says about the
// machine (/proc/meminfo), the cgroup the process runs in (v2, else v1) and its address-space
// limit (RLIMIT_AS, `ulimit -v`). The training core's memory check compares its estimate with
// this before a run allocates anything.
#ifndef REPAE_SYSMEM_H
#define REPAE_SYSMEM_H

// Bytes this process may still allocate: the least of MemAvailable (/proc/meminfo), the
// cgroup's memory limit minus its usage, and the address-space limit minus what the process
// maps; what (may be NULL) names the limit that decided ("MemAvailable in /proc/meminfo", ...).
// -1 (and what "unknown") if none of them can be read.
double sysmem_available(const char **what);

#endif
