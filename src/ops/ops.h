// ops.h: the op library. One forward/backward pair per op, llm.c style.
//
// Conventions (read these before adding an op):
// - Argument order: outputs, cached buffers, inputs, weights, sizes.
// - Activations are NCHW for images, (B, T, C) row-major for tokens; weights use
//   PyTorch layouts: conv [out, in, kh, kw], linear [out, in].
// - Backward ADDS into every gradient it writes (dinp, dweight, dbias ...). Gradients are
//   cleared once per step by the caller. Any gradient pointer may be NULL: that gradient
//   is then not computed (frozen weights, inputs that need no gradient). The "_set" variants
//   (convs, norms, linears) overwrite dinp instead (parameter gradients are still added to), so a
//   fresh input-gradient buffer needs no clearing: clearing them and reading the zeros back
//   were ~5% of a training step.
// - Ops never allocate on the hot path; scratch comes from a Workspace sized by the caller.
// - Loops are OpenMP-parallel; BLAS calls are never made inside an omp parallel region. A loop
//   forks only when its work pays for waking a thread (ops/par.h: the thresholds and why).
#ifndef REPAE_OPS_H
#define REPAE_OPS_H
#include <stddef.h>
#include <stdint.h>

// ---------------------------------------------------------------------------------------------
// Bounded scratch memory shared by the ops of one model (one per training run).
// bf16 != 0: the convolutions that use it (conv2d, upconv) multiply in bf16 with fp32 sums
// (gemm.h's sgemm_prec) where the CPU can; norms, activations and the rest stay fp32. Set by
// the model that owns the workspace (train.precision), so two models in one process may differ.
typedef struct {
    float *buf;
    size_t cap; // floats
    int bf16;   // 0 after workspace_init
} Workspace;
void workspace_init(Workspace *ws, size_t cap_floats);
void workspace_free(Workspace *ws);

// ---------------------------------------------------------------------------------------------
// conv2d: k x k kernel, stride s, explicit padding per side (LDM's downsample pads only
// right/bottom). With the own AVX-512 sgemm (gemm.h), strides 1 and 2 on planes whose rows are
// 8 or a multiple of 16 wide run as implicit GEMMs packed straight from NCHW
// (conv_implicit.c). Otherwise (OpenBLAS, other shapes, input gradients with < 16 input
// channels): im2col + sgemm over chunks of images bounded by the workspace, col2im for the
// input gradient; 1x1 stride-1 unpadded convs on planes of >= 256 pixels skip im2col.
// The workspace must hold conv2d_workspace_min floats: a smaller one is a caller bug and aborts.
typedef struct {
    int B, Cin, H, W;      // input
    int Cout, k, stride;   // kernel
    int pad_t, pad_l, pad_b, pad_r;
    int Ho, Wo;            // output, filled by conv2d_init
} Conv2d;
// Fills Ho/Wo; returns 0, or -1 with a message in err (ERRLEN) for an impossible shape.
int conv2d_init(Conv2d *c, int B, int Cin, int H, int W, int Cout, int k, int stride,
                int pad_t, int pad_l, int pad_b, int pad_r, char *err);
// Workspace floats conv2d needs for at least one image (more lets it batch images).
size_t conv2d_workspace_min(const Conv2d *c);
// out (B,Cout,Ho,Wo); inp (B,Cin,H,W); weight (Cout,Cin,k,k); bias (Cout) or NULL
void conv2d_forward(float *out, const float *inp, const float *weight, const float *bias,
                    const Conv2d *c, Workspace *ws);
void conv2d_backward(float *dinp, float *dweight, float *dbias,
                     const float *dout, const float *inp, const float *weight,
                     const Conv2d *c, Workspace *ws);
// The same, but dinp is overwritten, not added to (see "_set" above).
void conv2d_backward_set(float *dinp, float *dweight, float *dbias,
                         const float *dout, const float *inp, const float *weight,
                         const Conv2d *c, Workspace *ws);

// ---------------------------------------------------------------------------------------------
// linear: out (N,O) = inp (N,In) @ weight(O,In)^T + bias (O)
void linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                    int N, int In, int O);
void linear_backward(float *dinp, float *dweight, float *dbias,
                     const float *dout, const float *inp, const float *weight,
                     int N, int In, int O);
