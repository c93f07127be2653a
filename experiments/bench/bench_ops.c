// bench_ops.c: every op of ops.h at the fm32-small shapes (batch 64), against this machine's
// cblas_sgemm peak (issue 2's yardstick) and repae's own sgemm peak (gemm.h).
//
//   build/bench/bench_ops [threads (2)] [workspace MB (64)] [min seconds per timing (0.25)]
//                         [sections: any of c(onv) l(inear) o(ther), default all] [cpu|wall] [bf16|bf16-fp32pack]
// "bf16" runs the convs and linears with bf16 products (Workspace.bf16, linear_*_prec; issue 15)
// and adds repae's bf16 sgemm peak; %own is then against that bf16 peak. "bf16-fp32pack" is the
// same with the operands packed in fp32 and then converted (gemm_pack16_enable(0)), the path
// before the bf16 packers, for an A/B of them.
// "cpu" times with the process CPU clock instead of the wall clock: with 1 thread on a busy
// shared machine that still gives the op's own speed (time-slicing is not counted), which is
// how the before/after ratios in README.md were measured.
//
// First the sgemm peaks (best of 1024^3 and three shapes typical of the model), OpenBLAS's
// cblas_sgemm and repae's sgemm (its own AVX-512 kernel where the CPU has it: OpenBLAS is
// held to AVX2 kernels when OPENBLAS_CORETYPE=Haswell). Then one row per op and shape:
// best-of-N milliseconds per call, GFLOP/s and % of the cblas peak for forward and
// backward (%own: of repae's own sgemm peak), and "x/step", how often the shape occurs in one fm32-small forward pass, so that the
// ms column times x/step shows where a training step's time goes. Matrix-product ops count
// 2*M*N*K flops (backward: both the input and the weight gradient). Other ops count a nominal
// few flops per element (the FL column, per element of the main tensor) and are memory-bound:
// their ms is the figure to watch. Best-of timing because the machine is shared.
#include "ops/gemm.h"
#include "ops/ops.h"
#include "base/util.h"
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double g_min_time = 0.25;
static int g_bf16; // the convs and linears in bf16
static double g_peak = 0; // GFLOP/s, best cblas_sgemm shape
static double g_own = 0;  // GFLOP/s, best repae sgemm shape
static int g_cpu_clock = 0;

static double bench_clock(void) {
    if (!g_cpu_clock) return now_seconds();
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

// Runs the statement once to warm up, then until g_min_time has passed (at least 3 and at most
// 2000 times); best is the fastest run in seconds.
#define TIME(best, ...) do { \
    __VA_ARGS__; \
    double tot_ = 0; int n_ = 0; (best) = 1e30; \
    while ((tot_ < g_min_time || n_ < 3) && n_ < 2000) { \
        double t0_ = bench_clock(); __VA_ARGS__; double d_ = bench_clock() - t0_; \
        if (d_ < (best)) (best) = d_; \
        tot_ += d_; n_++; } } while (0)

static float *buf_new(size_t n, unsigned seed) {
    float *x = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = ((float)(seed >> 8) / 16777216.0f) * 2.0f - 1.0f;
    }
    return x;
}

static void header(const char *title) {
    printf("\n%s\n%-18s %-30s %4s %5s | %9s %8s %6s %5s | %9s %8s %6s %5s\n", title, "op", "shape", "x/st", "FL",
           "fwd ms", "GFLOP/s", "%peak", "%own", "bwd ms", "GFLOP/s", "%peak", "%own");
}

