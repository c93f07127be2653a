// conv_implicit.h: stride-1 and stride-2 conv2d on the own AVX-512 kernel with operands packed straight
// from the NCHW tensors (see conv_implicit.c). ops_conv.c calls it when conv_implicit_ok().
#ifndef REPAE_CONV_IMPLICIT_H
#define REPAE_CONV_IMPLICIT_H
#include "ops/ops.h"

// 1 if the forward and the weight gradient qualify (stride 1 or 2; output width a multiple of
// 16, or 8; the output plane a whole number of 32-column tiles) and the own kernel is in use.
int conv_implicit_ok(const Conv2d *c);
// 1 if the input gradient qualifies too (stride 1; the same for the input plane).
int conv_implicit_dinp_ok(const Conv2d *c);
// As conv2d_forward / conv2d_backward (bias gradient excluded). The workspace (at least
// conv2d_workspace_min) holds zero-padded copies of images for the 32-column-row layers.
// set_dinp: dinp is overwritten (conv2d_backward_set), else added to.
void conv_implicit_forward(float *out, const float *inp, const float *weight, const float *bias,
                           const Conv2d *c, Workspace *ws);
// dbias != NULL: the bias gradient too where the weight gradient's pass over dout can take it
// (returns 1; else 0 and the caller sums it with conv_plane_sum8 itself).
int conv_implicit_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                           const float *weight, const Conv2d *c, Workspace *ws, int set_dinp);
// The bias gradient's sum of one plane of P values, as eight running float sums (lane j takes
// p = j mod 8, the rest in lane 0); a channel's gradient is then the double sum of its planes'
// eight, image by image. One function for both passes that compute it, so they agree bit for bit.
static inline void conv_plane_sum8(float acc[8], const float *d, size_t P) {
    float a[8] = {0}; // local: acc may alias d as far as the compiler knows, which kept it scalar
    size_t p = 0;
    for (; p + 8 <= P; p += 8)
        for (int j = 0; j < 8; j++) a[j] += d[p + j];
    for (; p < P; p++) a[0] += d[p];
    for (int j = 0; j < 8; j++) acc[j] = a[j];
}
// Tests: 0 makes bf16 windowed convs convert each tile's fp32 windows (gemm_windows_prec), 1
// the default: a padded copy of channel-pair words read in place (gemm_windows16). The two sum
// the same products in different pair orders, so they agree to rounding, not bit for bit. 0
// also sends weight gradients (fp32 and bf16) to the packed product instead of the transposed
// tiles (conv_dweight_t), again the same products in another order.
void conv_pairs_enable(int on);
// Tests: how many products took each pair path so far in this process: windows (forward and
// input gradient, conv_windows16) and weight gradients taken transposed (conv_dweight_t, fp32
// or bf16).
void conv_pairs_counts(long *windows, long *dweight);
#endif
