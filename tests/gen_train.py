"""gen_train.py: PyTorch references for the training step of src/train/trainer.c (tests/test_train_step.c).

Five optimiser steps of the whole REPA-E step at the `tiny` size, written from
docs/losses.md ("The five losses", "What updates what") and nothing else: the five losses, the
gradient routing by detach(), the KL reduced as loss.kl_reduce says (recipe key "kl": "sum" over
C,H,W averaged over the batch, as REPA-E's loss/losses.py, or "mean" over every element), latent BatchNorm in training mode, one AdamW per side, global-norm
clipping per side, the SiT EMA (with the warm-up of train.ema_warmup in the "repae" and "repa" recipes). The models come from gen_models.py (same names as the C side).

Files:
  tests/ref/train_init.safetensors      the shared initial weights "init.vae.*", "init.sit.*"
                                        (randomised so that every path carries gradient)
  tests/ref/train_<recipe>.safetensors  per step k: the inputs "in.<name>.<k>" the C test injects
                                        (x, y, ydrop, eps_vae, t, eps, t2, eps2) and the logged
                                        metrics "ref.metrics.<k>" (order below); after the 5 steps
                                        the weights "final.vae.*", "final.sit.*", the EMA
                                        "final.ema.*" and the BN buffers "final.bn.*"
The models run in float64 on the float32 init, so the stored results are the exact answer.

The "repa" recipe (align.kind "repa", src/model/repa.h, REPA-E's train_repae.py) uses a frozen target
encoder of the default layout of src/model/encoder.c for 16x16 RGB (ch 16/32/64, two convs, GroupNorm 8)
whose weights are not stored but built by enc_weight() below (the C test builds the same); it stores
the projector's initial weights "init.proj.*" and after the 5 steps "final.proj.*" and
"final.ema_proj.*" (the SiT's EMA, checked by the other recipes, and t2/eps2 are left out to keep
the file small). Its step is two passes sharing t and eps:
  VAE side: SiT and projector frozen (requires_grad False), BN in eval mode (running statistics),
            labels y not dropped; w_vae * align reaches only the VAE (through SiT blocks <= depth)
  SiT side: BN in training mode on the detached latents, labels dropped; w_diff * diffusion +
            w_sit * align train the SiT and the projector, clipped together as one set
The logged align is the SiT side's and the total uses w_sit. "repa_naive" adds grad_to_vae
(only the diffusion gradient joins the VAE side) and "repa_batch" align.vae_bn "batch" (the
VAE-side BN with batch statistics, running statistics untouched).

The "repa_gan" recipe adds the GAN term of REPA-E's loss module (docs/losses.md, "The GAN term";
src/train/gan_step.c) from step gan_start: the generator term w_gan * -mean(D(xr)) in the VAE's
loss through a frozen PatchGAN D (gen/patchgan.py, BN in training mode), and after the VAE and
SiT updates D's hinge loss on D(x) and D(xr.detach()), its own clip and AdamW. It stores D's
initial weights "init.disc.*" (its own generator, larger than taming's init so that the term
moves the VAE measurably), per step from gan_start "ref.gan.<k>" (gan_g, gan_d, logits_real,
logits_fake, grad_norm_disc), and D's final state "final.disc.*".
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from gen.common import save, setup
from gen.patchgan import PatchGAN, hinge_d, state_dict_f32
from gen.repa_nets import Encoder, Projectors, repa_loss
from gen_models import AutoencoderKL, SiT, randomise

setup(threads=2)
STEPS, B, NUM_CLASSES = 5, 4, 5
METRICS = ["recon", "kl", "diffusion", "align", "smooth", "total", "latent_std",
           "grad_norm_vae", "grad_norm_sit", "lr_vae", "lr_sit"]

# Each recipe: the config keys the C test sets too (tests/test_train_step.c mirrors them).
RECIPES = {
    # REPA-E without REPA: linear, velocity, latent BN, stop-gradient, l1, no alignment.
    "repae": dict(path="linear", pred="velocity", bn=True, grad_to_vae=False, recon="l1",
                  align="none", w_recon=1.0, w_kl=1e-6, w_diff=1.0, w_align=0.5, w_smooth=0.0,
                  lr=1e-4, lr_vae=2e-4, warmup=0, clip=1.0, ema=0.9, num_classes=NUM_CLASSES, kl="sum",
                  ema_warmup=True),
    # The seed recipe: cosine, score, naive end-to-end, score alignment, smoothing, kl 0.1, mse.
    "seed": dict(path="cosine", pred="score", bn=False, grad_to_vae=True, recon="mse",
                 align="score", w_recon=1.0, w_kl=0.1, w_diff=1.0, w_align=0.5, w_smooth=0.05,
                 lr=1e-4, lr_vae=0.0, warmup=2, clip=1.0, ema=0.9, num_classes=NUM_CLASSES, kl="mean",
                 ema_warmup=False),
    # Naive end-to-end through the latent BN (its backward in the loop), noise prediction, no
    # clipping, EMA off.
    "naive": dict(path="linear", pred="noise", bn=True, grad_to_vae=True, recon="l1",
                  align="none", w_recon=1.0, w_kl=1e-2, w_diff=1.0, w_align=0.5, w_smooth=0.1,
                  lr=1e-4, lr_vae=0.0, warmup=0, clip=0.0, ema=0.0, num_classes=NUM_CLASSES, kl="sum",
                  ema_warmup=False),
    # REPA-E: as "repae" with REPA after SiT block 1 of 2 (w_sit 0.5, w_vae 1.5, projector 16).
    "repa": dict(path="linear", pred="velocity", bn=True, grad_to_vae=False, recon="l1",
                 align="repa", w_recon=1.0, w_kl=1e-6, w_diff=1.0, w_align=0.5, w_smooth=0.0,
                 lr=1e-4, lr_vae=2e-4, warmup=0, clip=1.0, ema=0.9, num_classes=NUM_CLASSES,
                 depth=1, w_sit=0.5, w_vae=1.5, proj_dim=16, kl="sum", ema_warmup=True),
    # (Appended after the others: they share one generator, so earlier recipes keep their draws.)
    # "repa" on the naive route (grad_to_vae): only the diffusion gradient joins the VAE-side
    # REPA; the SiT side's w_sit * align stays in the SiT and the projector.
    "repa_naive": dict(path="linear", pred="velocity", bn=True, grad_to_vae=True, recon="l1",
                       align="repa", w_recon=1.0, w_kl=1e-6, w_diff=1.0, w_align=0.5, w_smooth=0.0,
                       lr=1e-4, lr_vae=2e-4, warmup=0, clip=1.0, ema=0.9, num_classes=NUM_CLASSES,
                       depth=1, w_sit=0.5, w_vae=1.5, proj_dim=16, kl="sum", ema_warmup=True),
    # "repa" with align.vae_bn "batch": the VAE-side pass normalises with this batch's statistics
    # (and backpropagates through them), leaving the running ones to the SiT pass.
    "repa_batch": dict(path="linear", pred="velocity", bn=True, grad_to_vae=False, recon="l1",
                       align="repa", w_recon=1.0, w_kl=1e-6, w_diff=1.0, w_align=0.5, w_smooth=0.0,
                       lr=1e-4, lr_vae=2e-4, warmup=0, clip=1.0, ema=0.9, num_classes=NUM_CLASSES,
                       depth=1, w_sit=0.5, w_vae=1.5, proj_dim=16, kl="sum", ema_warmup=True,
                       vae_bn="batch"),
    # "repa" with the GAN term from step 2 (steps 1-2 without it): w_gan 0.5, a 2-layer D of 8
    # channels, D's lr 1e-3 (large enough that its 3 updates show).
    "repa_gan": dict(path="linear", pred="velocity", bn=True, grad_to_vae=False, recon="l1",
                     align="repa", w_recon=1.0, w_kl=1e-6, w_diff=1.0, w_align=0.5, w_smooth=0.0,
                     lr=1e-4, lr_vae=2e-4, warmup=0, clip=1.0, ema=0.9, num_classes=NUM_CLASSES,
                     depth=1, w_sit=0.5, w_vae=1.5, proj_dim=16, kl="sum", ema_warmup=True,
                     gan=dict(w=0.5, start=2, layers=2, ch=8, lr=1e-3)),
}


def enc_weight(j, n, is_norm_weight):
    """Element i of tensor j (state_dict order) of the test's target encoder."""
    i = torch.arange(n, dtype=torch.float64)
    return (0.3 * torch.sin(0.37 * i + 1.3 * j) + (1.0 if is_norm_weight else 0.0)).float()


