"""Writes tests/ref/ops_act.safetensors: SiLU, tanh-GELU, LeakyReLU(0.2) and softmax forward and input
gradients from PyTorch autograd, for tests/test_ops_act.c."""
import torch
from gen.common import save, setup

setup(seed=1234)
T = {}

# Elementwise: a spread of ordinary values plus the saturated tails and exact zeros.
x = torch.cat([torch.randn(200) * 3, torch.linspace(-20, 20, 41), torch.tensor([0.0, -0.0, 1e-4, -1e-4])])
for name, fn in [("silu", torch.nn.SiLU()), ("gelu", torch.nn.GELU(approximate="tanh")),
                 ("leaky", torch.nn.LeakyReLU(0.2))]:
    xi = x.clone().requires_grad_(True)
    y = fn(xi)
    dy = torch.randn_like(y)
    y.backward(dy)
    T[name + ".x"], T[name + ".y"], T[name + ".dy"], T[name + ".dx"] = x, y, dy, xi.grad

# Softmax over the last dim: rows with large offsets (stability), a constant row, C = 1.
for name, xs in [("softmax", torch.randn(6, 11) * 4 + torch.tensor([0, 100, -100, 50, 0, 0]).view(6, 1)),
                 ("softmax1", torch.randn(3, 1))]:
    if name == "softmax":
        xs[4] = 2.5
    xi = xs.clone().requires_grad_(True)
    y = torch.softmax(xi, dim=-1)
    dy = torch.randn_like(y)
    y.backward(dy)
    T[name + ".x"], T[name + ".y"], T[name + ".dy"], T[name + ".dx"] = xs, y, dy, xi.grad

save("ops_act.safetensors", T)
