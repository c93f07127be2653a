"""Writes tests/ref/ops_fused_groupnorm_silu.safetensors: forward output and autograd
gradients (from a random upstream gradient) of SiLU(GroupNorm(x)) in PyTorch, for
tests/test_ops_fused.c."""
import torch
from gen.common import save, setup

setup(seed=2718)

# eps 1e-6 like the VAE; inputs with an offset so the statistics are not trivially centred, and
# scales that put normalised values in both SiLU tails.
T = {}
for name, (B, C, H, W, G) in {"gns": (2, 6, 3, 3, 3),        # general
                              "gns_cg": (1, 4, 3, 2, 4),     # C == G, batch 1
                              "gns_g1": (3, 5, 2, 2, 1),     # one group, odd C
                              "gns_hw1": (2, 4, 1, 1, 2),    # 1x1 image
                              "gns_tile": (2, 4, 20, 15, 2)}.items():  # planes over one 256-tile
    x = (torch.randn(B, C, H, W) * 2 + 3).requires_grad_(True)
    m = torch.nn.GroupNorm(G, C, eps=1e-6)
    with torch.no_grad():
        m.weight.copy_(torch.randn(C) * 3)
        m.bias.copy_(torch.randn(C))
    y = torch.nn.functional.silu(m(x))
    dy = torch.randn_like(y)
    y.backward(dy)
    T.update({f"{name}.x": x, f"{name}.w": m.weight, f"{name}.b": m.bias, f"{name}.y": y,
              f"{name}.dy": dy, f"{name}.dx": x.grad, f"{name}.dw": m.weight.grad, f"{name}.db": m.bias.grad})
save("ops_fused_groupnorm_silu.safetensors", T)

# ---- nearest x2 upsampling then a 3x3 pad-1 conv (the decoder's Upsample).
T = {}
for name, (B, Cin, H, W, Cout) in {"up": (2, 3, 4, 5, 4),     # general, non-square
                                   "up_1x1": (1, 2, 1, 1, 3),  # 1x1 input: every tap at an edge
                                   "up_big": (3, 5, 6, 6, 2)}.items():
    x = torch.randn(B, Cin, H, W).requires_grad_(True)
    conv = torch.nn.Conv2d(Cin, Cout, 3, padding=1)
    y = conv(torch.nn.functional.interpolate(x, scale_factor=2.0, mode="nearest"))
    dy = torch.randn_like(y)
    y.backward(dy)
    T.update({f"{name}.x": x, f"{name}.w": conv.weight, f"{name}.b": conv.bias, f"{name}.y": y,
              f"{name}.dy": dy, f"{name}.dx": x.grad, f"{name}.dw": conv.weight.grad, f"{name}.db": conv.bias.grad})
save("ops_fused_upconv.safetensors", T)
