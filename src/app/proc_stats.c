// proc_stats.c: see proc_stats.h. The fields are proc(5)'s: in stat, after the command name
// in parentheses (which may itself hold spaces and parentheses, hence the last ')'), state is
// field 3, ppid 4, utime 14 and stime 15 (clock ticks), num_threads 20; statm's second field is the
// resident set in pages.
#include <dirent.h>
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
        else if (field == 4) p->ppid = (int)strtol(tok, NULL, 10);
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

int proc_stats_ranks(int pid, ProcStats *sum) {
    ProcStats me;
    char err[ERRLEN], path[64], comm[64] = "";
    if (proc_stats_read(pid, &me, err) != 0 || me.ppid <= 1) return 0;
    snprintf(path, sizeof path, "/proc/%d/comm", me.ppid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    if (!fgets(comm, sizeof comm, f)) comm[0] = 0;
    fclose(f);
    comm[strcspn(comm, "\n")] = 0;
    static const char *const launchers[] = {"mpirun", "mpiexec", "orterun", "prterun", "orted", "prted"};
    int is = 0;
    for (size_t i = 0; i < sizeof launchers / sizeof launchers[0]; i++) is |= !strcmp(comm, launchers[i]);
    if (!is) return 0;
    DIR *d = opendir("/proc");
    if (!d) return 0;
    ProcStats tot = {0};
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long q = strtol(e->d_name, &end, 10);
        if (*end || q <= 0) continue;
        ProcStats ps;
        if (proc_stats_read((int)q, &ps, err) != 0 || ps.ppid != me.ppid || ps.state == 'Z') continue;
        tot.cpu_s += ps.cpu_s;
        tot.rss_bytes += ps.rss_bytes;
        tot.threads += ps.threads;
        n++;
    }
    closedir(d);
    if (n) {
        tot.state = me.state;
        tot.ppid = me.ppid;
        *sum = tot;
    }
    return n;
}