// The same with the products in bf16 (bf16 != 0; sgemm_prec) or fp32; bias sums stay fp32.
void linear_forward_prec(float *out, const float *inp, const float *weight, const float *bias,
                         int N, int In, int O, int bf16);
void linear_backward_prec(float *dinp, float *dweight, float *dbias,
                          const float *dout, const float *inp, const float *weight,
                          int N, int In, int O, int bf16);
// The same, but dinp is overwritten, not added to (see "_set" above).
void linear_backward_prec_set(float *dinp, float *dweight, float *dbias,
                              const float *dout, const float *inp, const float *weight,
                              int N, int In, int O, int bf16);

// ---------------------------------------------------------------------------------------------
// 1 when the elementwise loops run their AVX-512 builds (act.c: the CPU has AVX-512 F/VL/DQ and
// REPAE_CPU_PRETEND_MISSING does not name avx512f); the values are the same either way.
// ops_vec512_force(0 / 1) picks one for tests (1 only where the CPU can), -1 decides again.
int ops_vec512(void);
void ops_vec512_force(int on);

// ---------------------------------------------------------------------------------------------
// GroupNorm over (B, C, HW) with G groups (C % G == 0: the caller's contract, checked by the
// VAE at build time), affine weight/bias (C) or NULL (1 and 0).
// mean, rstd: (B*G) cached for backward.
void groupnorm_forward(float *out, float *mean, float *rstd,
                       const float *inp, const float *weight, const float *bias,
                       int B, int C, int HW, int G, float eps);
void groupnorm_backward(float *dinp, float *dweight, float *dbias,
                        const float *dout, const float *inp, const float *mean, const float *rstd,
                        const float *weight, int B, int C, int HW, int G);
void groupnorm_backward_set(float *dinp, float *dweight, float *dbias,
                            const float *dout, const float *inp, const float *mean, const float *rstd,
                            const float *weight, int B, int C, int HW, int G);
// GroupNorm then SiLU as one op (src/ops/fused.c): out = silu(groupnorm(inp)), the same values
// as the two ops in sequence without storing the normalised tensor. Backward recomputes it from
// inp, mean, rstd, weight and bias; dout is the gradient of out.
void groupnorm_silu_forward(float *out, float *mean, float *rstd,
                            const float *inp, const float *weight, const float *bias,
                            int B, int C, int HW, int G, float eps);
void groupnorm_silu_backward(float *dinp, float *dweight, float *dbias,
                             const float *dout, const float *inp, const float *mean, const float *rstd,
                             const float *weight, const float *bias, int B, int C, int HW, int G);
void groupnorm_silu_backward_set(float *dinp, float *dweight, float *dbias,
                                 const float *dout, const float *inp, const float *mean, const float *rstd,
                                 const float *weight, const float *bias, int B, int C, int HW, int G);
// groupnorm_silu_forward's output again from the mean and rstd it cached, bit for bit the same
// values: the VAE recomputes silu(norm(x)) in backward instead of keeping it.
void groupnorm_silu_apply(float *out, const float *mean, const float *rstd,
                          const float *inp, const float *weight, const float *bias,
                          int B, int C, int HW, int G);

// LayerNorm over the last dim C of (N, C); weight/bias (C) or NULL (no affine).
// mean, rstd: (N).
void layernorm_forward(float *out, float *mean, float *rstd,
                       const float *inp, const float *weight, const float *bias,
                       int N, int C, float eps);
void layernorm_backward(float *dinp, float *dweight, float *dbias,
                        const float *dout, const float *inp, const float *mean, const float *rstd,
                        const float *weight, int N, int C);

// BatchNorm2d over channels of (B, C, HW), no affine (REPA-E's latent BN).
// training != 0: normalise with batch statistics (biased variance), cache mean/rstd (C),
// and update running_mean/running_var (unbiased variance) with momentum, as PyTorch does.
// training == 0: normalise with the running statistics (mean/rstd still filled for backward).
// running_mean/running_var may be NULL in training mode: no update.
void batchnorm_forward(float *out, float *mean, float *rstd, float *running_mean, float *running_var,
                       const float *inp, int B, int C, int HW, float eps, float momentum, int training);
void batchnorm_backward(float *dinp, const float *dout, const float *inp, const float *mean,
                        const float *rstd, int B, int C, int HW, int training);
