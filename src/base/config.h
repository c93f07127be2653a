// config.h: the run configuration: one JSON object (configs/*.json), every key with a
// default, unknown keys rejected, validated before anything runs. configs/README.md lists the
// keys; the struct mirrors them one to one, and the key table in config.c (with the defaults)
// maps between them.
#ifndef REPAE_CONFIG_H
#define REPAE_CONFIG_H

#define CFG_MAXLEVELS 8
#define CFG_STRLEN 512
#define CFG_MAXSTEPS 32

// A list of training steps (train.ckpt_keep): n of them in step[], ascending.
typedef struct {
    int n;
    int step[CFG_MAXSTEPS];
} CfgSteps;

typedef struct {
    char dataset[32];        // "shapes" | "fashion-mnist" | "folder"
    char path[CFG_STRLEN];   // fashion-mnist dir (default /usr/share/datasets/fashion-mnist) or folder root
    int image_size;          // 16
    int channels;            // 3 (1 for fashion-mnist)
    int seed;                // dataset seed (shapes generator, shuffling)
} DataConfig;

typedef struct {
    int ch[CFG_MAXLEVELS];
    int nlevels;             // len(ch); downsampling factor 2^(nlevels-1)
    int num_res_blocks;      // 1
    int z_channels;          // 4
    int groups;              // GroupNorm groups, capped at each channel count
    int mid_attn;            // bool
    int latent_bn;           // bool
} VaeConfig;

typedef struct {
    int hidden, depth, heads, patch;
    float mlp_ratio;         // 4
    int num_classes;         // 0 = unconditional
    float class_dropout;     // 0.1
} SitConfig;

typedef struct {
    char path[16];           // "linear" | "cosine"
    char prediction[16];     // "velocity" | "noise" | "score"
    char t_sampling[16];     // "uniform" | "logit-normal"
    int grad_to_vae;         // bool
} DiffusionConfig;

typedef struct {
    char recon[8];           // "l1" | "mse"
    float w_recon, w_kl, w_diff, w_align, w_smooth;
    char kl_reduce[8];       // "sum": over C,H,W, mean over the batch (REPA-E/LDM); "mean": over every element
    float w_perc;            // weight of the perceptual term on the target encoder (LPIPS stand-in; 0 = off)
    float w_gan;             // weight of the hinge generator term -mean(D(xr)) (REPA-E 0.1; 0 = no GAN)
    int gan_start;           // the step from which the generator term and the discriminator train
} LossConfig;

// The PatchGAN discriminator of the GAN term (model/disc.h), used when loss.w_gan > 0.
typedef struct {
    int layers, ch;          // taming's n_layers, ndf
    float lr;                // its AdamW's (REPA-E's disc learning rate, 1e-4)
} DiscConfig;

typedef struct {
    char kind[8];            // "none" | "score" | "repa"
    int depth;               // SiT block after which tokens are aligned (1-based, REPA's encoder_depth)
    float w_sit, w_vae;      // repa weights (0.5 / 1.5)
    char encoder[CFG_STRLEN];// safetensors of the frozen target encoder (repa); "": align.target's default file
    char target[16];         // "ssl" (self-supervised, ssl-encoder-DATASET) | "supervised" (encoder-DATASET)
    int projector_dim;       // hidden width of the projector MLP
    char vae_bn[16];         // repa, the VAE-side pass's latent BN: "running" (eval mode, REPA-E) | "batch"
} AlignConfig;

typedef struct {
    int steps, batch_size;
    float lr, lr_vae;        // lr_vae <= 0 means "same as lr"
    int warmup;              // linear warmup steps
    float clip;              // global-norm clip per side (0 = off)
    float ema;               // SiT EMA decay (0 = off)
    int ema_warmup;          // bool: decay min(ema, (1+n)/(10+n)) after n updates
    int train_vae, train_sit;// "vae" / "sit" keys
    int seed, threads;       // threads 0 = all cores
    char precision[8];       // "fp32" | "bf16": matrix products and convs in bf16 with fp32 sums (model_build)
    int log_every, sample_every, ckpt_every;
    CfgSteps ckpt_keep;      // steps whose checkpoints are written and kept besides the newest ([] = none)
    int eval_every, eval_n;  // evaluation during training: every eval_every steps (0 = off), eval_n samples
} TrainConfig;

typedef struct {
    char vae[CFG_STRLEN];    // checkpoint to initialise the VAE from ("" = none)
    char sit[CFG_STRLEN];
} InitConfig;

typedef struct {
    int steps;               // 50
    char solver[8];          // "euler" | "heun" | "sde"
    float cfg;               // guidance scale (1 = none)
    float cfg_interval[2];   // [t_lo, t_hi]; guidance applied when t_lo <= t <= t_hi
    int n;                   // samples per grid
} SampleConfig;

typedef struct {
    DataConfig data;
    VaeConfig vae;
    SitConfig sit;
    DiffusionConfig diffusion;
    LossConfig loss;
    DiscConfig disc;
    AlignConfig align;
    TrainConfig train;
    InitConfig init;
    SampleConfig sample;
} Config;

// Fills every field with its default (the `tiny` model on `shapes`): the defaults column of
// config.c's key table.
void config_defaults(Config *c);
// Parses JSON text over the defaults. A complete config from before a key existed (a stored
// run's) gets that key's legacy value rather than its default (config.c, Key.legacy): old runs
// keep their objective (loss.kl_reduce "mean", train.ema_warmup false). `origin` names the source in messages (a file path).
// Malformed JSON: file, line and column. Unknown key: its path and the nearest valid key.
// Wrong type or range: the path and what is allowed. Returns 0 or -1 with err (ERRLEN).
int config_parse(Config *c, const char *json, const char *origin, char *err);
// config_parse of a file; every message starts with the path, once.
int config_load(Config *c, const char *path, char *err);
// Applies one "key.path=value" override through the same validation. Messages start with
// "--set key.path" (callers add only their own prefix).
int config_set(Config *c, const char *assignment, char *err);
// Cross-field checks (sizes divisible by patch and downsampling, heads divide hidden, ...).
int config_validate(const Config *c, char *err);
// The full config as pretty JSON (malloc'd), every key present; parses back to the same Config.
char *config_to_json(const Config *c);

#endif
