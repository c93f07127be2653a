// bench_isa: what the matrix instructions of this CPU deliver on one core, to read the other
// benchmarks against. The bf16 mode's premise (issue 15) is that vdpbf16ps does twice the
// multiplies of an fp32 FMA per cycle; that holds on some machines and not on others (session
// 20's machine ran it at half the fp32 FMA's flop rate), and a hypervisor's CPUID (family 6,
// model, "Intel(R) Xeon(R) Processor") need not name the silicon. So this measures, in
// registers only (no memory traffic), independent accumulator chains of:
//   vfmadd231ps ymm / zmm   (the fp32 kernels: 16 / 32 flops an instruction)
//   vdpbf16ps zmm           (train.precision = "bf16": 64 flops an instruction)
//   tdpbf16ps               (AMX, when CPUID has it and Linux grants the tile state:
//                            16 x 16 x 32 x 2 = 16384 flops an instruction; not used by repae yet)
// (the zmm pair is gemm_bf16.c's, 16 chains). Each rate is the best of 3 timings; the machine's load is printed by run.sh around it.
#include <immintrin.h>
#include <cpuid.h>
#include <stdio.h>
#include <string.h>
#include "base/cpu.h"
#include "base/util.h"
#include "ops/gemm_bf16.h"
#include "amx_probe.h"

#define CHAINS 24 // enough to cover a 4-6 cycle latency on two ports, within 32 zmm registers
#define ITERS 20000000L

__attribute__((target("avx2,fma"))) static double fma_ymm(float *sink) {
    __m256 a[CHAINS], x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++) a[i] = _mm256_set1_ps((float)i);
    double t0 = now_seconds();
    for (long n = 0; n < ITERS; n++) {
#pragma GCC unroll 24
        for (int i = 0; i < CHAINS; i++) a[i] = _mm256_fmadd_ps(a[i], x, y);
    }
    double t = now_seconds() - t0;
    for (int i = 0; i < CHAINS; i++) *sink += a[i][0];
    return (double)ITERS * CHAINS * 16 / t * 1e-9;
}

__attribute__((target("amx-tile,amx-bf16"))) static double amx_bf16(float *sink) {
    AmxTileConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) cfg.colsb[i] = 64, cfg.rows[i] = 16;
    _tile_loadconfig(&cfg);
    static _Alignas(64) unsigned short A[16 * 32], B[16 * 32];
    static _Alignas(64) float C[16 * 16];
    for (int i = 0; i < 16 * 32; i++) A[i] = 0x3f80, B[i] = 0x3380;
    _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    _tile_loadd(4, A, 64); _tile_loadd(5, B, 64); _tile_loadd(6, A, 64); _tile_loadd(7, B, 64);
    long iters = ITERS / 8;
    double t0 = now_seconds();
    for (long n = 0; n < iters; n++) { // four independent C tiles, the 2 x 2 blocking of a kernel
        _tile_dpbf16ps(0, 4, 5); _tile_dpbf16ps(1, 4, 7); _tile_dpbf16ps(2, 6, 5); _tile_dpbf16ps(3, 6, 7);
    }
    double t = now_seconds() - t0;
    _tile_stored(0, C, 64);
    _tile_release();
    *sink += C[0];
    return (double)iters * 4 * 16 * 16 * 32 * 2 / t * 1e-9;
}

typedef double (*Rate)(float *);

static double best3(Rate f, float *sink) {
    double b = 0;
    for (int r = 0; r < 3; r++) {
        double v = f(sink);
        b = v > b ? v : b;
    }
    return b;
}

// The zmm rates are gemm_bf16.c's own (what train.precision = "bf16" decides by), run longer.
static double fma_zmm(float *sink) { (void)sink; return bf16_rate_fma(ITERS); }
static double dpbf16_zmm(float *sink) { (void)sink; return bf16_rate_dpbf16(ITERS); }

int main(void) {
    unsigned a, b, c, d, fam = 0, model = 0;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        fam = (a >> 8) & 15, model = (a >> 4) & 15;
        if (fam == 6 || fam == 15) model |= ((a >> 16) & 15) << 4;
        if (fam == 15) fam += (a >> 20) & 255;
    }
    char brand[49] = "";
    for (unsigned i = 0; i < 3; i++) __get_cpuid(0x80000002 + i, (unsigned *)(brand + 16 * i), (unsigned *)(brand + 16 * i + 4),
                                                (unsigned *)(brand + 16 * i + 8), (unsigned *)(brand + 16 * i + 12));
    printf("bench_isa: one core, register chains (ymm %d, zmm 16), best of 3; CPUID family %u model %u, \"%s\"\n", CHAINS, fam, model, brand);
    float sink = 0;
    double ymm = cpu_has("avx2") && cpu_has("fma") ? best3(fma_ymm, &sink) : 0;
    double zmm = cpu_has("avx512f") ? best3(fma_zmm, &sink) : 0;
    double bf = cpu_has("avx512bf16") ? best3(dpbf16_zmm, &sink) : 0;
    const char *why = amx_unavailable();
    double amx = why ? 0 : best3(amx_bf16, &sink);
    printf("fp32 FMA ymm (vfmadd231ps)        %8.1f GFLOP/s\n", ymm);
    if (zmm > 0) printf("fp32 FMA zmm (vfmadd231ps)        %8.1f GFLOP/s\n", zmm);
    else printf("fp32 FMA zmm (vfmadd231ps)        no AVX-512\n");
    if (bf > 0) printf("bf16 dot zmm (vdpbf16ps)          %8.1f GFLOP/s\n", bf);
    else printf("bf16 dot zmm (vdpbf16ps)          no AVX-512 BF16\n");
    if (amx > 0) printf("bf16 AMX tile (tdpbf16ps)         %8.1f GFLOP/s\n", amx);
    else printf("bf16 AMX tile (tdpbf16ps)         %s\n", why);
    double fp = zmm > ymm ? zmm : ymm;
    if (bf > 0 && fp > 0)
        printf("vdpbf16ps / best fp32 FMA: %.2fx (train.precision = \"bf16\" can pay only where this is above 1)\n", bf / fp);
    if (amx > 0 && fp > 0) printf("AMX / best fp32 FMA: %.1fx\n", amx / fp);
    if (sink == 12345.0f) printf(" \n"); // keep the chains live
    return 0;
}
