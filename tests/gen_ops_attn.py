"""Writes tests/ref/ops_attn.safetensors: multi-head token attention (SiT) and the VAE
AttnBlock's spatial attention, forward outputs, softmax probabilities and autograd gradients
from a random upstream gradient, for tests/test_ops_attn.c."""
import math
import torch
from gen.common import save, setup

setup(seed=2024)
T = {}

# Multi-head: qkv (B,T,3C) split into q|k|v, heads of hs = C/NH channels, scale 1/sqrt(hs).
for name, (B, N, C, NH) in {"mha": (2, 5, 12, 3), "mha_t7": (1, 7, 8, 2), "mha_nh1": (2, 3, 4, 1),
                            "mha_t1": (2, 1, 6, 2), "mha_big": (1, 72, 16, 2)}.items():
    hs = C // NH
    qkv = (torch.randn(B, N, 3 * C) * 1.5).requires_grad_(True)
    q, k, v = qkv.split(C, dim=2)
    q, k, v = [t.reshape(B, N, NH, hs).transpose(1, 2) for t in (q, k, v)]
    att = torch.softmax(q @ k.transpose(-2, -1) * (1.0 / math.sqrt(hs)), dim=-1)
    y = (att @ v).transpose(1, 2).reshape(B, N, C)
    dy = torch.randn_like(y)
    y.backward(dy)
    T.update({f"{name}.qkv": qkv, f"{name}.att": att, f"{name}.y": y, f"{name}.dy": dy,
              f"{name}.dqkv": qkv.grad})

# Spatial (LDM AttnBlock core): q, k, v (B,C,H,W) -> (B,C,HW); w = softmax(q^T k / sqrt(C)).
for name, (B, C, H, W) in {"sp": (2, 6, 1, 5), "sp_hw1": (1, 4, 1, 1), "sp_hw7": (1, 3, 7, 1),
                           "sp_big": (2, 8, 8, 8)}.items():
    q, k, v = [torch.randn(B, C, H, W).requires_grad_(True) for _ in range(3)]
    qf = q.reshape(B, C, H * W).permute(0, 2, 1)
    att = torch.softmax(torch.bmm(qf, k.reshape(B, C, H * W)) * (int(C) ** (-0.5)), dim=2)
    y = torch.bmm(v.reshape(B, C, H * W), att.permute(0, 2, 1)).reshape(B, C, H, W)
    dy = torch.randn_like(y)
    y.backward(dy)
    T.update({f"{name}.q": q, f"{name}.k": k, f"{name}.v": v, f"{name}.att": att, f"{name}.y": y,
              f"{name}.dy": dy, f"{name}.dq": q.grad, f"{name}.dk": k.grad, f"{name}.dv": v.grad})

save("ops_attn.safetensors", T)
