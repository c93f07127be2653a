"""gen_models.py: PyTorch references for src/model/vae.c, src/model/latent_bn.c and src/model/sit.c (tests/test_vae.c,
tests/test_sit.c), at the `tiny` size (docs/model.md).

The modules below follow LDM's AutoencoderKL (ldm/modules/diffusionmodules/model.py) and
DiT/SiT (models.py) in structure and parameter names, so that their state_dicts are the names
the C code must produce. For each model we write
  tests/ref/model_<m>_sd.safetensors   the state_dict (weights randomised so every path matters)
  tests/ref/model_<m>_io.safetensors   inputs, upstream gradients, outputs ("ref.*") and the
                                       gradient of every parameter ("grad.<name>")
Forward/backward run in float64 on float32-rounded weights and inputs, so the stored results
are the exact answer for the stored float32 data.
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from gen.common import save, setup

setup(threads=2)


# ---- VAE (LDM AutoencoderKL layout) -------------------------------------------------------------
def Normalize(c, groups):
    return nn.GroupNorm(num_groups=min(groups, c), num_channels=c, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout, groups):
        super().__init__()
        self.norm1 = Normalize(cin, groups)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2 = Normalize(cout, groups)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1, 1, 0)

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        if hasattr(self, "nin_shortcut"):
            x = self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.norm = Normalize(c, groups)
        self.q = nn.Conv2d(c, c, 1)
        self.k = nn.Conv2d(c, c, 1)
        self.v = nn.Conv2d(c, c, 1)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x):
        h = self.norm(x)
        q, k, v = self.q(h), self.k(h), self.v(h)
        b, c, hh, ww = q.shape
        q = q.reshape(b, c, hh * ww).permute(0, 2, 1)      # b, hw, c
        k = k.reshape(b, c, hh * ww)                        # b, c, hw
        w = torch.softmax(torch.bmm(q, k) * (int(c) ** -0.5), dim=2)  # b, hw(i), hw(j)
        v = v.reshape(b, c, hh * ww)
        h = torch.bmm(v, w.permute(0, 2, 1)).reshape(b, c, hh, ww)
        return x + self.proj_out(h)


class Downsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 2, 0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1), mode="constant", value=0))


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Mid(nn.Module):
    def __init__(self, c, groups, attn):
        super().__init__()
        self.block_1 = ResnetBlock(c, c, groups)
        if attn:
            self.attn_1 = AttnBlock(c, groups)
        self.block_2 = ResnetBlock(c, c, groups)

    def forward(self, x):
        x = self.block_1(x)
        if hasattr(self, "attn_1"):
            x = self.attn_1(x)
        return self.block_2(x)


class Encoder(nn.Module):
    def __init__(self, ch, nres, z, groups, attn, cin):
        super().__init__()
        self.conv_in = nn.Conv2d(cin, ch[0], 3, 1, 1)
        self.down = nn.ModuleList()
        block_in = ch[0]
        for i, c in enumerate(ch):
            d = nn.Module()
            d.block = nn.ModuleList()
            for _ in range(nres):
                d.block.append(ResnetBlock(block_in, c, groups))
                block_in = c
            if i != len(ch) - 1:
                d.downsample = Downsample(c)
            self.down.append(d)
        self.mid = Mid(block_in, groups, attn)
        self.norm_out = Normalize(block_in, groups)
        self.conv_out = nn.Conv2d(block_in, 2 * z, 3, 1, 1)

    def forward(self, x):
        h = self.conv_in(x)
        for d in self.down:
            for b in d.block:
                h = b(h)
            if hasattr(d, "downsample"):
                h = d.downsample(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, ch, nres, z, groups, attn, cout):
        super().__init__()
        block_in = ch[-1]
        self.conv_in = nn.Conv2d(z, block_in, 3, 1, 1)
        self.mid = Mid(block_in, groups, attn)
        self.up = nn.ModuleList()
        for i in reversed(range(len(ch))):
            u = nn.Module()
            u.block = nn.ModuleList()
            for _ in range(nres + 1):
                u.block.append(ResnetBlock(block_in, ch[i], groups))
                block_in = ch[i]
            if i != 0:
                u.upsample = Upsample(block_in)
            self.up.insert(0, u)
        self.norm_out = Normalize(block_in, groups)
        self.conv_out = nn.Conv2d(block_in, cout, 3, 1, 1)

    def forward(self, z):
        h = self.mid(self.conv_in(z))
        for i in reversed(range(len(self.up))):
            for b in self.up[i].block:
                h = b(h)
            if hasattr(self.up[i], "upsample"):
                h = self.up[i].upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class AutoencoderKL(nn.Module):
    def __init__(self, ch, nres, z, groups, attn, channels):
        super().__init__()
        self.encoder = Encoder(ch, nres, z, groups, attn, channels)
        self.decoder = Decoder(ch, nres, z, groups, attn, channels)
        self.quant_conv = nn.Conv2d(2 * z, 2 * z, 1)
        self.post_quant_conv = nn.Conv2d(z, z, 1)

    def encode(self, x):
        moments = self.quant_conv(self.encoder(x))
        mean, logvar = torch.chunk(moments, 2, dim=1)
        return mean, torch.clamp(logvar, -30.0, 20.0)

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))


# ---- SiT (DiT/SiT layout) -----------------------------------------------------------------------
def get_1d_sincos(dim, pos):
    omega = np.arange(dim // 2, dtype=np.float64) / (dim / 2.0)
    omega = 1.0 / 10000 ** omega
    out = np.einsum("m,d->md", pos.reshape(-1), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def get_2d_sincos_pos_embed(dim, gh, gw):
    """MAE's get_2d_sincos_pos_embed (numpy 'xy' meshgrid: the first half encodes the column)."""
    grid = np.meshgrid(np.arange(gw, dtype=np.float32), np.arange(gh, dtype=np.float32))
    grid = np.stack(grid, axis=0).reshape(2, 1, gh, gw)
    emb_h = get_1d_sincos(dim // 2, grid[0])
    emb_w = get_1d_sincos(dim // 2, grid[1])
    return np.concatenate([emb_h, emb_w], axis=1)


class PatchEmbed(nn.Module):
    def __init__(self, p, cin, d):
        super().__init__()
        self.proj = nn.Conv2d(cin, d, p, p)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class TimestepEmbedder(nn.Module):
    def __init__(self, d, nfreq=256):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(nfreq, d), nn.SiLU(), nn.Linear(d, d))
        self.nfreq = nfreq

    def forward(self, t):
        half = self.nfreq // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=t.dtype) / half)
        args = t[:, None] * freqs[None]
        return self.mlp(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))


