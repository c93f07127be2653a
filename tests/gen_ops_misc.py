"""Writes tests/ref/ops_misc_{adaln,loss,optim}.safetensors: PyTorch references for the adaLN
and embedding ops, the losses, and the optimiser pieces (AdamW, clip_grad_norm_, EMA).
Gradients come from autograd on sum(out * probe) (ops) or dloss * loss (losses)."""
import math
import torch
import torch.nn.functional as F
from gen.common import save, setup

setup(seed=0)


def leaf(*shape, scale=1.0):
    return (torch.randn(*shape) * scale).requires_grad_(True)


# ---- adaLN, embeddings -------------------------------------------------------------------------
R = {}


def adaln_case(tag, B, T, C):
    # shift/scale/gate are slices of one (B, 6C) adaLN output, as in a SiT block
    ada = leaf(B, 6 * C, scale=0.5)
    x, y = leaf(B, T, C), leaf(B, T, C)
    shift, scale, gate = ada[:, 0:C], ada[:, C:2 * C], ada[:, 2 * C:3 * C]
    mod = x * (1 + scale[:, None, :]) + shift[:, None, :]
    probe = torch.randn(B, T, C)
    (mod * probe).sum().backward()
    R.update({f"{tag}.ada": ada, f"{tag}.x": x, f"{tag}.y": y, f"{tag}.probe": probe,
              f"{tag}.mod": mod, f"{tag}.mod_dx": x.grad.clone(), f"{tag}.mod_dada": ada.grad.clone()})
    ada.grad, x.grad = None, None
    res = x + gate[:, None, :] * y
    (res * probe).sum().backward()
    R.update({f"{tag}.gate": res, f"{tag}.gate_dx": x.grad, f"{tag}.gate_dy": y.grad,
              f"{tag}.gate_dada": ada.grad})


adaln_case("big", 2, 5, 70)  # C > 64 crosses a column chunk of the backward
adaln_case("tiny", 1, 1, 3)  # batch 1, T = 1

V, B, C = 7, 5, 6
table = leaf(V, C)
labels = torch.tensor([3, 0, 3, 6, 3])
emb = table[labels]
probe = torch.randn(B, C)
(emb * probe).sum().backward()
R.update({"emb.table": table, "emb.labels": labels.float(), "emb.probe": probe, "emb.out": emb,
          "emb.dtable": table.grad})


