// amx_probe.h: whether this process may run AMX tiles, and the tile configuration layout, for
// bench_isa and bench_amx (header-only; repae itself does not use AMX yet).
#ifndef REPAE_BENCH_AMX_PROBE_H
#define REPAE_BENCH_AMX_PROBE_H
#include <cpuid.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

// NULL when AMX may run: CPUID.(7,0):EDX bit 22 (AMX-BF16) and 24 (AMX-TILE), then Linux's
// permission for the tile data state (arch_prctl ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA = 18;
// Linux 5.16+), asked once for the process. Otherwise why not.
static inline const char *amx_unavailable(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return "no CPUID leaf 7";
    if (!(d & (1u << 22)) || !(d & (1u << 24))) return "CPUID has no AMX-BF16/AMX-TILE";
    if (syscall(SYS_arch_prctl, 0x1023, 18) != 0) return "Linux refused the AMX tile state (arch_prctl)";
    return NULL;
}

// ldtilecfg's 64-byte operand (palette 1): bytes per row and rows of each of the 8 tiles.
typedef struct {
    unsigned char palette, start_row, reserved[14];
    unsigned short colsb[16];
    unsigned char rows[16];
} AmxTileConfig;

#endif