class LabelEmbedder(nn.Module):
    def __init__(self, n, d):
        super().__init__()
        self.embedding_table = nn.Embedding(n + 1, d)

    def forward(self, y):  # class dropout is the training loop's job: label n is the null class
        return self.embedding_table(y)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = torch.softmax(q @ k.transpose(-2, -1) * (C // self.heads) ** -0.5, dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.fc1 = nn.Linear(d, h)
        self.fc2 = nn.Linear(h, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class SiTBlock(nn.Module):
    def __init__(self, d, heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(d, heads)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(d, int(d * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))

    def forward(self, x, c):
        sm, scm, gm, sp, scp, gp = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gm.unsqueeze(1) * self.attn(modulate(self.norm1(x), sm, scm))
        return x + gp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), sp, scp))


class FinalLayer(nn.Module):
    def __init__(self, d, p, cout):
        super().__init__()
        self.norm_final = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(d, p * p * cout)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class SiT(nn.Module):
    def __init__(self, size, zc, p, d, depth, heads, mlp_ratio, num_classes):
        super().__init__()
        self.zc, self.p, self.num_classes = zc, p, num_classes
        self.x_embedder = PatchEmbed(p, zc, d)
        self.t_embedder = TimestepEmbedder(d)
        if num_classes > 0:
            self.y_embedder = LabelEmbedder(num_classes, d)
        self.gh = self.gw = size // p
        self.pos_embed = nn.Parameter(torch.zeros(1, self.gh * self.gw, d), requires_grad=False)
        self.blocks = nn.ModuleList([SiTBlock(d, heads, mlp_ratio) for _ in range(depth)])
        self.final_layer = FinalLayer(d, p, zc)
        self.initialize_weights()

    def initialize_weights(self):  # DiT's initialize_weights
        def basic(m):
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.constant_(m.bias, 0)
        self.apply(basic)
        pe = get_2d_sincos_pos_embed(self.pos_embed.shape[-1], self.gh, self.gw)
        self.pos_embed.data.copy_(torch.from_numpy(pe).float().unsqueeze(0))
        w = self.x_embedder.proj.weight.data
        nn.init.xavier_uniform_(w.view([w.shape[0], -1]))
        nn.init.constant_(self.x_embedder.proj.bias, 0)
        if self.num_classes > 0:
            nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        for b in self.blocks:
            nn.init.constant_(b.adaLN_modulation[-1].weight, 0)
            nn.init.constant_(b.adaLN_modulation[-1].bias, 0)
        nn.init.constant_(self.final_layer.adaLN_modulation[-1].weight, 0)
        nn.init.constant_(self.final_layer.adaLN_modulation[-1].bias, 0)
        nn.init.constant_(self.final_layer.linear.weight, 0)
        nn.init.constant_(self.final_layer.linear.bias, 0)

    def forward(self, x, t, y, keep_block=None):
        x = self.x_embedder(x) + self.pos_embed
        c = self.t_embedder(t)
        if self.num_classes > 0:
            c = c + self.y_embedder(y)
        kept = None
        for i, b in enumerate(self.blocks):
            x = b(x, c)
            if keep_block is not None and i + 1 == keep_block:
                kept = x
        x = self.final_layer(x, c)
        B, T, _ = x.shape
        p, zc = self.p, self.zc
        x = x.reshape(B, self.gh, self.gw, p, p, zc)
        x = torch.einsum("nhwpqc->nchpwq", x).reshape(B, zc, self.gh * p, self.gw * p)
        return x, kept


# ---- helpers ------------------------------------------------------------------------------------
def nparams(m):
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


def randomise(model, gen):
    """Replaces every trainable tensor by well-scaled random values (zero-initialised adaLN
    and final layers would otherwise hide half the gradients)."""
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.endswith("norm1.weight") or name.endswith("norm2.weight") or \
                name.endswith("norm.weight") or name.endswith("norm_out.weight"):
            v = 1.0 + 0.2 * torch.randn(p.shape, generator=gen)
        elif p.dim() >= 2 and "embedding_table" not in name:
            fan_in = p[0].numel()
            v = (torch.rand(p.shape, generator=gen) * 2 - 1) * math.sqrt(3.0 / fan_in)
        else:
            v = 0.2 * torch.randn(p.shape, generator=gen)
        p.data.copy_(v)


def sd_f32(model, drop=()):
    return {k: v.float() for k, v in model.state_dict().items() if k not in drop}


def vae_case(tag, attn, with_grads, gen):
    torch.manual_seed(1)
    vae = AutoencoderKL([8, 16], 1, 4, 4, attn, 3)
    randomise(vae, gen)
    with torch.no_grad():  # one logvar channel far below the clamp: tests the clamp and its mask
        vae.quant_conv.bias[4 + 3] = -40.0
    save(f"model_{tag}_sd.safetensors", sd_f32(vae))
    B = 3
    x = torch.rand(B, 3, 16, 16, generator=gen) * 2 - 1
    eps = torch.randn(B, 4, 8, 8, generator=gen)
    gx = torch.randn(B, 3, 16, 16, generator=gen)
    gmean = torch.randn(B, 4, 8, 8, generator=gen)
    glogvar = torch.randn(B, 4, 8, 8, generator=gen)
    # latent BatchNorm (vae.latent_bn) on z, training mode, with running statistics
    bn = nn.BatchNorm2d(4, eps=1e-4, momentum=0.1, affine=False)
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(4, generator=gen) * 0.3)
        bn.running_var.copy_(torch.rand(4, generator=gen) + 0.5)
    rm0, rv0 = bn.running_mean.clone(), bn.running_var.clone()
    gbn = torch.randn(B, 4, 8, 8, generator=gen)

    vae.double()
    bn.double()
    mean, logvar = vae.encode(x.double())
    z = mean + torch.exp(0.5 * logvar) * eps.double()
    z.retain_grad()
    xrec = vae.decode(z)
    zbn = bn(z)
    loss = (xrec * gx.double()).sum() + (mean * gmean.double()).sum() + (logvar * glogvar.double()).sum() \
        + (zbn * gbn.double()).sum()
    io = {"ref.x": x, "ref.eps": eps, "ref.gx": gx, "ref.gmean": gmean, "ref.glogvar": glogvar,
          "ref.mean": mean, "ref.logvar": logvar, "ref.z": z, "ref.xrec": xrec,
          "ref.bn_running_mean0": rm0, "ref.bn_running_var0": rv0, "ref.gbn": gbn, "ref.zbn": zbn,
          "ref.bn_running_mean1": bn.running_mean, "ref.bn_running_var1": bn.running_var}
    # posterior mean path (reconstruct/eval) decodes z = mean
    io["ref.xrec_mean"] = vae.decode(mean).detach()
    if with_grads:
        loss.backward()
        io["ref.dz"] = z.grad
        for name, p in vae.named_parameters():
            io["grad." + name] = p.grad
    save(f"model_{tag}_io.safetensors", {k: v.detach() for k, v in io.items()})
    return vae


