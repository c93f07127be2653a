// cpu.c: see cpu.h. The check runs as a constructor, before main and before any code compiled
// with the build's extensions; its functions are compiled for the baseline x86-64 so the check
// itself cannot fault.
#include "base/cpu.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef REPAE_ARCH
#define REPAE_ARCH "unknown"
#endif

#define BASELINE __attribute__((target("arch=x86-64")))

// The extensions the compiler may have used, as __builtin_cpu_supports names.
static const char *const needed[] = {
#ifdef __SSE4_2__
    "sse4.2",
#endif
#ifdef __POPCNT__
    "popcnt",
#endif
#ifdef __AVX__
    "avx",
#endif
#ifdef __AVX2__
    "avx2",
#endif
#ifdef __FMA__
    "fma",
#endif
#ifdef __BMI__
    "bmi",
#endif
#ifdef __BMI2__
    "bmi2",
#endif
#ifdef __AVX512F__
    "avx512f",
#endif
#ifdef __AVX512VL__
    "avx512vl",
#endif
#ifdef __AVX512BW__
    "avx512bw",
#endif
#ifdef __AVX512DQ__
    "avx512dq",
#endif
#ifdef __AVX512CD__
    "avx512cd",
#endif
#ifdef __AVX512VNNI__
    "avx512vnni",
#endif
#ifdef __AVX512BF16__
    "avx512bf16",
#endif
#ifdef __AVX512VBMI__
    "avx512vbmi",
#endif
    NULL};

const char *cpu_build_target(void) { return REPAE_ARCH; }

BASELINE static int has(const char *f) {
    // Test hook: the refusal can only be seen on a CPU without the extension, so a test names
    // one to treat as missing.
    const char *pretend = getenv("REPAE_CPU_PRETEND_MISSING");
    if (pretend && !strcmp(pretend, f)) return 0;
    // __builtin_cpu_supports takes a literal: one branch per name in the table above.
#define X(s) if (!strcmp(f, s)) return __builtin_cpu_supports(s);
    X("sse4.2") X("popcnt") X("avx") X("avx2") X("fma") X("bmi") X("bmi2") X("avx512f") X("avx512vl")
    X("avx512bw") X("avx512dq") X("avx512cd") X("avx512vnni") X("avx512bf16") X("avx512vbmi")
#undef X
    return 0;
}

BASELINE int cpu_has(const char *name) {
    __builtin_cpu_init();
    return has(name);
}

BASELINE int cpu_check(const char **missing) {
    __builtin_cpu_init();
    for (int i = 0; needed[i]; i++)
        if (!has(needed[i])) { *missing = needed[i]; return 1; }
    return 0;
}

BASELINE __attribute__((constructor)) static void cpu_check_at_start(void) {
    const char *miss = NULL;
    if (cpu_check(&miss) == 0) return;
    char msg[512];
    int n = snprintf(msg, sizeof msg,
                     "repae: this binary was built for %s, and this CPU lacks %s; rebuild it on this machine "
                     "with `make clean && make` (the default target, x86-64-v3, needs AVX2 and FMA; `make "
                     "ARCH=x86-64` builds for any x86-64 CPU)\n",
                     REPAE_ARCH, miss);
    if (n > 0) (void)!write(2, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
    _exit(1);
}
