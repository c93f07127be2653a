"""torch_step.py: the PyTorch counterpart of `repae bench` (one training step of the
REPA-E recipe without REPA), for the speed comparison of issue 3.

    OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive /usr/bin/python3 experiments/bench/torch_step.py \
        [--config configs/fm32-small.json] [--steps 3] [--threads 2] [--set key.path=value]...

Prints one JSON line with the keys of `repae bench` (step_s, img_per_s, gflop_per_step, gflops)
plus peak_rss_mb (resource.getrusage, includes the Python interpreter and libtorch) and
cpu_s_per_step (process CPU time of the timed steps, which time-slicing on a shared machine does
not inflate the way it does wall time).

The models are tests/gen_models.py's (LDM AutoencoderKL layout, DiT/SiT layout), built from the
config with the defaults of src/base/config.c. The step is the one tests/gen_train.py checks the C
trainer against (recipe "repae"), in float32: linear path, velocity prediction, latent BatchNorm,
stop-gradient into the VAE, l1 reconstruction, kl, smooth weight 0, one AdamW per side,
global-norm clipping per side, SiT EMA, class dropout. Inputs are synthetic (uniform images,
random labels), drawn inside the timed loop as train_bench does.
FLOPs are counted exactly as src/model/model.c's model_flops and trainer_step_gflop do: conv and
linear multiply-adds plus attention's two T x T products, forward once and backward twice
for the trained VAE and SiT.
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests"))
from gen_models import AttnBlock, AutoencoderKL, SiT  # noqa: E402

# src/base/config.c config_defaults, only the keys the step uses.
DEFAULTS = {
    "data": {"image_size": 16, "channels": 3},
    "vae": {"ch": [8, 16], "num_res_blocks": 1, "z_channels": 4, "groups": 4, "mid_attn": False,
            "latent_bn": False},
    "sit": {"hidden": 32, "depth": 2, "heads": 2, "patch": 2, "mlp_ratio": 4.0, "num_classes": 0,
            "class_dropout": 0.1},
    "loss": {"w_recon": 1.0, "w_kl": 1e-6, "w_diff": 1.0},
    "train": {"batch_size": 8, "lr": 1e-4, "lr_vae": 0.0, "clip": 1.0, "ema": 0.9999},
}


def load_config(path, sets):
    cfg = json.loads(json.dumps(DEFAULTS))
    if path:
        with open(path) as f:
            user = json.load(f)
        for sec, kv in user.items():
            if sec in cfg:
                cfg[sec].update({k: v for k, v in kv.items() if k in cfg[sec]})
    for s in sets:
        key, _, val = s.partition("=")
        sec, _, name = key.partition(".")
        if sec not in cfg or name not in cfg[sec]:
            sys.exit(f"torch_step.py: --set {s}: '{key}' is not a key this benchmark uses")
        cfg[sec][name] = json.loads(val)
    return cfg


def blas_kernels():
    """Which kernels this process runs: OpenBLAS's core (openblas_get_corename of the library
    libtorch loaded; threadpoolctl is not installed here) and ATen's CPU capability."""
    import ctypes
    core = "?"
    libs = sorted({ln.split()[-1] for ln in open("/proc/self/maps") if "openblas" in ln and ".so" in ln})
    for p in libs:
        try:
            lib = ctypes.CDLL(p)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            core = lib.openblas_get_corename().decode()
            break
        except (OSError, AttributeError):
            continue
    cap = torch.__config__.show().split("CPU capability usage:")[-1].split()[0] \
        if "CPU capability usage:" in torch.__config__.show() else "?"
    return core, cap


def vae_flops_per_image(vae, channels, size):
    """model.c stages_flops: 2*Cout*Cin*k*k*Ho*Wo per conv, plus 2*(2*hw*hw*c) per AttnBlock."""
    total = [0.0]

    def conv_hook(m, inp, out):
        total[0] += 2.0 * m.out_channels * m.in_channels * m.kernel_size[0] * m.kernel_size[1] \
            * out.shape[2] * out.shape[3]

    def attn_hook(m, inp, out):
        c, hw = inp[0].shape[1], inp[0].shape[2] * inp[0].shape[3]
        total[0] += 2 * (2.0 * hw * hw * c)

    hooks = []
    for m in vae.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, AttnBlock):
            hooks.append(m.register_forward_hook(attn_hook))
    with torch.no_grad():
        mean, _ = vae.encode(torch.zeros(1, channels, size, size))
        vae.decode(mean)
    for h in hooks:
        h.remove()
    return total[0]


