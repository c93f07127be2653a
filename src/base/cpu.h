// cpu.h: the instruction sets this binary was compiled for, checked against the CPU before
// anything else runs. The default build targets x86-64-v3 (AVX2, FMA), with the AVX-512 kernels
// compiled for their own target and chosen at run time (ops/gemm.c); `make ARCH=native` targets
// the build machine and then needs its extensions everywhere. A binary started on a CPU that
// lacks one would die with SIGILL in the first vector loop; a constructor in cpu.c says so
// instead and exits with status 1.
#ifndef REPAE_BASE_CPU_H
#define REPAE_BASE_CPU_H

// The compile-time target, e.g. "x86-64-v3" or "native (avx512f avx512bw ...)".
const char *cpu_build_target(void);
// 0 when the CPU has every extension the binary was compiled for; else 1 with the first
// missing one's name in *missing.
int cpu_check(const char **missing);
// 1 if the CPU has the extension named as __builtin_cpu_supports names it ("avx512bf16", ...;
// the names of cpu.c's table), for code that picks kernels at run time. Honours
// REPAE_CPU_PRETEND_MISSING=NAME (the test hook: that one reads as missing).
int cpu_has(const char *name);

#endif