def timestep_embedding(t, dim, max_period=10000):
    # DiT/SiT TimestepEmbedder.timestep_embedding
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(start=0, end=half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    e = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        e = torch.cat([e, torch.zeros_like(e[:, :1])], dim=-1)
    return e


for tag, dim, tv in [("ts16", 16, [0.0, 0.3, 0.999, 1.0]), ("ts7", 7, [0.25, 0.75]),
                     ("ts3", 3, [0.6]), ("tsbig", 32, [3.0, 250.0, 999.0])]:
    t = torch.tensor(tv).requires_grad_(True)
    e = timestep_embedding(t, dim)
    probe = torch.randn(e.shape)
    (e * probe).sum().backward()
    R.update({f"{tag}.t": t, f"{tag}.probe": probe, f"{tag}.out": e, f"{tag}.dt": t.grad})

save("ops_misc_adaln.safetensors", R)

# ---- losses --------------------------------------------------------------------------------------
R = {}
DL = 1.7  # dloss: backward adds dloss * dL/dx
n = 37
p, t = leaf(n), torch.randn(n)
with torch.no_grad():
    p[::5] = t[::5]  # exact ties: l1's subgradient there is 0
R.update({"pred": p.detach().clone(), "target": t})
loss = F.mse_loss(p, t)
(DL * loss).backward()
R.update({"mse": loss.reshape(1), "mse_grad": p.grad.clone()})
p.grad = None
loss = F.l1_loss(p, t)
(DL * loss).backward()
R.update({"l1": loss.reshape(1), "l1_grad": p.grad.clone()})

mu, lv = leaf(n), leaf(n)
loss = 0.5 * torch.mean(mu ** 2 + torch.exp(lv) - lv - 1)
(DL * loss).backward()
R.update({"kl.mu": mu, "kl.logvar": lv, "kl": loss.reshape(1), "kl.dmu": mu.grad, "kl.dlogvar": lv.grad})

# REPA-E's KL (loss/losses.py): summed over C,H,W and averaged over the batch, on a (3,4,2,5)
# latent; its own generator, so the draws of every other reference stay as they were.
gk = torch.Generator().manual_seed(11)
mu = torch.randn(3, 4, 2, 5, generator=gk).requires_grad_(True)
lv = (0.5 * torch.randn(3, 4, 2, 5, generator=gk)).requires_grad_(True)
kl = 0.5 * torch.sum(mu ** 2 + torch.exp(lv) - 1 - lv, dim=[1, 2, 3])
loss = torch.sum(kl) / kl.shape[0]
(DL * loss).backward()
R.update({"kl_sum.mu": mu, "kl_sum.logvar": lv, "kl_sum": loss.reshape(1), "kl_sum.dmu": mu.grad,
          "kl_sum.dlogvar": lv.grad})


def neg_cos(tag, a, b):
    a, b = a.requires_grad_(True), b.requires_grad_(True)
    # eps 1e-8 as ops.h specifies (F.normalize's own default is 1e-12)
    loss = -(F.normalize(a, dim=-1, eps=1e-8) * F.normalize(b, dim=-1, eps=1e-8)).sum(dim=-1).mean()
    (DL * loss).backward()
    R.update({f"{tag}.a": a, f"{tag}.b": b, f"{tag}": loss.reshape(1), f"{tag}.da": a.grad, f"{tag}.db": b.grad})


neg_cos("cos", torch.randn(5, 9), torch.randn(5, 9))
a0 = torch.randn(3, 4)
a0[1] = 0  # a zero row: F.normalize divides by eps and the norm passes no gradient
neg_cos("cos0", a0, torch.randn(3, 4))


def smooth(z):
    dv = z[:, :, 1:, :] - z[:, :, :-1, :]
    dh = z[:, :, :, 1:] - z[:, :, :, :-1]
    lv = (dv ** 2).mean() if dv.numel() else z.sum() * 0
    lh = (dh ** 2).mean() if dh.numel() else z.sum() * 0
    return lv + lh


for tag, shape in [("sm35", (2, 3, 3, 5)), ("smh1", (1, 2, 1, 5)), ("smw1", (1, 1, 4, 1)), ("sm11", (1, 1, 1, 1))]:
    z = leaf(*shape)
    loss = smooth(z)
    (DL * loss).backward()
    R.update({f"{tag}.z": z, f"{tag}": loss.reshape(1), f"{tag}.dz": z.grad})

save("ops_misc_loss.safetensors", R)

# ---- optimiser -----------------------------------------------------------------------------------
R = {}
n, steps = 50, 5
for tag, lr, betas, eps, wd in [("adamw_a", 1e-2, (0.9, 0.999), 1e-8, 0.1),
                                ("adamw_b", 3e-3, (0.8, 0.95), 1e-6, 0.0)]:
    p = torch.randn(n).requires_grad_(True)
    R[f"{tag}.p0"] = p.detach().clone()
    opt = torch.optim.AdamW([p], lr=lr, betas=betas, eps=eps, weight_decay=wd)
    grads, ps = torch.randn(steps, n), []
    grads[1] *= 1e-3  # small gradients exercise eps
    for s in range(steps):
        p.grad = grads[s].clone()
        opt.step()
        ps.append(p.detach().clone())
    st = opt.state[p]
    R.update({f"{tag}.grads": grads, f"{tag}.params": torch.stack(ps), f"{tag}.m": st["exp_avg"],
              f"{tag}.v": st["exp_avg_sq"]})

for tag, scale in [("clip_big", 3.0), ("clip_small", 0.01)]:
    g = torch.randn(100) * scale
    p = torch.zeros(100, requires_grad=True)
    p.grad = g.clone()
    norm = torch.nn.utils.clip_grad_norm_([p], max_norm=1.0)
    R.update({f"{tag}.g": g, f"{tag}.norm": norm.reshape(1), f"{tag}.clipped": p.grad})

save("ops_misc_optim.safetensors", R)