def sit_flops_per_image(T, D, M, P, depth):
    """model.c model_flops, SiT part (SIT_FREQ_DIM 256)."""
    f = 2 * T * P * D + 2 * (256 * D + D * D) + 2 * D * 2 * D + 2 * T * D * P
    blk = 2 * D * 6 * D + 2 * T * D * 3 * D + 2 * T * D * D + 2 * (2 * T * T * D) + 2 * (2 * T * D * M)
    return f + depth * blk


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=None)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    ap.add_argument("--set", action="append", default=[])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = load_config(a.config, a.set)
    d, v, s, lo, tr = cfg["data"], cfg["vae"], cfg["sit"], cfg["loss"], cfg["train"]
    B, size, cin, zc = tr["batch_size"], d["image_size"], d["channels"], v["z_channels"]
    lat = size >> (len(v["ch"]) - 1)
    ncls = s["num_classes"]

    torch.manual_seed(0)
    vae = AutoencoderKL(v["ch"], v["num_res_blocks"], zc, v["groups"], v["mid_attn"], cin)
    sit = SiT(lat, zc, s["patch"], s["hidden"], s["depth"], s["heads"], s["mlp_ratio"], ncls)
    bn = nn.BatchNorm2d(zc, eps=1e-4, momentum=0.1, affine=False) if v["latent_bn"] else None
    T = (lat // s["patch"]) ** 2
    gflop = B * 3 * (vae_flops_per_image(vae, cin, size)
                     + sit_flops_per_image(T, s["hidden"], int(s["hidden"] * s["mlp_ratio"]),
                                           zc * s["patch"] ** 2, s["depth"])) / 1e9

    vae_params = [p for p in vae.parameters() if p.requires_grad]
    sit_params = [p for p in sit.parameters() if p.requires_grad]
    lr_vae = tr["lr_vae"] if tr["lr_vae"] > 0 else tr["lr"]
    opt_vae = torch.optim.AdamW(vae_params, lr=lr_vae, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    opt_sit = torch.optim.AdamW(sit_params, lr=tr["lr"], betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    ema = [p.detach().clone() for p in sit_params]
    decay = tr["ema"]

    def draw():
        x = torch.rand(B, cin, size, size) * 2 - 1
        y = torch.randint(0, max(ncls, 1), (B,))
        if ncls > 0:
            y = torch.where(torch.rand(B) < s["class_dropout"], torch.full_like(y, ncls), y)
        return (x, y, torch.randn(B, zc, lat, lat), torch.rand(B), torch.randn(B, zc, lat, lat))

    def step(inputs):
        x, y, eps_vae, t, eps = inputs
        mean, logvar = vae.encode(x)
        z = mean + torch.exp(0.5 * logvar) * eps_vae
        xr = vae.decode(z)
        recon = (xr - x).abs().mean()
        kl = 0.5 * (mean ** 2 + torch.exp(logvar) - logvar - 1).mean()
        latent_std = z.detach().flatten(2).std(dim=2, unbiased=False).mean()
        zn = bn(z) if bn is not None else z
        z0 = zn.detach()  # stop-gradient: the diffusion loss does not reach the VAE
        tb = t[:, None, None, None]
        xt = (1 - tb) * z0 + tb * eps
        out, _ = sit(xt, t, y if ncls > 0 else None)
        diffusion = ((out - (eps - z0)) ** 2).mean()
        total = lo["w_recon"] * recon + lo["w_kl"] * kl + lo["w_diff"] * diffusion
        opt_vae.zero_grad(set_to_none=False)
        opt_sit.zero_grad(set_to_none=False)
        total.backward()
        gn_vae = torch.nn.utils.clip_grad_norm_(vae_params, tr["clip"])
        gn_sit = torch.nn.utils.clip_grad_norm_(sit_params, tr["clip"])
        opt_vae.step()
        opt_sit.step()
        with torch.no_grad():
            torch._foreach_mul_(ema, decay)
            torch._foreach_add_(ema, [p.detach() for p in sit_params], alpha=1 - decay)
        # the metrics repae logs every step, read back like the C trainer does
        return [float(m) for m in (recon, kl, diffusion, total, latent_std, gn_vae, gn_sit)]

    step(draw())  # warm-up, as train_bench does
    wall = cpu = 0.0
    for _ in range(a.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step(draw())
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
    dt = wall / a.steps
    core, cap = blas_kernels()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"impl": "pytorch " + torch.__version__, "config": a.config or "tiny (defaults)",
                      "batch": B, "steps": a.steps, "threads": torch.get_num_threads(),
                      "openblas_core": core, "aten_cpu": cap,
                      "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(default)"),
                      "step_s": round(dt, 5), "img_per_s": round(B / dt, 2),
                      "gflop_per_step": round(gflop, 3), "gflops": round(gflop / dt, 2),
                      "cpu_s_per_step": round(cpu / a.steps, 4), "peak_rss_mb": round(rss_mb, 1)}))


if __name__ == "__main__":
    main()
