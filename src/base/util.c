// util.c: see util.h.
#include "base/util.h"
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void (*_Atomic oom_hook)(const char *msg);

void util_set_oom_hook(void (*hook)(const char *msg)) { oom_hook = hook; }

void out_of_memory(size_t size, const char *file, int line) {
    char msg[256];
    snprintf(msg, sizeof msg, "out of memory allocating %zu bytes at %s:%d (a smaller model or batch?)", size, file, line);
    fprintf(stderr, "repae: %s\n", msg);
    void (*hook)(const char *) = oom_hook;
    oom_hook = NULL; // once, and not again if the hook itself runs out
    if (hook) hook(msg);
    abort();
}

void *aligned_alloc_check(size_t align, size_t size, const char *file, int line) {
    if (size > SIZE_MAX - align) out_of_memory(size, file, line);
    size_t bytes = (size ? size + align - 1 : align) / align * align;
    void *p = aligned_alloc(align, bytes);
    if (!p) out_of_memory(bytes, file, line);
    return p;
}

void assert_fail(const char *file, int line, const char *fmt, ...) {
    fflush(stdout);
    fprintf(stderr, "repae: %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void *malloc_check(size_t size, const char *file, int line) {
    void *p = malloc(size ? size : 1);
    if (!p) out_of_memory(size, file, line);
    return p;
}

void *calloc_check(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) out_of_memory(n * size, file, line);
    return p;
}

void *realloc_check(void *q, size_t size, const char *file, int line) {
    void *p = realloc(q, size ? size : 1);
    if (!p) out_of_memory(size, file, line);
    return p;
}

char *strdup_check(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *p = malloc_check(n, file, line);
    memcpy(p, s, n);
    return p;
}

int seterr(char *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, ERRLEN, fmt, ap);
        va_end(ap);
    }
    return -1;
}

char *read_file(const char *path, size_t *len, char *err) {
    FILE *f = fopen(path, "rb");
    if (!f) { seterr(err, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap) break;
        cap *= 2;
        buf = xrealloc(buf, cap + 1);
    }
    if (ferror(f)) {
        seterr(err, "%s: read error: %s", path, strerror(errno));
        fclose(f); free(buf); return NULL;
    }
    fclose(f);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

int write_file_atomic(const char *path, const void *data, size_t len, char *err) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return seterr(err, "cannot write %s: %s", path, strerror(errno));
    if (len && fwrite(data, 1, len, f) != len) {
        seterr(err, "writing %s failed: %s (nothing was replaced)", path, strerror(errno));
        fclose(f); unlink(tmp); return -1;
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        seterr(err, "writing %s failed: %s (nothing was replaced)", path, strerror(errno));
        fclose(f); unlink(tmp); return -1;
    }
    if (fclose(f) != 0) { unlink(tmp); return seterr(err, "writing %s failed: %s (nothing was replaced)", path, strerror(errno)); }
    if (rename(tmp, path) != 0) {
        seterr(err, "%s: cannot rename into place: %s", path, strerror(errno));
        unlink(tmp); return -1;
    }
    return 0;
}

int mkdir_p(const char *path, char *err) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return seterr(err, "bad directory path '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return seterr(err, "%s: cannot create directory: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    return 0;
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double wall_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
