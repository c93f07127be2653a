"""Writes tests/ref/ops_gemm_{conv,linear,resample}.safetensors: PyTorch references for the
matrix-product ops (conv2d, linear) and the resampling ops (upsample2x, patchify, unpatchify).

Each case "<name>." stores its sizes in "<name>.cfg", the inputs, the forward output and the
gradients of sum(out * g) for a random probe g. The maths runs in float64 so the references
are exact to float32 rounding; the C side compares at rtol 1e-5."""
import torch
import torch.nn.functional as F
from gen.common import F64, save, setup

setup(seed=1234)


def leaf(*shape):
    return torch.randn(*shape, dtype=F64).requires_grad_(True)


# name: B, Cin, H, W, Cout, k, stride, pad_t, pad_l, pad_b, pad_r, bias
CONV = {
    "pad1": (2, 3, 5, 7, 4, 3, 1, 1, 1, 1, 1, 1),
    "ldm_down": (2, 2, 7, 5, 3, 3, 2, 0, 0, 1, 1, 1),      # LDM downsample on odd sizes
    "s2_pad1_cin1": (1, 1, 5, 5, 2, 3, 2, 1, 1, 1, 1, 1),
    "k1_small": (2, 3, 4, 3, 5, 1, 1, 0, 0, 0, 0, 1),      # staged 1x1 path
    "k1_direct": (2, 3, 16, 16, 4, 1, 1, 0, 0, 0, 0, 1),   # direct 1x1 path (P >= 256)
    "k1_img1x1": (3, 4, 1, 1, 2, 1, 1, 0, 0, 0, 0, 1),
    "k3_img1x1": (2, 2, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1),
    "k2_s2_patch": (2, 4, 4, 6, 5, 2, 2, 0, 0, 0, 0, 1),
    "cin1_nobias": (1, 1, 6, 5, 3, 3, 1, 1, 1, 1, 1, 0),
    "asym_pad": (2, 2, 4, 5, 3, 3, 1, 2, 0, 1, 2, 1),
    # the implicit-GEMM path (own AVX-512 kernel): stride 1, widths 16 / 8
    "implicit_w16": (2, 3, 16, 16, 5, 3, 1, 1, 1, 1, 1, 1),
    "implicit_w8_k2_asym": (2, 3, 8, 8, 4, 2, 1, 0, 1, 1, 0, 1),
    "implicit_s2_ldm": (2, 3, 16, 16, 5, 3, 2, 0, 0, 1, 1, 1),
    "windows_w32": (1, 16, 32, 32, 4, 3, 1, 1, 1, 1, 1, 1),   # shifted windows, both directions
    "phase_s2_ldm": (1, 16, 16, 16, 4, 3, 2, 0, 0, 1, 1, 1),  # stride-2 input gradient by phases
}
t = {}
for name, cfg in CONV.items():
    B, Cin, H, W, Cout, k, s, pt, pl, pb, pr, hb = cfg
    x, w = leaf(B, Cin, H, W), leaf(Cout, Cin, k, k)
    b = leaf(Cout) if hb else None
    y = F.conv2d(F.pad(x, (pl, pr, pt, pb)), w, b, stride=s)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    t[f"{name}.cfg"] = torch.tensor(cfg, dtype=F64)
    t.update({f"{name}.x": x, f"{name}.w": w, f"{name}.out": y, f"{name}.g": g,
              f"{name}.dx": x.grad, f"{name}.dw": w.grad})
    if hb:
        t.update({f"{name}.b": b, f"{name}.db": b.grad})
save("ops_gemm_conv.safetensors", t)

# name: N, I, O, bias
LINEAR = {"basic": (3, 5, 4, 1), "n1_i1_nobias": (1, 1, 3, 0), "o1": (7, 16, 1, 1), "wide": (33, 20, 70, 1)}
t = {}
for name, cfg in LINEAR.items():
    N, I, O, hb = cfg
    x, w = leaf(N, I), leaf(O, I)
    b = leaf(O) if hb else None
    y = F.linear(x, w, b)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    t[f"{name}.cfg"] = torch.tensor(cfg, dtype=F64)
    t.update({f"{name}.x": x, f"{name}.w": w, f"{name}.out": y, f"{name}.g": g,
              f"{name}.dx": x.grad, f"{name}.dw": w.grad})
    if hb:
        t.update({f"{name}.b": b, f"{name}.db": b.grad})
save("ops_gemm_linear.safetensors", t)


def patchify(x, p):  # (B,C,H,W) -> (B, T, C*p*p), token elements [c, i, j]
    B, C, H, W = x.shape
    return x.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5).reshape(B, -1, C * p * p)


def unpatchify(x, C, H, W, p):  # DiT: (B, T, p*p*C) -> (B,C,H,W)
    B = x.shape[0]
    x = x.reshape(B, H // p, W // p, p, p, C)
    return torch.einsum("nhwpqc->nchpwq", x).reshape(B, C, H, W)


t = {}
# name: B, C, H, W (upsample)  /  B, C, H, W, p (patchify, unpatchify)
for name, cfg in {"up_a": (2, 3, 3, 5), "up_1x1": (1, 1, 1, 1)}.items():
    B, C, H, W = cfg
    x = leaf(B, C, H, W)
    y = F.interpolate(x, scale_factor=2.0, mode="nearest")
    g = torch.randn_like(y)
    (y * g).sum().backward()
    t.update({f"{name}.cfg": torch.tensor(cfg, dtype=F64), f"{name}.x": x, f"{name}.out": y,
              f"{name}.g": g, f"{name}.dx": x.grad})
for name, cfg in {"p2": (2, 3, 4, 6, 2), "p3": (1, 2, 3, 9, 3), "p1": (2, 2, 3, 2, 1)}.items():
    B, C, H, W, p = cfg
    x = leaf(B, C, H, W)
    y = patchify(x, p)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    t.update({f"patch_{name}.cfg": torch.tensor(cfg, dtype=F64), f"patch_{name}.x": x,
              f"patch_{name}.out": y, f"patch_{name}.g": g, f"patch_{name}.dx": x.grad})
    x = leaf(B, (H // p) * (W // p), p * p * C)
    y = unpatchify(x, C, H, W, p)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    t.update({f"unpatch_{name}.cfg": torch.tensor(cfg, dtype=F64), f"unpatch_{name}.x": x,
              f"unpatch_{name}.out": y, f"unpatch_{name}.g": g, f"unpatch_{name}.dx": x.grad})
save("ops_gemm_resample.safetensors", t)
