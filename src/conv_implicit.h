// conv_implicit.h: stride-1 conv2d on the own AVX-512 kernel with operands packed straight
// from the NCHW tensors (see conv_implicit.c). ops_conv.c calls it when conv_implicit_ok().
#ifndef REPAE_CONV_IMPLICIT_H
#define REPAE_CONV_IMPLICIT_H
#include "ops.h"

// 1 if the shape qualifies (stride 1; input and output widths a multiple of 16, or 8, and
// planes a whole number of 32-column tiles) and the own kernel is in use.
int conv_implicit_ok(const Conv2d *c);
// As conv2d_forward / conv2d_backward (bias gradient excluded), with no workspace.
void conv_implicit_forward(float *out, const float *inp, const float *weight, const float *bias,
                           const Conv2d *c);
void conv_implicit_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                            const float *weight, const Conv2d *c);
#endif
