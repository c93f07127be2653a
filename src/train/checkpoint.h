// checkpoint.h: the facts about a run's checkpoints, in one place: where they are, which files
// they hold, whether one is whole, which one is the newest usable, and one weights file made
// of one (export). The CLI and the dashboard use these instead of knowing the layout; the
// trainer's save, load and resume (trainer.h, in checkpoint.c) are built on them.
//
// A run's checkpoints are the directories run_dir/ckpt/NNNNNNNN (the step, zero-padded to 8
// digits), each holding the files of ckpt_files(). A checkpoint is written as NNNNNNNN.tmp and
// renamed when complete, so only plain-digit names count; one that turned out unusable when a
// run resumed is renamed NNNNNNNN.corrupt (.corrupt.2, ...) and kept for inspection. Training
// keeps the newest CKPT_KEEP checkpoints, always the one it has just written, and those of the
// steps train.ckpt_keep lists (written at those steps whatever train.ckpt_every says), so that
// a study can evaluate a run at log-spaced steps after it has finished.
#ifndef REPAE_CHECKPOINT_H
#define REPAE_CHECKPOINT_H
#include <stddef.h>
#include "base/config.h"

#define CKPT_KEEP 2
#define CKPT_STATE_FILE "state.safetensors"
#define CKPT_NFILES 4

typedef struct {
    const char *name;  // inside the checkpoint directory ("vae.safetensors", ...)
    int weights;       // 1: model weights (what ckpt_merge_weights takes), 0: the training state
    const char *holds; // what, in words
} CkptFile;

// The CKPT_NFILES files every complete checkpoint has, in the order they are written and
// checked: vae.safetensors (the VAE in LDM names, with latent BN its running statistics as
// "bn.*"), sit.safetensors (the SiT in DiT names, with align "repa" REPA's projector
// "projectors.*"), sit_ema.safetensors (the EMA of both), state.safetensors (AdamW moments,
// step, RNG and data cursor).
const CkptFile *ckpt_files(void);

// run_dir/ckpt/<step as 8 digits> into buf (n bytes). Returns buf.
char *ckpt_dir(char *buf, size_t n, const char *run_dir, long step);

// 0 if every file of the checkpoint directory dir is whole (st_check_file: present, a sound
// header, data as long as the header says), else -1 with why (ERRLEN) naming the first bad
// file: "vae.safetensors: cut short (...)", "state.safetensors: missing". Reads headers only.
int ckpt_check(const char *dir, char *why);

// The steps of run_dir's checkpoints, newest first, into *steps (malloc'd, for free(); NULL
// when there are none). Returns how many. Temporary and set-aside directories do not count;
// *has_corrupt (may be NULL) tells whether set-aside ones exist.
int ckpt_list(const char *run_dir, long **steps, int *has_corrupt);

// 1 if step is one of keep's (train.ckpt_keep): its checkpoint is written and never pruned.
int ckpt_is_kept(const CfgSteps *keep, long step);

// The newest usable checkpoint of a run: the highest step whose directory passes ckpt_check.
// Returns that step and writes its directory into dir (n bytes; dir may be NULL), or returns -1
// when the run has none (dir is then left alone).
long ckpt_newest_usable(const char *run_dir, char *dir, size_t n);

// The weights of checkpoint directory dir as one safetensors file at out_path: every tensor of
// every weights file of ckpt_files() under the file's stem ("vae.decoder.conv_out.weight",
// "sit.blocks.0.attn.qkv.weight", "sit_ema.pos_embed", ...; a GAN run's disc.safetensors too,
// "disc.main.0.weight", ...), files in name order; the training
// state is left out. meta is NULL or a NULL-terminated list of key, value strings written as
// the file's metadata. A weights file that is missing is skipped; none at all is an error.
// Returns 0 or -1 with err.
int ckpt_merge_weights(const char *dir, const char *out_path, const char *const *meta, char *err);

#endif
