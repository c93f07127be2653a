// params.h: parameter tables and activation buffers, llm.c style.
//
// A ParamTable lists a model's tensors in PyTorch state_dict order as {name, shape, offset};
// the model registers each tensor with the address of its own struct field, and params_alloc
// makes ONE allocation for all weights (and one for all gradients) and points every field
// into it. Trainable tensors are laid out first and buffers (pos_embed, BatchNorm running
// statistics) after them, so an optimiser, a gradient norm or an EMA is one flat loop over
// data[0 .. ntrain) and grad[0 .. ntrain). Buffers have no gradient.
//
// A model needs only its weight pointers: param_grad(t, w) maps a weight pointer to its
// gradient (NULL when gradients are off or w is a buffer), so backward code passes
// param_grad(t, L->w) wherever an op wants dweight, and NULL simply skips that gradient.
//
// Checkpoints: params_save / params_load write and read one safetensors file holding one or
// more tables, each under an optional name prefix (VAE "encoder.*"/"decoder.*", latent BN
// "bn.*", SiT names; an EMA copy could use "ema."). Loading checks names and shapes exactly
// and lists every missing, unexpected and wrongly shaped tensor in the error.
//
// BufTable is the same idea for activations: {slot, size} entries, one allocation.
//
// Dry runs: with ALLOC_COUNT the builders register every tensor and buffer as usual, but
// params_alloc and buf_alloc only size the tables (offsets, ntrain, total, ngrad) and allocate
// nothing, so the totals say what the real build would allocate without touching memory
// (train_memory_estimate builds a whole trainer this way).
#ifndef REPAE_PARAMS_H
#define REPAE_PARAMS_H
#include <stddef.h>
#include <stdint.h>

#define PARAM_NAMELEN 96
#define PARAM_MAXDIM 4

// Bit flags for params_alloc and buf_alloc, and the `mode` the builders (vae_build, sit_build,
// encoder_build, projector_build, model_build) pass on to them; 0 and 1 keep meaning "weights
// only" and "with gradients".
//   ALLOC_GRAD   params_alloc also allocates the gradients
//   ALLOC_COUNT  a dry run: tables are sized but nothing is allocated and every slot stays
//                NULL; a builder skips whatever would write into its memory and records its
//                workspaces' sizes without allocating them. Freed like a built object.
//   ALLOC_HUGE   buf_alloc: one block aligned to 2 MB and advised for transparent huge pages,
//                NOT zeroed (for buffers that are always written before they are read)
enum { ALLOC_GRAD = 1, ALLOC_COUNT = 2, ALLOC_HUGE = 4 };

typedef struct {
    char name[PARAM_NAMELEN];
    int ndim;
    int64_t shape[PARAM_MAXDIM];
    size_t numel;
    size_t offset;    // floats into data (and grad, for trainable tensors)
    int trainable;    // 0: a buffer, saved but never given a gradient
    float **slot;     // the model's struct field that points at this tensor
} ParamInfo;

typedef struct {
    ParamInfo *p;
    int n, cap;
    size_t ntrain;    // floats of trainable tensors (they come first in data)
    size_t total;     // all floats
    size_t ngrad;     // floats of grad: ntrain with ALLOC_GRAD, else 0 (also when counted)
    float *data;      // one allocation: every tensor
    float *grad;      // one allocation: ntrain floats, or NULL (no gradients)
} ParamTable;

void params_init(ParamTable *t);
// Registers a tensor; *slot is set by params_alloc. ndim <= 4; shape as in PyTorch.
void params_add(ParamTable *t, float **slot, int trainable, const char *name, int ndim, ...);
// Lays the tensors out, then allocates data (zeroed) and with ALLOC_GRAD grad (zeroed) and
// points every slot; with ALLOC_COUNT only the layout (see above).
void params_alloc(ParamTable *t, int mode);
void params_free(ParamTable *t);
const ParamInfo *params_find(const ParamTable *t, const char *name);
void params_zero_grad(ParamTable *t);

// The gradient of weight pointer w (anywhere inside a trainable tensor), or NULL if the
// table has no gradients or w is a buffer.
static inline float *param_grad(const ParamTable *t, const float *w) {
    if (!t->grad || !w) return NULL;
    size_t off = (size_t)(w - t->data);
    return off < t->ntrain ? t->grad + off : NULL;
}

// One table under a name prefix ("" for none) inside a checkpoint file.
typedef struct {
    ParamTable *t;
    const char *prefix;
} ParamGroup;

// Writes all groups into one safetensors file (atomically). Returns 0 or -1 with err.
int params_save(const ParamGroup *g, int ng, const char *path, char *err);
// Reads path and fills every tensor of every group (prefix + name). Missing or wrongly
// shaped tensors are errors; tensors in the file that no group claims are errors unless
// allow_unexpected (e.g. loading only the VAE from a checkpoint that also holds the SiT).
// On error nothing is changed and err lists the offending names (ERRLEN).
int params_load(const ParamGroup *g, int ng, const char *path, int allow_unexpected, char *err);

// ---- activations ---------------------------------------------------------------------------
typedef struct {
    float **slot;
    size_t n;
} BufEntry;

typedef struct {
    BufEntry *e;
    int n, cap;
    size_t total;  // floats, after alignment
    float *mem;    // one allocation
} BufTable;

void buf_init(BufTable *b);
void buf_add(BufTable *b, float **slot, size_t n);  // n floats, 64-byte aligned
// One allocation for every entry, zeroed (ALLOC_HUGE: huge-page aligned, not zeroed), and
// points every slot; with ALLOC_COUNT only total is set.
void buf_alloc(BufTable *b, int mode);
void buf_free(BufTable *b);
// The table's floats after alignment, summed in double: a dry run of an absurd config may
// register more than size_t holds, and the estimate must still see that it is absurd.
double buf_floats(const BufTable *b);

#endif
