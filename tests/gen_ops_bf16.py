"""Writes tests/ref/ops_bf16.safetensors: PyTorch references for the bf16 convolutions
(train.precision = "bf16", src/ops/gemm_bf16.c). The C side rounds the operands of every
product to bfloat16 (nearest even) and sums in fp32, so the reference is torch's conv2d in
float64 of the operands rounded by torch itself (`x.bfloat16()`): forward, and the input and
weight gradients of sum(out * g) with g rounded too (the backward products round dout). The C
test compares at fp32-summation tolerance; a different rounding or pairing of k would be off by
bf16's 2^-8.

No finite-difference check: the bf16 function is piecewise constant in each operand's rounding
interval, so its derivative is the fp32 op's (tests/test_ops_conv.c checks that one).

Each case "<name>." stores "<name>.cfg" (Cin, H, W, Cout, k, stride, pad_t, pad_l, pad_b, pad_r;
batch 1), x, w, g (float32, unrounded: the C side rounds them), out, dx, dw."""
import torch
import torch.nn.functional as F
from gen.common import F64, save, setup

setup(seed=4321)

# the kernel paths: windows of 32-, 16- and 8-wide rows, stride 2 by phases, 1x1, explicit
CASES = {
    "win32": (16, 32, 32, 16, 3, 1, 1, 1, 1, 1),
    "win16": (16, 16, 16, 32, 3, 1, 1, 1, 1, 1),
    "win8": (32, 8, 8, 32, 3, 1, 1, 1, 1, 1),
    "down": (8, 32, 32, 16, 3, 2, 0, 0, 1, 1),
    "k1": (32, 16, 16, 64, 1, 1, 0, 0, 0, 0),
    "cin4": (4, 8, 8, 64, 3, 1, 1, 1, 1, 1),
}

out = {}
for name, cfg in CASES.items():
    cin, h, w_, cout, k, s, pt, pl, pb, pr = cfg
    x = torch.randn(1, cin, h, w_)
    w = torch.randn(cout, cin, k, k)
    ho, wo = (h + pt + pb - k) // s + 1, (w_ + pl + pr - k) // s + 1
    g = torch.randn(1, cout, ho, wo)
    xr = x.bfloat16().to(F64).requires_grad_(True)
    wr = w.bfloat16().to(F64).requires_grad_(True)
    y = F.conv2d(F.pad(xr, (pl, pr, pt, pb)), wr, stride=s)
    (y * g.bfloat16().to(F64)).sum().backward()
    out[name + ".cfg"] = torch.tensor(cfg, dtype=torch.float32)
    out[name + ".x"], out[name + ".w"], out[name + ".g"] = x, w, g
    out[name + ".out"], out[name + ".dx"], out[name + ".dw"] = y, xr.grad, wr.grad
save("ops_bf16.safetensors", out)