// fl_elem > 0: a nominal per-element count (printed); otherwise flops are exact matmul counts.
static void row(const char *op, const char *shape, int count, double fl_elem, double ffl, double fs,
                double bfl, double bs) {
    char fl[16] = "mm";
    if (fl_elem > 0) snprintf(fl, sizeof fl, "%.0f", fl_elem);
    printf("%-18s %-30s %4d %5s | %9.3f %8.1f %5.1f%% %4.0f%%", op, shape, count, fl, fs * 1e3, ffl / fs * 1e-9,
           100.0 * ffl / fs * 1e-9 / g_peak, 100.0 * ffl / fs * 1e-9 / g_own);
    if (bs > 0)
        printf(" | %9.3f %8.1f %5.1f%% %4.0f%%", bs * 1e3, bfl / bs * 1e-9, 100.0 * bfl / bs * 1e-9 / g_peak,
               100.0 * bfl / bs * 1e-9 / g_own);
    else printf(" | %9s %8s %6s %5s", "-", "-", "-", "-");
    printf("\n");
    fflush(stdout);
}

static double sgemm_gflops(int M, int N, int K, const float *a, const float *b, float *c) {
    double s;
    TIME(s, cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N));
    return 2.0 * M * N * K / s * 1e-9;
}

static double own_gflops(int M, int N, int K, const float *a, const float *b, float *c) {
    double s;
    TIME(s, sgemm(0, 0, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N));
    return 2.0 * M * N * K / s * 1e-9;
}

static double own_bf16_gflops(int M, int N, int K, const float *a, const float *b, float *c) {
    double s;
    TIME(s, sgemm_prec(0, 0, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N, 1));
    return 2.0 * M * N * K / s * 1e-9;
}

// Big random pools the ops read from and write to; sized for the largest fm32-small tensor
// (64 x 64ch x 32x32 = 4.2 M floats) with room to spare.
#define POOL (8u << 20)
static float *X, *Y, *Z, *DX, *DY, *DZ, *W, *DW, *BI, *DB;

// The best of 1024^3 and three model shapes, each printed.
static double peak_of(double (*gflops)(int, int, int, const float *, const float *, float *)) {
    static const struct { int M, N, K; const char *what; } shapes[] = {
        {1024, 1024, 1024, "M1024 N1024 K1024                       "},
        {128, 4096, 1152, "M128 N4096 K1152 (conv 128@8x8, 64 img) "},
        {1024, 576, 192, "M1024 N576 K192 (SiT qkv, 1024 tokens)  "},
        {32, 65536, 288, "M32 N65536 K288 (conv 32@32x32, 64 img) "},
    };
    double best = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        double g = gflops(shapes[i].M, shapes[i].N, shapes[i].K, X, W, Y);
        printf("  %s %8.1f\n", shapes[i].what, g);
        if (g > best) best = g;
    }
    return best;
}

static void bench_conv(const char *name, int count, int Cin, int H, int Wd, int Cout, int k, int s,
                       int pt, int pl, int pb, int pr, Workspace *ws) {
    Conv2d c;
    char err[ERRLEN], shape[64];
    if (conv2d_init(&c, 64, Cin, H, Wd, Cout, k, s, pt, pl, pb, pr, err)) { printf("%s: %s\n", name, err); exit(1); }
    if (conv2d_workspace_min(&c) > ws->cap) { printf("%s: workspace too small\n", name); exit(1); }
    double fl = 2.0 * c.B * c.Cout * c.Ho * c.Wo * (double)c.Cin * k * k, fs, bs;
    // The first conv sees the data, which needs no gradient: training computes only dW there.
    int dinp = strcmp(name, "enc.conv_in") != 0;
    TIME(fs, conv2d_forward(Y, X, W, BI, &c, ws));
    TIME(bs, conv2d_backward(dinp ? DX : NULL, DW, DB, DY, X, W, &c, ws));
    snprintf(shape, sizeof shape, "%d>%d %dx%d k%d s%d%s", Cin, Cout, H, Wd, k, s, dinp ? "" : " (dW)");
    row(name, shape, count, 0, fl, fs, (dinp ? 2 : 1) * fl, bs);
}