def sit_case(tag, num_classes, with_grads, gen):
    torch.manual_seed(2)
    sit = SiT(8, 4, 2, 32, 2, 2, 4.0, num_classes)
    init_sd = sd_f32(sit)
    randomise(sit, gen)
    save(f"model_{tag}_sd.safetensors", sd_f32(sit))
    B = 3
    x = torch.randn(B, 4, 8, 8, generator=gen)
    t = torch.rand(B, generator=gen)
    y = torch.tensor([0, 2, num_classes]) if num_classes > 0 else None  # the last one is the null class
    gout = torch.randn(B, 4, 8, 8, generator=gen)
    gtok = torch.randn(B, 16, 32, generator=gen)
    sit.double()
    xd = x.double().requires_grad_(True)
    out, kept = sit(xd, t.double(), y, keep_block=1)
    loss = (out * gout.double()).sum() + (kept * gtok.double()).sum()
    io = {"ref.x": x, "ref.t": t, "ref.gout": gout, "ref.gtok": gtok, "ref.out": out, "ref.tok1": kept,
          "ref.init_pos_embed": init_sd["pos_embed"]}
    if y is not None:
        io["ref.y"] = y.float()
    if with_grads:
        loss.backward()
        io["ref.dx"] = xd.grad
        for name, p in sit.named_parameters():
            if p.requires_grad:
                io["grad." + name] = p.grad
    save(f"model_{tag}_io.safetensors", {k: v.detach() for k, v in io.items()})


def main():
    gen = torch.Generator().manual_seed(1234)
    vae_case("vae", True, True, gen)
    vae_case("vae_noattn", False, False, gen)
    sit_case("sit", 3, True, gen)
    sit_case("sit_uncond", 0, False, gen)
    # fm32-small parameter counts, checked by the C tests against their own tables
    fm_vae = AutoencoderKL([32, 64, 128], 1, 4, 8, True, 1)
    fm_sit = SiT(8, 4, 2, 192, 6, 6, 4.0, 10)
    counts = {"ref.fm32_vae_params": torch.tensor([float(nparams(fm_vae))]),
              "ref.fm32_sit_params": torch.tensor([float(nparams(fm_sit))])}
    save("model_counts.safetensors", counts)
    print("fm32-small: VAE %d, SiT %d trainable parameters" % (nparams(fm_vae), nparams(fm_sit)))


if __name__ == "__main__":
    main()
