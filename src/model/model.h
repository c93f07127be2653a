// model.h: the whole generative model of one config: VAE, optional latent BatchNorm, SiT,
// and the diffusion settings, with checkpoint I/O and sampling. Training (src/train/) and the
// CLI's sample/reconstruct commands share it.
//
// A checkpoint is a directory with
//   vae.safetensors      the VAE in LDM names, plus bn.running_mean / bn.running_var with latent BN
//   sit.safetensors      the SiT in DiT names (loads into a PyTorch SiT with load_state_dict);
//                        with align "repa" also REPA's projector "projectors.0.{0,2,4}.*"
//                        (as REPA's SiT state_dict), which model_load skips
//   sit_ema.safetensors  the EMA of the SiT weights (same names, projector included; a copy of
//                        the weights when train.ema is 0)
//   state.safetensors    training state (optimiser moments, step, RNG, data cursor): written and
//                        read by the training core (src/train/checkpoint.h has the whole list,
//                        the path of a run's checkpoints and which of them is usable)
#ifndef REPAE_MODEL_H
#define REPAE_MODEL_H

// The weights files of a checkpoint directory (model_load reads them; the trainer writes them).
#define MODEL_VAE_FILE "vae.safetensors"
#define MODEL_SIT_FILE "sit.safetensors"
#define MODEL_SIT_EMA_FILE "sit_ema.safetensors"
#include "base/config.h"
#include "model/diffusion.h"
#include "model/latent_bn.h"
#include "model/sampler.h"
#include "model/sit.h"
#include "model/vae.h"

typedef struct {
    Config cfg;
    Diffusion diff;
    Vae vae;
    LatentBn bn;
    Sit sit;
    int use_bn;
    int max_batch;
    int C, S;           // image channels and size
    int zc, zh, zw;     // latent shape
    size_t nx, nz;      // floats per image, per latent
    int num_classes;    // sit.num_classes (0 = unconditional)
    int bf16;           // train.precision "bf16" in effect (the CPU can); see model_precision_bf16
    char precision_note[320]; // what the user should hear about train.precision here, or ""
} Model;

// Builds every part for batches up to max_batch; weights are zero until model_init or a load.
// mode: ALLOC_GRAD allocates gradients; ALLOC_COUNT is a dry run that only sizes the tables
// (params.h; the latent BN's few floats are still allocated). Must not be moved once built.
int model_build(Model *m, const Config *cfg, int max_batch, int mode, char *err);
void model_free(Model *m);
// 1 if cfg asks for train.precision "bf16" and this process can run it (gemm_bf16_ok). When it
// asks but cannot (a CPU without AVX512-BF16, REPAE_GEMM=openblas), 0; where it can but the CPU's
// bf16 instruction is slower than its fp32 FMA (gemm_bf16_speed below 0.8), 1. Either way a
// sentence saying so goes to note (n bytes; "" when there is nothing to say; note may be NULL).
// Nothing is printed: model_build keeps the sentence in precision_note for its caller to
// route (stderr from a command, the run's console and notice line from the dashboard).
int model_precision_bf16(const Config *cfg, char *note, size_t n);
void model_init(Model *m, Rng *rng);

// Reads <dir>/vae.safetensors (the VAE, and exactly the BN buffers when latent BN is on) and
// the SiT from <dir>/sit.safetensors, or from sit_ema.safetensors when use_ema and the file
// exists.
int model_load(Model *m, const char *dir, int use_ema, char *err);
// Loads only the VAE (and BN buffers if present and wanted) from a file: init.vae.
int model_load_vae(Model *m, const char *path, char *err);
int model_load_sit(Model *m, const char *path, char *err);

typedef struct {
    int steps;
    SolverKind solver;
    float cfg_scale;
    float cfg_lo, cfg_hi;
} SampleOpts;

int sample_opts_from_config(SampleOpts *o, const SampleConfig *c, char *err);

// n images (n, C, S, S) in [-1, 1] (clamped) from seed; labels (n) in [0, num_classes) or
// NULL (class k % num_classes for image k; ignored when unconditional). Works in chunks of
// max_batch. The SiT's current weights are used (swap in the EMA first if wanted).
void model_sample(Model *m, int n, const int *labels, const SampleOpts *o, uint64_t seed, float *images);

// Forward FLOPs per image of each part, counted from the layer shapes: 2 per multiply-add of
// every conv (2 Cout Cin k k Ho Wo), linear (2 In Out per row) and attention product (QK^T and
// att V); norms, activations and other elementwise work are left out.
typedef struct {
    double enc, dec, sit;
} ModelFlops;
ModelFlops model_flops(const Model *m);

// Deterministic VAE round trip through the posterior mean: x, xr (n, C, S, S).
void model_reconstruct(Model *m, const float *x, int n, float *xr);

// Spatial standard deviation of z (B, C, HW) per (image, channel), summed: divided by B*C it
// is the "latent_std" REPA-E reports as the collapse signal of naive end-to-end training.
double latent_std_sum(const float *z, int B, int C, int HW);

#endif
