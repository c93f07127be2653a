// proc_stats.c: see proc_stats.h. The fields are proc(5)'s: in stat, after the command name
// in parentheses (which may itself hold spaces and parentheses, hence the last ')'), state is
// field 3, utime 14 and stime 15 (clock ticks), num_threads 20; statm's second field is the
// resident set in pages.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "app/proc_stats.h"
#include "base/util.h"

int proc_stats_read(int pid, ProcStats *p, char *err) {
    memset(p, 0, sizeof *p);
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return seterr(err, "process %d is gone (no %s)", pid, path);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *q = strrchr(buf, ')');
    if (!q) return seterr(err, "%s: unexpected format (no ')')", path);
    // After ") ": field 3 onwards.
    char *tok, *save = NULL;
    int field = 3;
    unsigned long long ut = 0, stt = 0;
    long threads = 0;
    for (tok = strtok_r(q + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save), field++) {
        if (field == 3) p->state = tok[0];
        else if (field == 14) ut = strtoull(tok, NULL, 10);
        else if (field == 15) stt = strtoull(tok, NULL, 10);
        else if (field == 20) { threads = strtol(tok, NULL, 10); break; }
    }
    if (field != 20) return seterr(err, "%s: unexpected format (%d fields)", path, field);
    long hz = sysconf(_SC_CLK_TCK);
    p->cpu_s = (double)(ut + stt) / (double)(hz > 0 ? hz : 100);
    p->threads = (int)threads;
    snprintf(path, sizeof path, "/proc/%d/statm", pid);
    f = fopen(path, "r");
    if (!f) return seterr(err, "process %d is gone (no %s)", pid, path);
    unsigned long long size = 0, res = 0;
    int got = fscanf(f, "%llu %llu", &size, &res);
    fclose(f);
    if (got != 2) return seterr(err, "%s: unexpected format", path);
    p->rss_bytes = (double)res * (double)sysconf(_SC_PAGESIZE);
    return 0;
}
