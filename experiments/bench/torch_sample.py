"""torch_sample.py: the PyTorch counterpart of bench_sample's repae side: n images from noise
with 50 Euler steps of the probability-flow ODE (linear path, velocity prediction) and
classifier-free guidance, then the VAE decoder, with tests/gen_models.py's SiT and VAE built from
the config (random weights: the cost does not depend on them).

    OMP_NUM_THREADS=2 /usr/bin/python3 experiments/bench/torch_sample.py \
        [--config configs/fm32-small.json] [--n 64] [--steps 50] [--cfg 4.0] [--threads 2]

PyTorch at its best: torch.inference_mode, and guidance as one SiT forward over the
concatenated conditional and unconditional batch (DiT's forward_with_cfg), which was faster
here than two forwards. Prints one JSON line: step_s (seconds for the n images), img_per_s,
gflops (0: not counted), peak_rss_mb, and which OpenBLAS / ATen kernels ran.
"""
import argparse
import json
import os
import resource
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from torch_step import blas_kernels, load_config  # noqa: E402
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests"))
from gen_models import AutoencoderKL, SiT  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/fm32-small.json")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--cfg", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = load_config(a.config, [])
    d, v, s = cfg["data"], cfg["vae"], cfg["sit"]
    size, cin, zc = d["image_size"], d["channels"], v["z_channels"]
    lat = size >> (len(v["ch"]) - 1)
    ncls = s["num_classes"]
    torch.manual_seed(0)
    vae = AutoencoderKL(v["ch"], v["num_res_blocks"], zc, v["groups"], v["mid_attn"], cin).eval()
    sit = SiT(lat, zc, s["patch"], s["hidden"], s["depth"], s["heads"], s["mlp_ratio"], ncls).eval()

    def sample(n, steps):
        x = torch.randn(n, zc, lat, lat)
        y = torch.arange(n) % max(ncls, 1)
        guided = ncls > 0 and a.cfg != 1.0
        yy = torch.cat([y, torch.full_like(y, ncls)]) if guided else y
        for i in range(steps):
            t, tn = 1.0 - i / steps, 1.0 - (i + 1) / steps
            if guided:
                out, _ = sit(torch.cat([x, x]), torch.full((2 * n,), t), yy)
                vc, vu = out.chunk(2)
                vel = vu + a.cfg * (vc - vu)
            else:
                vel, _ = sit(x, torch.full((n,), t), y if ncls > 0 else None)
            x = x - (t - tn) * vel
        return vae.decode(x).clamp(-1, 1)

    with torch.inference_mode():
        sample(a.n, 2)  # warm-up
        t0 = time.perf_counter()
        sample(a.n, a.steps)
        dt = time.perf_counter() - t0
    core, cap = blas_kernels()
    print(json.dumps({"impl": "pytorch " + torch.__version__, "n": a.n, "steps": a.steps, "cfg": a.cfg,
                      "threads": torch.get_num_threads(), "openblas_core": core, "aten_cpu": cap,
                      "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(default)"),
                      "step_s": round(dt, 4), "img_per_s": round(a.n / dt, 2), "gflops": 0,
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)}))


if __name__ == "__main__":
    main()
