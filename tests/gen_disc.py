"""Writes tests/ref/disc.safetensors for tests/test_disc.c: the PatchGAN discriminator
(gen/patchgan.py, taming's NLayerDiscriminator) in training mode -- its state_dict under
"sd.", an input, the logits, the input and weight gradients of sum(logits * probe), and the
running statistics after that forward -- for two sizes; and both hinge losses with their
gradients. The maths runs in float64."""
import torch
from gen.common import F64, save, setup
from gen.patchgan import PatchGAN, hinge_d, hinge_g, state_dict_f32, weights_init

setup(seed=4321)
T = {}
for case, (C, S, L, ch, B) in {"a": (3, 16, 2, 8, 3), "b": (1, 32, 3, 4, 2)}.items():
    d = PatchGAN(C, ch, L).to(F64)
    d.apply(weights_init)
    for k, v in state_dict_f32(d).items():
        T[f"{case}.sd.{k}"] = v.clone()
    x = (torch.rand(B, C, S, S, dtype=F64) * 2 - 1).requires_grad_(True)
    d.train()
    y = d(x)
    probe = torch.randn_like(y)
    (y * probe).sum().backward()
    T[f"{case}.x"], T[f"{case}.y"], T[f"{case}.probe"], T[f"{case}.dx"] = x.detach(), y.detach(), probe, x.grad
    for k, p in d.named_parameters():
        T[f"{case}.grad.{k}"] = p.grad
    for k, v in state_dict_f32(d).items():
        if "running" in k:
            T[f"{case}.after.{k}"] = v

# Hinge losses on logits spread around the margins (+-1) with a few exactly on them.
real = torch.cat([torch.randn(37, dtype=F64) * 1.5, torch.tensor([1.0, -1.0, 0.0], dtype=F64)]).requires_grad_(True)
fake = torch.cat([torch.randn(37, dtype=F64) * 1.5, torch.tensor([1.0, -1.0, 0.0], dtype=F64)]).requires_grad_(True)
ld = hinge_d(real, fake)
ld.backward()
T["hinge.real"], T["hinge.fake"] = real.detach(), fake.detach()
T["hinge.d"], T["hinge.d_dreal"], T["hinge.d_dfake"] = ld.detach().reshape(1), real.grad.clone(), fake.grad.clone()
fake.grad = None
lg = hinge_g(fake)
lg.backward()
T["hinge.g"], T["hinge.g_dfake"] = lg.detach().reshape(1), fake.grad.clone()
save("disc.safetensors", T)