// Inverse of eval-mode normalisation: out = inp * sqrt(running_var + eps) + running_mean.
void batchnorm_denormalize(float *out, const float *inp, const float *running_mean,
                           const float *running_var, int B, int C, int HW, float eps);

// ---------------------------------------------------------------------------------------------
// Elementwise activations over n floats.
void silu_forward(float *out, const float *inp, size_t n);
void silu_backward(float *dinp, const float *dout, const float *inp, size_t n);
void gelu_forward(float *out, const float *inp, size_t n); // tanh approximation
void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n);
// LeakyReLU with negative slope (0.2 in the PatchGAN discriminator); the backward may be given
// the forward's output in place of its input when slope > 0 (same signs).
void leaky_relu_forward(float *out, const float *inp, size_t n, float slope);
void leaky_relu_backward(float *dinp, const float *dout, const float *inp, size_t n, float slope);
// Softmax over the last dim C of (N, C).
void softmax_forward(float *out, const float *inp, int N, int C);
void softmax_backward(float *dinp, const float *dout, const float *out, int N, int C);

// ---------------------------------------------------------------------------------------------
// Multi-head self-attention (non-causal) over tokens, scale 1/sqrt(C/NH).
// out (B,T,C); att (B,NH,T,T) softmax probabilities cached; qkv (B,T,3C) as [q | k | v].
void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH);
// dqkv (B,T,3C); scratch: at least attention_scratch_floats(B, T, C, NH) floats.
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                        int B, int T, int C, int NH, float *scratch);
size_t attention_scratch_floats(int B, int T, int C, int NH);

// Single-head spatial attention of the VAE's AttnBlock: q, k, v (B,C,HW) from 1x1 convs;
// att (B,HW,HW) = softmax_j(q_i . k_j / sqrt(C)); out (B,C,HW): out[:,i] = sum_j att[i,j] v[:,j].
void spatial_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                               int B, int C, int HW);
void spatial_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                const float *q, const float *k, const float *v, const float *att,
                                int B, int C, int HW, float *scratch);
// scratch of the backward: this many floats (one HW x HW plane per image: they run in parallel).
size_t spatial_attention_scratch_floats(int B, int C, int HW);

// ---------------------------------------------------------------------------------------------
// Nearest-neighbour x2 upsampling: out (B,C,2H,2W), inp (B,C,H,W).
void upsample2x_forward(float *out, const float *inp, int B, int C, int H, int W);
void upsample2x_backward(float *dinp, const float *dout, int B, int C, int H, int W);
// Nearest x2 upsampling then a 3x3 stride-1 pad-1 conv (src/ops/fused.c), computed as four 2x2
// convs on the small image: out (B,Cout,2H,2W), inp (B,Cin,H,W), weight (Cout,Cin,3,3), bias
// (Cout) or NULL. The workspace must hold upconv_workspace_floats floats.
size_t upconv_workspace_floats(int B, int Cin, int H, int W, int Cout);
void upconv_forward(float *out, const float *inp, const float *weight, const float *bias,
                    int B, int Cin, int H, int W, int Cout, Workspace *ws);
void upconv_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int B, int Cin, int H, int W, int Cout, Workspace *ws);
void upconv_backward_set(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                         const float *weight, int B, int Cin, int H, int W, int Cout, Workspace *ws);

// Patchify for SiT's x_embedder as a linear: inp (B,C,H,W) -> out (B, T, C*p*p), T=(H/p)*(W/p),
// tokens row-major over the patch grid, each token ordered [c, i, j] like a conv weight.
void patchify_forward(float *out, const float *inp, int B, int C, int H, int W, int p);
void patchify_backward(float *dinp, const float *dout, int B, int C, int H, int W, int p);
// Unpatchify of SiT's final layer: inp (B, T, p*p*C) ordered [i, j, c] (DiT's
// 'nhwpqc->nchpwq') -> out (B,C,H,W).
void unpatchify_forward(float *out, const float *inp, int B, int C, int H, int W, int p);
void unpatchify_backward(float *dinp, const float *dout, int B, int C, int H, int W, int p);

