"""Writes tests/ref/ssl_ref.safetensors: VICReg (src/model/ssl.h, the official vicreg/main.py
formulation without the expander) on fixed rows, and the whole self-supervised objective of
the REPA target encoder (global VICReg on the token means of two views plus w_dense times
VICReg on given dense token pairs) through the encoder of gen/repa_nets.py, with its parameter
gradients, for test_ssl."""
import torch
import torch.nn.functional as F
from gen.common import F64, save, setup
from gen.repa_nets import Encoder

setup(seed=7)


def off_diagonal(m):
    n = m.shape[0]
    return m.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def vicreg(x, y, inv=25.0, var=25.0, cov=1.0, eps=1e-4):
    """vicreg/main.py VICReg.forward after the projector: returns (loss, inv, var, cov)."""
    N, D = x.shape
    repr_loss = F.mse_loss(x, y)
    x = x - x.mean(dim=0)
    y = y - y.mean(dim=0)
    std_x = torch.sqrt(x.var(dim=0) + eps)
    std_y = torch.sqrt(y.var(dim=0) + eps)
    std_loss = torch.mean(F.relu(1 - std_x)) / 2 + torch.mean(F.relu(1 - std_y)) / 2
    cov_x = (x.T @ x) / (N - 1)
    cov_y = (y.T @ y) / (N - 1)
    cov_loss = off_diagonal(cov_x).pow_(2).sum().div(D) + off_diagonal(cov_y).pow_(2).sum().div(D)
    return inv * repr_loss + var * std_loss + cov * cov_loss, repr_loss, std_loss, cov_loss


out = {}
# ---- VICReg alone: N=10 rows, D=6, columns scaled so that some std are below 1, some above ----
N, D, scale = 10, 6, 0.7
col = torch.tensor([0.3, 0.5, 0.8, 1.5, 2.0, 3.0], dtype=F64)
z1 = (torch.randn(N, D, dtype=F64) * col).requires_grad_()
z2 = (torch.randn(N, D, dtype=F64) * col + 0.5 * z1.detach()).requires_grad_()
loss, i, v, c = vicreg(z1, z2)
(scale * loss).backward()
out.update({"vic_z1": z1.detach(), "vic_z2": z2.detach(), "vic_loss": loss.detach().reshape(1),
            "vic_parts": torch.stack([i, v, c]).detach(), "vic_dz1": z1.grad, "vic_dz2": z2.grad,
            "vic_scale": torch.tensor([scale])})

# ---- the objective: C=3, S=8, ch [4, 8], 2 convs, 2 groups; grid 2 (stage 1, 4x4, pooled by 2) --
B, G, w_dense = 3, 2, 0.5
enc = Encoder(3, [4, 8], 2, 2, 3).double()
with torch.no_grad():
    for n, p in enc.named_parameters():
        if "norm" in n or "bias" in n:
            p.add_(0.2 * torch.randn_like(p))
xa = torch.randn(B, 3, 8, 8, dtype=F64)
xb = torch.randn(B, 3, 8, 8, dtype=F64)
T = G * G
# dense pairs (b*T + n of views a, b*T + m of views b); token 5 of b appears twice (scatter-add)
pa = torch.tensor([0, 1, 2, 3, 4, 6, 7, 9, 10, 11])
pb = torch.tensor([0, 1, 3, 2, 5, 5, 7, 8, 11, 10])
_, outs = enc(torch.cat([xa, xb]))
tok = F.avg_pool2d(outs[1], 2).flatten(2).transpose(1, 2)  # (2B, T, F)
g = tok.mean(dim=1)
lg = vicreg(g[:B], g[B:])[0]
ta, tb = tok[:B].reshape(B * T, -1), tok[B:].reshape(B * T, -1)
ld = vicreg(ta[pa], tb[pb])[0]
total = lg + w_dense * ld
total.backward()
for n, p in enc.state_dict().items():
    out["enc." + n] = p
for n, p in enc.named_parameters():
    out["enc_grad." + n] = p.grad if p.grad is not None else torch.zeros_like(p)  # the head: unused
out.update({"obj_xa": xa, "obj_xb": xb, "obj_pa": pa.double(), "obj_pb": pb.double(),
            "obj_loss": total.detach().reshape(1), "obj_global": lg.detach().reshape(1),
            "obj_dense": ld.detach().reshape(1), "obj_w_dense": torch.tensor([w_dense])})
save("ssl_ref.safetensors", out)
print("vicreg", loss.item(), "objective", total.item())