def coeffs(path, t):
    if path == "linear":
        return 1 - t, t, -torch.ones_like(t), torch.ones_like(t)
    a = math.pi / 2 * t
    return torch.cos(a), torch.sin(a), -math.pi / 2 * torch.sin(a), math.pi / 2 * torch.cos(a)


def bcast(v):
    return v[:, None, None, None]


def pred_loss(r, sit, z0, eps, t, y, keep_block=None):
    """The prediction loss (docs/model.md) of the SiT at x_t = alpha z0 + sigma eps (and the tokens after
    block keep_block)."""
    a, s, da, ds = (bcast(c) for c in coeffs(r["path"], t))
    out, h = sit(a * z0 + s * eps, t, y, keep_block)
    if r["pred"] == "velocity":
        loss = ((out - (da * z0 + ds * eps)) ** 2).mean()
    elif r["pred"] == "noise":
        loss = ((out - eps) ** 2).mean()
    else:
        loss = ((s * out + eps) ** 2).mean()  # score: bounded as sigma -> 0
    return (loss, h) if keep_block else loss


def lr_at(lr, warmup, step):
    return lr * (step + 1) / warmup if warmup > 0 and step < warmup else lr


def make_models(gen):
    torch.manual_seed(3)
    vae = AutoencoderKL([8, 16], 1, 4, 4, False, 3)
    sit = SiT(8, 4, 2, 32, 2, 2, 4.0, NUM_CLASSES)
    randomise(vae, gen)
    randomise(sit, gen)
    with torch.no_grad():  # keep the posterior noise modest so that the KL term is O(1)
        vae.quant_conv.bias[4:] -= 2.0
    return vae, sit


