"""torch_eval.py: the PyTorch counterpart of bench_eval's repae side: FD on 5000 samples, i.e.
the evaluation network's features (src/model/evaluator.h's default layout for fashion-mnist,
tests/gen/repa_nets.py's Encoder, random weights) of n generated and n held-out images, then
the Fréchet distance of the two Gaussians the way pytorch-fid computes it (numpy mean and
covariance, scipy.linalg.sqrtm).

    OMP_NUM_THREADS=2 /usr/bin/python3 experiments/bench/torch_eval.py [--n 5000] [--batch 250]

Prints one JSON line: step_s (seconds for features of 2n images and the FD), img_per_s (2n over
that), gflops 0, fd, peak_rss_mb.
"""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import scipy.linalg
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests"))
from gen.repa_nets import Encoder  # noqa: E402


def fd(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = scipy.linalg.sqrtm(s1.dot(s2), disp=False)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = Encoder(1, [24, 48, 96, 128], 1, 4, 10).eval()  # evaluator_layout_default(1, 32, 10)
    imgs = [torch.rand(a.n, 1, 32, 32) * 2 - 1 for _ in range(2)]

    def feats(x):
        out = []
        for i in range(0, x.shape[0], a.batch):
            _, stages = net(x[i:i + a.batch])
            out.append(stages[-1].mean(dim=(2, 3)))
        return torch.cat(out).double().numpy()

    with torch.inference_mode():
        feats(imgs[0][: a.batch])  # warm-up
        t0 = time.perf_counter()
        d = fd(feats(imgs[0]), feats(imgs[1]))
        dt = time.perf_counter() - t0
    print(json.dumps({"impl": "pytorch " + torch.__version__, "n": a.n, "step_s": round(dt, 4),
                      "img_per_s": round(2 * a.n / dt, 1), "gflops": 0, "fd": d,
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)}))


if __name__ == "__main__":
    main()
