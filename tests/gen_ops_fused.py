"""Writes tests/ref/ops_fused_groupnorm_silu.safetensors: forward output and autograd
gradients (from a random upstream gradient) of SiLU(GroupNorm(x)) in PyTorch, for
tests/test_ops_fused.c."""
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
import torch
import refio

torch.manual_seed(2718)
torch.set_num_threads(1)
out = os.path.join(os.path.dirname(__file__), "ref")
os.makedirs(out, exist_ok=True)

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
refio.save(os.path.join(out, "ops_fused_groupnorm_silu.safetensors"), T)
