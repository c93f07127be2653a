// util.h: checked allocation and file helpers, error strings, assertions, timing.
// Allocation failure aborts with file:line (there is no sensible recovery);
// file and format errors are returned to the caller as text in an error buffer,
// because the core runs inside the dashboard and must never take it down.
#ifndef REPAE_UTIL_H
#define REPAE_UTIL_H
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#define ERRLEN 512

void *malloc_check(size_t size, const char *file, int line);
void *calloc_check(size_t n, size_t size, const char *file, int line);
void *realloc_check(void *p, size_t size, const char *file, int line);
char *strdup_check(const char *s, const char *file, int line);
#define xmalloc(sz) malloc_check((sz), __FILE__, __LINE__)
#define xcalloc(n, sz) calloc_check((n), (sz), __FILE__, __LINE__)
#define xrealloc(p, sz) realloc_check((p), (sz), __FILE__, __LINE__)
#define xstrdup(s) strdup_check((s), __FILE__, __LINE__)
// Called with the message just before an allocation failure aborts (NULL: none), e.g. to
// record a headless run as failed.
void util_set_oom_hook(void (*hook)(const char *msg));
// Reports a failed allocation of size bytes at file:line, calls the hook and aborts.
_Noreturn void out_of_memory(size_t size, const char *file, int line);
// aligned_alloc of at least size bytes (rounded up to a multiple of align, as C11 requires;
// align a power of two); aborts through out_of_memory on failure. Freed with free().
void *aligned_alloc_check(size_t align, size_t size, const char *file, int line);
#define xaligned_alloc(align, sz) aligned_alloc_check((align), (sz), __FILE__, __LINE__)

// A programming error (a caller breaking a documented precondition, a bad model definition),
// never a user error: when cond is false, prints "repae: FILE:LINE: message" and aborts.
// User input is checked and reported through err buffers instead.
#define REPAE_ASSERT(cond, ...) \
    do { if (!(cond)) assert_fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)
_Noreturn void assert_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

// Writes a formatted message into err (ERRLEN bytes) and returns -1, so that
// `return seterr(err, "...")` reads naturally.
int seterr(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Reads a whole file; returns NULL and fills err on failure. *len gets the size.
char *read_file(const char *path, size_t *len, char *err);
// Writes data to path atomically: path.tmp.PID, fsync, rename. Returns 0 or -1 with err.
int write_file_atomic(const char *path, const void *data, size_t len, char *err);
// mkdir -p. Returns 0 or -1 with err.
int mkdir_p(const char *path, char *err);

double now_seconds(void);  // monotonic clock
double wall_seconds(void); // unix time

#endif
