"""Writes tests/ref/ops_norm_{groupnorm,layernorm,batchnorm}.safetensors: forward outputs and
autograd gradients (from a random upstream gradient) of PyTorch's GroupNorm, LayerNorm and
BatchNorm2d, for tests/test_ops_norm.c."""
import torch
from gen.common import save, setup

setup(seed=4321)

# ---- GroupNorm (affine, eps 1e-6 like the VAE): inputs carry an offset so the statistics
# are not trivially centred.
T = {}
for name, (B, C, H, W, G) in {"gn": (2, 6, 3, 3, 3),       # general
                              "gn_cg": (1, 4, 3, 2, 4),    # C == G, batch 1
                              "gn_g1": (3, 5, 2, 2, 1),    # one group, odd C
                              "gn_hw1": (2, 4, 1, 1, 2)}.items():  # 1x1 image
    x = (torch.randn(B, C, H, W) * 2 + 3).requires_grad_(True)
    m = torch.nn.GroupNorm(G, C, eps=1e-6)
    with torch.no_grad():
        m.weight.copy_(torch.randn(C))
        m.bias.copy_(torch.randn(C))
    y = m(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    T.update({f"{name}.x": x, f"{name}.w": m.weight, f"{name}.b": m.bias, f"{name}.y": y,
              f"{name}.dy": dy, f"{name}.dx": x.grad, f"{name}.dw": m.weight.grad, f"{name}.db": m.bias.grad})
save("ops_norm_groupnorm.safetensors", T)

# ---- LayerNorm over the last dim, with and without affine.
T = {}
for name, (N, C, affine, eps) in {"ln": (7, 12, True, 1e-5), "ln_noaff": (5, 9, False, 1e-6),
                                  "ln_n1c2": (1, 2, True, 1e-6)}.items():
    x = (torch.randn(N, C) * 1.5 - 2).requires_grad_(True)
    m = torch.nn.LayerNorm(C, eps=eps, elementwise_affine=affine)
    if affine:
        with torch.no_grad():
            m.weight.copy_(torch.randn(C))
            m.bias.copy_(torch.randn(C))
    y = m(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    T.update({f"{name}.x": x, f"{name}.y": y, f"{name}.dy": dy, f"{name}.dx": x.grad})
    if affine:
        T.update({f"{name}.w": m.weight, f"{name}.b": m.bias, f"{name}.dw": m.weight.grad,
                  f"{name}.db": m.bias.grad})
save("ops_norm_layernorm.safetensors", T)

# ---- BatchNorm2d without affine, eps 1e-4 and momentum 0.1 like REPA-E's latent BN:
# three training steps (running statistics after each), then eval mode.
T = {}
for name, (B, C, H, W) in {"bn": (3, 4, 2, 3), "bn_b1": (1, 2, 1, 5)}.items():
    m = torch.nn.BatchNorm2d(C, eps=1e-4, momentum=0.1, affine=False)
    m.train()
    for step in range(3):
        x = (torch.randn(B, C, H, W) * (step + 1) + torch.randn(1, C, 1, 1) * 2).requires_grad_(True)
        y = m(x)
        dy = torch.randn_like(y)
        y.backward(dy)
        T.update({f"{name}.{step}.x": x, f"{name}.{step}.y": y, f"{name}.{step}.dy": dy,
                  f"{name}.{step}.dx": x.grad, f"{name}.{step}.running_mean": m.running_mean.clone(),
                  f"{name}.{step}.running_var": m.running_var.clone()})
    m.eval()
    x = (torch.randn(B, C, H, W) * 2).requires_grad_(True)
    y = m(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    T.update({f"{name}.eval.x": x, f"{name}.eval.y": y, f"{name}.eval.dy": dy, f"{name}.eval.dx": x.grad})
save("ops_norm_batchnorm.safetensors", T)