def run(name, r, init_vae, init_sit, gen):
    vae = AutoencoderKL([8, 16], 1, 4, 4, False, 3)
    sit = SiT(8, 4, 2, 32, 2, 2, 4.0, r["num_classes"])
    vae.load_state_dict(init_vae)
    sit.load_state_dict(init_sit)
    vae.double()
    sit.double()
    bn = nn.BatchNorm2d(4, eps=1e-4, momentum=0.1, affine=False).double()
    bn.train()
    vae_params = [p for p in vae.parameters() if p.requires_grad]
    sit_params = [p for p in sit.parameters() if p.requires_grad]
    repa = r["align"] == "repa"
    io = {}
    if repa:
        rg = torch.Generator().manual_seed(99)  # its own stream: the other recipes stay as they were
        enc = Encoder(3, [16, 32, 64], 2, 8, r["num_classes"])
        proj = Projectors(32, r["proj_dim"], 64)
        with torch.no_grad():
            for p in proj.parameters():
                p.copy_(0.3 * torch.randn(p.shape, generator=rg))
            for j, (n, p) in enumerate(enc.state_dict().items()):
                p.copy_(enc_weight(j, p.numel(), n.endswith("norm.weight")).reshape(p.shape))
        for n, v in proj.state_dict().items():
            io["init.proj." + n] = v
        enc.double().requires_grad_(False)
        proj.double()
        sit_params += list(proj.parameters())  # one clip and one AdamW over SiT + projector (REPA)
    gan = r.get("gan")
    if gan:
        dg = torch.Generator().manual_seed(77)  # its own stream, as the projector's
        disc = PatchGAN(3, gan["ch"], gan["layers"])
        with torch.no_grad():
            for mod in disc.modules():
                if isinstance(mod, nn.Conv2d):
                    mod.weight.copy_(0.1 * torch.randn(mod.weight.shape, generator=dg))
                    if mod.bias is not None:
                        mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=dg))
                elif isinstance(mod, nn.BatchNorm2d):
                    mod.weight.copy_(1 + 0.1 * torch.randn(mod.weight.shape, generator=dg))
                    mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=dg))
        for n, v in state_dict_f32(disc).items():
            io["init.disc." + n] = v.clone()
        disc.double().train()
        opt_disc = torch.optim.AdamW(disc.parameters(), lr=gan["lr"], betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    lr_vae = r["lr_vae"] if r["lr_vae"] > 0 else r["lr"]
    opt_vae = torch.optim.AdamW(vae_params, lr=lr_vae, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    opt_sit = torch.optim.AdamW(sit_params, lr=r["lr"], betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    ema = {k: v.detach().clone() for k, v in sit.named_parameters() if v.requires_grad}
    if repa:
        ema.update({"proj." + k: v.detach().clone() for k, v in proj.named_parameters()})
    t_min = 0.0 if r["pred"] == "velocity" else 1e-3
    for k in range(STEPS):
        x = torch.rand(B, 3, 16, 16, generator=gen) * 2 - 1
        ydrop = torch.randint(0, r["num_classes"] + 1, (B,), generator=gen)  # includes the null class
        ydrop[0] = r["num_classes"]
        y = ydrop.clone()
        if repa:  # the true labels of the dropped ones (the VAE side sees them)
            y = torch.randint(0, r["num_classes"], (B,), generator=gen)
            y[ydrop != r["num_classes"]] = ydrop[ydrop != r["num_classes"]]
            io[f"in.y.{k}"] = y.float()
        eps_vae = torch.randn(B, 4, 8, 8, generator=gen)
        t = t_min + (1 - t_min) * torch.rand(B, generator=gen)
        eps = torch.randn(B, 4, 8, 8, generator=gen)
        t2 = t_min + (1 - t_min) * torch.rand(B, generator=gen)
        eps2 = torch.randn(B, 4, 8, 8, generator=gen)
        for n, v in dict(x=x, ydrop=ydrop.float(), eps_vae=eps_vae, t=t, eps=eps, t2=t2, eps2=eps2).items():
            if not (repa and n in ("t2", "eps2")):
                io[f"in.{n}.{k}"] = v
        x, eps_vae, t, eps, t2, eps2 = (v.double() for v in (x, eps_vae, t, eps, t2, eps2))

        mean, logvar = vae.encode(x)
        z = mean + torch.exp(0.5 * logvar) * eps_vae
        xr = vae.decode(z)
        recon = (xr - x).abs().mean() if r["recon"] == "l1" else ((xr - x) ** 2).mean()
        kl_el = mean ** 2 + torch.exp(logvar) - logvar - 1
        # loss.kl_reduce: "sum" is REPA-E's (loss/losses.py): sum over C,H,W, mean over the batch.
        kl = 0.5 * (kl_el.sum() / B if r["kl"] == "sum" else kl_el.mean())
        smooth = ((z[:, :, 1:, :] - z[:, :, :-1, :]) ** 2).mean() + ((z[:, :, :, 1:] - z[:, :, :, :-1]) ** 2).mean()
        latent_std = z.detach().flatten(2).std(dim=2, unbiased=False).mean()
        extra = 0.0
        if repa:
            with torch.no_grad():
                tgt = enc(x)[1][2].flatten(2).transpose(1, 2)  # stage 2 is 4x4 = the token grid
            # VAE side: frozen SiT and projector, eval-mode BN, labels kept, the same t and eps.
            sit.requires_grad_(False)
            proj.requires_grad_(False)
            # Copies: bn(z) below updates the buffers in place, and the backward of this eval-mode
            # pass must see them as they were (REPA-E finishes this pass's backward first).
            if r.get("vae_bn") == "batch":  # batch statistics, running ones untouched
                zv = F.batch_norm(z, None, None, training=True, eps=1e-4)
            else:
                zv = F.batch_norm(z, bn.running_mean.clone(), bn.running_var.clone(), training=False, eps=1e-4)
            a_, s_, _, _ = (bcast(c) for c in coeffs(r["path"], t))
            _, hv = sit(a_ * zv + s_ * eps, t, y, r["depth"])
            extra = r["w_vae"] * repa_loss(proj.projectors[0](hv), tgt)
            sit.requires_grad_(True)
            sit.pos_embed.requires_grad_(False)
            proj.requires_grad_(True)
        zn = bn(z) if r["bn"] else z
        # What updates what: the diffusion loss reaches the VAE only with grad_to_vae; the score
        # alignment never does.
        zd = zn if r["grad_to_vae"] else zn.detach()
        if repa and r["grad_to_vae"]:
            # The diffusion loss on the attached latents, the SiT side's align on detached ones:
            # the same SiT gradients as one pass, but only the diffusion gradient reaches the VAE.
            diffusion = pred_loss(r, sit, zd, eps, t, ydrop)
            _, h = pred_loss(r, sit, zn.detach(), eps, t, ydrop, r["depth"])
            align = repa_loss(proj.projectors[0](h), tgt)
        elif repa:
            diffusion, h = pred_loss(r, sit, zd, eps, t, ydrop, r["depth"])
            align = repa_loss(proj.projectors[0](h), tgt)
        else:
            diffusion = pred_loss(r, sit, zd, eps, t, ydrop)
            align = pred_loss(r, sit, zn.detach(), eps2, t2, ydrop) if r["align"] == "score" else torch.zeros((), dtype=torch.float64)
        w_align = r["w_sit"] if repa else r["w_align"]
        total = r["w_recon"] * recon + r["w_kl"] * kl + r["w_diff"] * diffusion + w_align * align + r["w_smooth"] * smooth
        gan_on = gan and k >= gan["start"]
        if gan_on:  # the generator term through D, whose weights take no gradient from it
            disc.requires_grad_(False)
            logits_fake = disc(xr)
            gan_g = -logits_fake.mean()
            total = total + gan["w"] * gan_g
            disc.requires_grad_(True)

        opt_vae.zero_grad()
        opt_sit.zero_grad()
        (total + extra).backward()
        clip = r["clip"] if r["clip"] > 0 else float("inf")  # clip 0: no clipping
        gn_vae = torch.nn.utils.clip_grad_norm_(vae_params, clip)
        gn_sit = torch.nn.utils.clip_grad_norm_(sit_params, clip)
        lv, ls = lr_at(lr_vae, r["warmup"], k), lr_at(r["lr"], r["warmup"], k)
        for g in opt_vae.param_groups:
            g["lr"] = lv
        for g in opt_sit.param_groups:
            g["lr"] = ls
        opt_vae.step()
        opt_sit.step()
        if gan_on:  # D's step on the same (pre-update) reconstructions, real batch first
            opt_disc.zero_grad()
            logits_real = disc(x)
            gan_d = hinge_d(logits_real, disc(xr.detach()))
            gan_d.backward()
            gn_d = torch.nn.utils.clip_grad_norm_(list(disc.parameters()), r["clip"])
            opt_disc.step()
            io[f"ref.gan.{k}"] = torch.tensor([float(gan_g), float(gan_d), float(logits_real.mean()),
                                               float(logits_fake.mean()), float(gn_d)])
        # train.ema_warmup: decay min(ema, (1 + k) / (10 + k)) after k earlier updates (timm's
        # ModelEmaV2 warm-up), in float32 as the C side computes it.
        d = min(r["ema"], float(torch.tensor((1.0 + k) / (10.0 + k), dtype=torch.float32))) if r["ema_warmup"] else r["ema"]
        with torch.no_grad():
            for n, p in sit.named_parameters():
                if p.requires_grad:
                    ema[n].mul_(d).add_(p, alpha=1 - d)
            if repa:
                for n, p in proj.named_parameters():
                    ema["proj." + n].mul_(d).add_(p, alpha=1 - d)
        # latent_sstd: the spatial std over the running std the BN divides by (after its update).
        sd = z.detach().flatten(2).std(dim=2, unbiased=False)
        if r["bn"]:
            sd = sd / torch.sqrt(bn.running_var + 1e-4)
        io[f"ref.sstd.{k}"] = sd.mean().reshape(1)
        vals = [recon, kl, diffusion, align, smooth, total, latent_std, gn_vae, gn_sit, lv, ls]
        io[f"ref.metrics.{k}"] = torch.tensor([float(v) for v in vals])
        print(f"{name} step {k + 1}: " + " ".join(f"{m} {float(v):.5g}" for m, v in zip(METRICS, vals)))
    for n, v in vae.state_dict().items():
        io["final.vae." + n] = v
    for n, v in sit.state_dict().items():
        io["final.sit." + n] = v
    for n, v in ema.items():
        if n.startswith("proj."):
            io["final.ema_proj." + n[5:]] = v
        elif not repa:
            io["final.ema." + n] = v
    if repa:
        for n, v in proj.state_dict().items():
            io["final.proj." + n] = v
    if gan:
        for n, v in state_dict_f32(disc).items():
            io["final.disc." + n] = v
    io["final.bn.running_mean"] = bn.running_mean
    io["final.bn.running_var"] = bn.running_var
    save(f"train_{name}.safetensors", {k: v.detach() for k, v in io.items()})


def main():
    gen = torch.Generator().manual_seed(4321)
    vae, sit = make_models(gen)
    init_vae = {k: v.float() for k, v in vae.state_dict().items()}
    init_sit = {k: v.float() for k, v in sit.state_dict().items()}
    init = {"init.vae." + k: v for k, v in init_vae.items()}
    init.update({"init.sit." + k: v for k, v in init_sit.items()})
    save("train_init.safetensors", init)
    for name, r in RECIPES.items():
        run(name, r, init_vae, init_sit, gen)


if __name__ == "__main__":
    main()
