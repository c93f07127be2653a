// sysmem.c: see sysmem.h.
#include "base/sysmem.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

// The first number after key in a "key value" text file (/proc/meminfo), or -1.
static double file_number(const char *path, const char *key) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[512];
    double v = -1;
    size_t kl = key ? strlen(key) : 0;
    while (fgets(line, sizeof line, f)) {
        if (key && strncmp(line, key, kl) != 0) continue;
        char *end;
        double x = strtod(line + kl, &end);
        if (end != line + kl) v = x;
        break;
    }
    fclose(f);
    return v;
}

// The cgroup (v2, else v1) memory limit minus usage, or -1 if there is no limit.
static double cgroup_room(void) {
    char rel[1024] = "", p[1400];
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (f) {
        char line[1200];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "0::", 3) == 0) { snprintf(rel, sizeof rel, "%.1000s", line + 3); rel[strcspn(rel, "\n")] = 0; }
        fclose(f);
    }
    const char *bases[] = {rel, ""};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "/sys/fs/cgroup%s/memory.max", strcmp(bases[i], "/") ? bases[i] : "");
        double lim = file_number(p, NULL); // "max" parses as no number: -1
        if (lim < 0) continue;
        snprintf(p, sizeof p, "/sys/fs/cgroup%s/memory.current", strcmp(bases[i], "/") ? bases[i] : "");
        double cur = file_number(p, NULL);
        return lim - (cur > 0 ? cur : 0);
    }
    double lim = file_number("/sys/fs/cgroup/memory/memory.limit_in_bytes", NULL);
    if (lim > 0 && lim < 1e18) {
        double cur = file_number("/sys/fs/cgroup/memory/memory.usage_in_bytes", NULL);
        return lim - (cur > 0 ? cur : 0);
    }
    return -1;
}

double sysmem_available(const char **what) {
    double best = -1, x;
    const char *name = "unknown";
    if ((x = file_number("/proc/meminfo", "MemAvailable:")) >= 0) { best = x * 1024; name = "MemAvailable in /proc/meminfo"; }
    if ((x = cgroup_room()) >= 0 && (best < 0 || x < best)) { best = x; name = "the cgroup's memory.max"; }
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        double pages = file_number("/proc/self/statm", NULL);
        x = (double)rl.rlim_cur - (pages > 0 ? pages * (double)sysconf(_SC_PAGESIZE) : 0);
        if (best < 0 || x < best) { best = x; name = "the address-space limit (ulimit -v)"; }
    }
    if (what) *what = name;
    return best;
}