// ---------------------------------------------------------------------------------------------
// adaLN: shift/scale/gate are (B, C) rows with row stride ld (slices of the (B, 6C) output).
// modulate: out (B,T,C) = x * (1 + scale) + shift
void modulate_forward(float *out, const float *x, const float *shift, const float *scale,
                      int B, int T, int C, int ld);
void modulate_backward(float *dx, float *dshift, float *dscale, const float *dout,
                       const float *x, const float *scale, int B, int T, int C, int ld);
// gated residual: out (B,T,C) = x + gate * y
void gate_residual_forward(float *out, const float *x, const float *y, const float *gate,
                           int B, int T, int C, int ld);
void gate_residual_backward(float *dx, float *dy, float *dgate, const float *dout,
                            const float *y, const float *gate, int B, int T, int C, int ld);

// Embedding lookup: out (B, C) = table[labels[b]]; table (V, C).
void embedding_forward(float *out, const float *table, const int *labels, int B, int C);
void embedding_backward(float *dtable, const float *dout, const int *labels, int B, int C);

// Sinusoidal embedding of continuous t (B) into out (B, dim) = [cos(t f) | sin(t f)],
// f_i = exp(-ln(max_period) i / (dim/2)) (DiT/SiT TimestepEmbedder; t unscaled).
void timestep_embedding_forward(float *out, const float *t, int B, int dim, float max_period);
void timestep_embedding_backward(float *dt, const float *dout, const float *t, int B, int dim,
                                 float max_period);

// Elementwise helpers used by residual paths.
void add_forward(float *out, const float *a, const float *b, size_t n); // out = a + b
void accumulate(float *dst, const float *src, size_t n);                // dst += src

// ---------------------------------------------------------------------------------------------
// Loss primitives. Each forward returns the scalar; each backward adds dloss * dL/dx.
float mse_forward(const float *pred, const float *target, size_t n); // mean (p - t)^2
void mse_backward(float *dpred, const float *pred, const float *target, size_t n, float dloss);
float l1_forward(const float *pred, const float *target, size_t n); // mean |p - t|
void l1_backward(float *dpred, const float *pred, const float *target, size_t n, float dloss);
// Gaussian KL to N(0,1): 0.5 * mean(mu^2 + exp(logvar) - logvar - 1)
float kl_forward(const float *mu, const float *logvar, size_t n);
void kl_backward(float *dmu, float *dlogvar, const float *mu, const float *logvar, size_t n, float dloss);
// The same sum divided by div instead of n: div = B gives the official REPA-E/LDM KL (summed
// over C*H*W, averaged over the batch), so that its weight 1e-6 means what the paper's does.
float kl_forward_div(const float *mu, const float *logvar, size_t n, double div);
void kl_backward_div(float *dmu, float *dlogvar, const float *mu, const float *logvar, size_t n, double div,
                     float dloss);
// Negative cosine similarity per row of (N, D), averaged: -mean_n cos(a_n, b_n); eps 1e-8 on norms
// (F.normalize semantics: x / max(|x|, eps)).
float neg_cosine_forward(const float *a, const float *b, int N, int D);
void neg_cosine_backward(float *da, float *db, const float *a, const float *b, int N, int D, float dloss);
// Smoothness of z (B,C,H,W): mean((z[..,i+1,:]-z[..,i,:])^2) + mean((z[..,:,j+1]-z[..,:,j])^2).
// Each mean is over its own difference count; a term with no differences (H or W == 1) is 0.
float smooth_forward(const float *z, int B, int C, int H, int W);
void smooth_backward(float *dz, const float *z, int B, int C, int H, int W, float dloss);

// ---------------------------------------------------------------------------------------------
// Optimiser pieces, each one flat loop over a parameter family.
// AdamW (PyTorch semantics: decoupled decay, bias correction with step t >= 1).
void adamw_update(float *params, const float *grads, float *m, float *v, size_t n,
                  float lr, float beta1, float beta2, float eps, float weight_decay, int t);
float global_norm(const float *grads, size_t n);  // sqrt(sum g^2), accumulated in double
void scale_inplace(float *x, size_t n, float s);
// Clips to max_norm like torch.nn.utils.clip_grad_norm_; returns the norm before clipping.
float clip_grad_norm(float *grads, size_t n, float max_norm);
void ema_update(float *ema, const float *params, size_t n, float decay); // ema = d*ema + (1-d)*p

#endif