static void bench_linear(const char *name, int count, int N, int nin, int nout) {
    char shape[64];
    double fl = 2.0 * N * nin * nout, fs, bs;
    TIME(fs, linear_forward_prec(Y, X, W, BI, N, nin, nout, g_bf16));
    TIME(bs, linear_backward_prec(DX, DW, DB, DY, X, W, N, nin, nout, g_bf16));
    snprintf(shape, sizeof shape, "N%d %d>%d", N, nin, nout);
    row(name, shape, count, 0, fl, fs, 2 * fl, bs);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    size_t ws_mb = argc > 2 ? (size_t)atoi(argv[2]) : 64;
    if (argc > 3) g_min_time = atof(argv[3]);
    const char *sections = argc > 4 ? argv[4] : "clo";
    g_cpu_clock = argc > 5 && strcmp(argv[5], "cpu") == 0;
    g_bf16 = argc > 6 && (strcmp(argv[6], "bf16") == 0 || strcmp(argv[6], "bf16-fp32pack") == 0);
    if (argc > 6 && strcmp(argv[6], "bf16-fp32pack") == 0) gemm_pack16_enable(0);
    if (g_bf16 && !gemm_bf16_ok()) {
        fprintf(stderr, "bench_ops: bf16 asked for, but this CPU has no AVX512-BF16 (or REPAE_GEMM=openblas)\n");
        return 1;
    }
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    X = buf_new(POOL, 1); Y = buf_new(POOL, 2); Z = buf_new(POOL, 3);
    DX = buf_new(POOL, 4); DY = buf_new(POOL, 5); DZ = buf_new(POOL, 6);
    W = buf_new(POOL, 7); DW = buf_new(POOL, 8); BI = buf_new(1 << 16, 9); DB = buf_new(1 << 16, 10);
    Workspace ws;
    workspace_init(&ws, ws_mb << 18);
    ws.bf16 = g_bf16;
    printf("bench_ops: %d threads (OpenMP + OpenBLAS %s), workspace %zu MB, best of >= %.2f s per timing, %s clock\n",
           threads, openblas_get_config(), ws_mb, g_min_time, g_cpu_clock ? "process CPU" : "wall");

    // The peak is the best of a square and three model-typical shapes: on 2 shared cores the
    // square one is not always the fastest, and a % above 100 would say nothing.
    printf("\nsgemm (row-major NN, GFLOP/s)\n");
    g_peak = peak_of(sgemm_gflops);
    printf("  peak (best of the above, the 100%% below) %8.1f\n", g_peak);
    printf("\nrepae sgemm (gemm.h, %s path, row-major NN, GFLOP/s)\n", sgemm_backend());
    g_own = peak_of(own_gflops);
    printf("  own peak (best of the above, %%own below)  %8.1f\n", g_own);
    if (g_bf16) {
        printf("\nrepae sgemm in bf16 (sgemm_prec, vdpbf16ps, fp32 sums, GFLOP/s)\n");
        g_own = peak_of(own_bf16_gflops);
        printf("  own bf16 peak (best of the above, %%own below) %8.1f\n", g_own);
    }

    if (strchr(sections, 'c')) {
    header("VAE convs (B 64, fm32-small: ch 32/64/128, 1 res block, mid attn)");
    bench_conv("enc.conv_in", 1, 1, 32, 32, 32, 3, 1, 1, 1, 1, 1, &ws);
    bench_conv("conv 32@32", 5, 32, 32, 32, 32, 3, 1, 1, 1, 1, 1, &ws);
    bench_conv("enc.down0.down", 1, 32, 32, 32, 32, 3, 2, 0, 0, 1, 1, &ws);
    bench_conv("enc.d1.b0.conv1", 1, 32, 16, 16, 64, 3, 1, 1, 1, 1, 1, &ws);
    bench_conv("conv 64@16", 4, 64, 16, 16, 64, 3, 1, 1, 1, 1, 1, &ws);
    bench_conv("enc.d1.b0.nin", 1, 32, 16, 16, 64, 1, 1, 0, 0, 0, 0, &ws);
    bench_conv("enc.down1.down", 1, 64, 16, 16, 64, 3, 2, 0, 0, 1, 1, &ws);
    bench_conv("enc.d2.b0.conv1", 1, 64, 8, 8, 128, 3, 1, 1, 1, 1, 1, &ws);
    bench_conv("enc.d2.b0.nin", 1, 64, 8, 8, 128, 1, 1, 0, 0, 0, 0, &ws);
    bench_conv("conv 128@8", 13, 128, 8, 8, 128, 3, 1, 1, 1, 1, 1, &ws);
    bench_conv("attn q/k/v/proj", 8, 128, 8, 8, 128, 1, 1, 0, 0, 0, 0, &ws);
    bench_conv("enc.conv_out", 1, 128, 8, 8, 8, 3, 1, 1, 1, 1, 1, &ws);
    bench_conv("quant_conv", 1, 8, 8, 8, 8, 1, 1, 0, 0, 0, 0, &ws);
    bench_conv("post_quant_conv", 1, 4, 8, 8, 4, 1, 1, 0, 0, 0, 0, &ws);
    bench_conv("dec.conv_in", 1, 4, 8, 8, 128, 3, 1, 1, 1, 1, 1, &ws);
    bench_conv("dec.up2.upsample", 1, 128, 16, 16, 128, 3, 1, 1, 1, 1, 1, &ws);
    bench_conv("dec.u1.b0.conv1", 1, 128, 16, 16, 64, 3, 1, 1, 1, 1, 1, &ws);
    bench_conv("dec.u1.b0.nin", 1, 128, 16, 16, 64, 1, 1, 0, 0, 0, 0, &ws);
    bench_conv("dec.up1.upsample", 1, 64, 32, 32, 64, 3, 1, 1, 1, 1, 1, &ws);
    bench_conv("dec.u0.b0.conv1", 1, 64, 32, 32, 32, 3, 1, 1, 1, 1, 1, &ws);
    bench_conv("dec.u0.b0.nin", 1, 64, 32, 32, 32, 1, 1, 0, 0, 0, 0, &ws);
    bench_conv("dec.conv_out", 1, 32, 32, 32, 1, 3, 1, 1, 1, 1, 1, &ws);

    }
    if (strchr(sections, 'l')) {
    header("SiT linears (D 192, depth 6, 16 tokens, B 64 => 1024 tokens)");
    bench_linear("x_embedder", 1, 1024, 16, 192);
    bench_linear("t_embedder.mlp.0", 1, 64, 256, 192);
    bench_linear("t_embedder.mlp.2", 1, 64, 192, 192);
    bench_linear("adaLN_modulation", 6, 64, 192, 1152);
    bench_linear("attn.qkv", 6, 1024, 192, 576);
    bench_linear("attn.proj", 6, 1024, 192, 192);
    bench_linear("mlp.fc1", 6, 1024, 192, 768);
    bench_linear("mlp.fc2", 6, 1024, 768, 192);
    bench_linear("final.adaLN", 1, 64, 192, 384);
    bench_linear("final.linear", 1, 1024, 192, 16);

    }
    if (!strchr(sections, 'o')) goto done;
    header("Other ops (memory-bound: FL = nominal flops per element)");
    double fs, bs;
    char sh[64];
    {   // GroupNorm at each VAE level, groups 8, eps 1e-6
        const int CH[3][2] = {{32, 1024}, {64, 256}, {128, 64}}, cnt[3] = {6, 5, 14};
        for (int i = 0; i < 3; i++) {
            int C = CH[i][0], HW = CH[i][1];
            double n = 64.0 * C * HW;
            TIME(fs, groupnorm_forward(Y, Z, DZ, X, W, BI, 64, C, HW, 8, 1e-6f));
            TIME(bs, groupnorm_backward(DX, DW, DB, DY, X, Z, DZ, W, 64, C, HW, 8));
            snprintf(sh, sizeof sh, "%d@%d G8", C, HW);
            row("groupnorm", sh, cnt[i], 8, 8 * n, fs, 12 * n, bs);
        }
        // The VAE's norm1/norm2/norm_out: GroupNorm then SiLU, fused (most of its GroupNorms).
        for (int i = 0; i < 3; i++) {
            int C = CH[i][0], HW = CH[i][1];
            double n = 64.0 * C * HW;
            TIME(fs, groupnorm_silu_forward(Y, Z, DZ, X, W, BI, 64, C, HW, 8, 1e-6f));
            TIME(bs, groupnorm_silu_backward(DX, DW, DB, DY, X, Z, DZ, W, BI, 64, C, HW, 8));
            snprintf(sh, sizeof sh, "%d@%d G8", C, HW);
            row("groupnorm_silu", sh, cnt[i], 12, 12 * n, fs, 20 * n, bs);
        }
    }
    {
        double n = 1024.0 * 192;
        TIME(fs, layernorm_forward(Y, Z, DZ, X, NULL, NULL, 1024, 192, 1e-6f));
        TIME(bs, layernorm_backward(DX, NULL, NULL, DY, X, Z, DZ, NULL, 1024, 192));
        row("layernorm", "1024x192 no affine", 13, 8, 8 * n, fs, 12 * n, bs);
        n = 64.0 * 4 * 64;
        float rmean[4] = {0}, rvar[4] = {1, 1, 1, 1};
        TIME(fs, batchnorm_forward(Y, Z, DZ, rmean, rvar, X, 64, 4, 64, 1e-4f, 0.1f, 1));
        TIME(bs, batchnorm_backward(DX, DY, X, Z, DZ, 64, 4, 64, 1));
        row("batchnorm", "64x4x8x8 train", 1, 8, 8 * n, fs, 12 * n, bs);
        TIME(fs, batchnorm_denormalize(Y, X, rmean, rvar, 64, 4, 64, 1e-4f));
        row("batchnorm_denorm", "64x4x8x8", 0, 2, 2 * n, fs, 0, 0);
    }
    {
        size_t sizes[3] = {64u * 32 * 1024, 64u * 64 * 256, 64u * 128 * 64};
        for (int i = 0; i < 3; i++) {
            size_t n = sizes[i];
            TIME(fs, silu_forward(Y, X, n));
            TIME(bs, silu_backward(DX, DY, X, n));
            snprintf(sh, sizeof sh, "%zu elems", n);
            row("silu", sh, i == 0 ? 6 : i == 1 ? 5 : 14, 4, 4.0 * n, fs, 6.0 * n, bs);
        }
        size_t n = 1024u * 768;
        TIME(fs, gelu_forward(Y, X, n));
        TIME(bs, gelu_backward(DX, DY, X, n));
        row("gelu (tanh)", "1024x768", 6, 10, 10.0 * n, fs, 16.0 * n, bs);
        TIME(fs, softmax_forward(Y, X, 64 * 6 * 16, 16));
        TIME(bs, softmax_backward(DX, DY, Y, 64 * 6 * 16, 16));
        row("softmax", "6144x16", 0, 4, 4.0 * 6144 * 16, fs, 4.0 * 6144 * 16, bs);
        TIME(fs, softmax_forward(Y, X, 64 * 64, 64));
        TIME(bs, softmax_backward(DX, DY, Y, 64 * 64, 64));
        row("softmax", "4096x64", 0, 4, 4.0 * 4096 * 64, fs, 4.0 * 4096 * 64, bs);
    }
    {   // SiT attention: 4*B*T*T*C flops (scores and weighted sum), backward twice that
        size_t scr = attention_scratch_floats(64, 16, 192, 6);
        float *s = xmalloc((scr ? scr : 1) * sizeof(float));
        double fl = 4.0 * 64 * 16 * 16 * 192;
        TIME(fs, attention_forward(Y, Z, X, 64, 16, 192, 6));
        TIME(bs, attention_backward(DX, DY, X, Z, 64, 16, 192, 6, s));
        row("attention", "B64 T16 C192 NH6", 6, 0, fl, fs, 2 * fl, bs);
        free(s);
        scr = spatial_attention_scratch_floats(64, 128, 64);
        s = xmalloc((scr ? scr : 1) * sizeof(float));
        fl = 4.0 * 64 * 64 * 64 * 128;
        size_t n = 64u * 128 * 64;
        TIME(fs, spatial_attention_forward(Y, Z, X, X + n, X + 2 * n, 64, 128, 64));
        TIME(bs, spatial_attention_backward(DX, DX + n, DX + 2 * n, DY, X, X + n, X + 2 * n, Z, 64, 128, 64, s));
        row("spatial_attention", "B64 C128 HW64", 2, 0, fl, fs, 2 * fl, bs);
        free(s);
    }
    {
        TIME(fs, upsample2x_forward(Y, X, 64, 128, 8, 8));
        TIME(bs, upsample2x_backward(DX, DY, 64, 128, 8, 8));
        row("upsample2x", "64x128x8x8", 1, 1, 4.0 * 64 * 128 * 64, fs, 4.0 * 64 * 128 * 64, bs);
        TIME(fs, upsample2x_forward(Y, X, 64, 64, 16, 16));
        TIME(bs, upsample2x_backward(DX, DY, 64, 64, 16, 16));
        row("upsample2x", "64x64x16x16", 1, 1, 4.0 * 64 * 64 * 256, fs, 4.0 * 64 * 64 * 256, bs);
        double n = 64.0 * 4 * 64;
        TIME(fs, patchify_forward(Y, X, 64, 4, 8, 8, 2));
        TIME(bs, patchify_backward(DX, DY, 64, 4, 8, 8, 2));
        row("patchify", "64x4x8x8 p2", 1, 1, n, fs, n, bs);
        TIME(fs, unpatchify_forward(Y, X, 64, 4, 8, 8, 2));
        TIME(bs, unpatchify_backward(DX, DY, 64, 4, 8, 8, 2));
        row("unpatchify", "64x4x8x8 p2", 1, 1, n, fs, n, bs);
    }
    {
        double n = 1024.0 * 192;
        TIME(fs, modulate_forward(Y, X, W, W + 192, 64, 16, 192, 1152)); // adaLN rows live in W
        TIME(bs, modulate_backward(DX, DZ, DZ + 192, DY, X, W + 192, 64, 16, 192, 1152));
        row("modulate", "64x16x192 ld 1152", 13, 2, 2 * n, fs, 4 * n, bs);
        TIME(fs, gate_residual_forward(Y, X, Z, W + 384, 64, 16, 192, 1152));
        TIME(bs, gate_residual_backward(DX, DZ, DW, DY, Z, W + 384, 64, 16, 192, 1152));
        row("gate_residual", "64x16x192 ld 1152", 12, 2, 2 * n, fs, 3 * n, bs);
        int labels[64];
        for (int i = 0; i < 64; i++) labels[i] = i % 11;
        TIME(fs, embedding_forward(Y, W, labels, 64, 192));
        TIME(bs, embedding_backward(DW, DY, labels, 64, 192));
        row("embedding", "11x192, B 64", 1, 1, 64.0 * 192, fs, 64.0 * 192, bs);
        float t[64];
        for (int i = 0; i < 64; i++) t[i] = i / 64.0f;
        TIME(fs, timestep_embedding_forward(Y, t, 64, 256, 10000.0f));
        TIME(bs, timestep_embedding_backward(DZ, DY, t, 64, 256, 10000.0f));
        row("timestep_embed", "B64 dim 256", 1, 4, 4.0 * 64 * 256, fs, 4.0 * 64 * 256, bs);
        size_t m = 64u * 128 * 64;
        TIME(fs, add_forward(Y, X, Z, m));
        row("add", "64x128x8x8", 0, 1, (double)m, fs, 0, 0);
        TIME(fs, accumulate(DX, DY, m));
        row("accumulate", "64x128x8x8", 0, 1, (double)m, fs, 0, 0);
    }
    {   // losses: recon over the 32x32x1 images, diffusion/kl/smooth over the 8x8x4 latents
        volatile float sink = 0;
        size_t img = 64u * 1024, lat = 64u * 4 * 64;
        TIME(fs, sink += mse_forward(Y, X, lat));
        TIME(bs, mse_backward(DX, Y, X, lat, 1.0f));
        row("mse", "64x4x8x8", 1, 3, 3.0 * lat, fs, 3.0 * lat, bs);
        TIME(fs, sink += l1_forward(Y, X, img));
        TIME(bs, l1_backward(DX, Y, X, img, 1.0f));
        row("l1", "64x1x32x32", 1, 3, 3.0 * img, fs, 2.0 * img, bs);
        TIME(fs, sink += kl_forward(Y, X, lat));
        TIME(bs, kl_backward(DX, DZ, Y, X, lat, 1.0f));
        row("kl", "64x4x8x8", 1, 5, 5.0 * lat, fs, 4.0 * lat, bs);
        TIME(fs, sink += neg_cosine_forward(Y, X, 1024, 192));
        TIME(bs, neg_cosine_backward(DX, DZ, Y, X, 1024, 192, 1.0f));
        row("neg_cosine", "1024x192", 1, 6, 6.0 * 1024 * 192, fs, 10.0 * 1024 * 192, bs);
        TIME(fs, sink += smooth_forward(Y, 64, 4, 8, 8));
        TIME(bs, smooth_backward(DX, Y, 64, 4, 8, 8, 1.0f));
        row("smooth", "64x4x8x8", 1, 6, 6.0 * lat, fs, 6.0 * lat, bs);
        (void)sink;
    }
    {   // optimiser over all fm32-small parameters (2.70 M VAE + 4.17 M SiT)
        size_t n = 6870000;
        float *p = buf_new(n, 11), *g = buf_new(n, 12), *m = xcalloc(n, 4), *v = xcalloc(n, 4), *e = buf_new(n, 13);
        for (size_t i = 0; i < n; i++) g[i] *= 1e-3f;
        volatile float sink = 0;
        TIME(fs, adamw_update(p, g, m, v, n, 1e-4f, 0.9f, 0.999f, 1e-8f, 0.0f, 10));
        row("adamw_update", "6.87 M params", 1, 12, 12.0 * n, fs, 0, 0);
        TIME(fs, sink += global_norm(g, n));
        row("global_norm", "6.87 M", 0, 2, 2.0 * n, fs, 0, 0);
        TIME(fs, sink += clip_grad_norm(g, n, 1e9f));
        row("clip_grad_norm", "6.87 M (no clip)", 2, 2, 2.0 * n, fs, 0, 0);
        TIME(fs, scale_inplace(g, n, 1.0f));
        row("scale_inplace", "6.87 M", 0, 1, (double)n, fs, 0, 0);
        TIME(fs, ema_update(e, p, 4170000, 0.9999f));
        row("ema_update", "4.17 M SiT params", 1, 3, 3.0 * 4170000, fs, 0, 0);
        (void)sink;
        free(p); free(g); free(m); free(v); free(e);
    }
done:
    // Run again at the end: if this is far below the first figure, other work shared the cores.
    printf("\nsgemm 1024^3 again at the end: cblas %.1f GFLOP/s, repae %.1f GFLOP/s\n",
           sgemm_gflops(1024, 1024, 1024, X, W, Y), own_gflops(1024, 1024, 1024, X, W, Y));
    workspace_free(&ws);
    return 0;
}
