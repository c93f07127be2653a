"""Writes tests/ref/perceptual_ref.safetensors: the LPIPS-style distance of
src/model/perceptual.h (LPIPS' normalize_tensor per position, squared difference, summed over
channels, spatial mean, summed over the encoder's stages, mean over the batch, every channel
weight 1) through the encoder of gen/repa_nets.py, and its gradient to the reconstruction, for
test_perceptual."""
import torch
from gen.common import F64, save, setup
from gen.repa_nets import Encoder

setup(seed=3)


def normalize_tensor(x, eps=1e-10):
    """LPIPS (lpips/__init__.py): unit length over channels at every position."""
    norm = torch.sqrt(torch.sum(x ** 2, dim=1, keepdim=True))
    return x / (norm + eps)


def perceptual(enc, x, xr):
    _, fx = enc(x)
    _, fr = enc(xr)
    d = 0
    for a, b in zip(fx, fr):
        d = d + ((normalize_tensor(a) - normalize_tensor(b)) ** 2).sum(dim=1).mean(dim=(1, 2))
    return d.mean()


B, w = 2, 0.6
enc = Encoder(3, [4, 8], 2, 2, 3).double()
with torch.no_grad():
    for n, p in enc.named_parameters():
        if "norm" in n or "bias" in n:
            p.add_(0.2 * torch.randn_like(p))
x = torch.randn(B, 3, 8, 8, dtype=F64)
xr = (x + 0.5 * torch.randn(B, 3, 8, 8, dtype=F64)).requires_grad_()
loss = perceptual(enc, x, xr)
(w * loss).backward()
out = {"enc." + n: p for n, p in enc.state_dict().items()}
out.update({"x": x, "xr": xr.detach(), "loss": loss.detach().reshape(1), "dxr": xr.grad,
            "w": torch.tensor([w]), "same": perceptual(enc, x, x.clone()).detach().reshape(1)})
save("perceptual_ref.safetensors", out)
print("perceptual", loss.item())
