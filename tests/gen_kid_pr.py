"""Writes tests/ref/kid_pr_ref.safetensors: feature sets with their KID (unbiased MMD^2 under the
cubic polynomial kernel (x.y/d + 1)^3, as torch-fidelity and clean-fid define it, on the whole
sets) and k-NN precision/recall (Kynkaanniemi et al. 2019, k = 3, radii to the k-th neighbour
within the set, itself excluded), computed with NumPy and scipy.spatial.distance.cdist."""
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
import numpy as np
from scipy.spatial.distance import cdist
import torch
import refio


def kid(a, b):
    d = a.shape[1]
    m, n = len(a), len(b)
    kxx = (a @ a.T / d + 1) ** 3
    kyy = (b @ b.T / d + 1) ** 3
    kxy = (a @ b.T / d + 1) ** 3
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
            - 2 * kxy.mean())


def radii(x, k):
    dist = cdist(x, x)
    return np.sort(dist, axis=1)[:, k]  # column 0 is the point itself


def coverage(q, centres, rad):
    return float((cdist(q, centres) <= rad[None, :]).any(axis=1).mean())


def pr(real, fake, k=3):
    return coverage(fake, real, radii(real, k)), coverage(real, fake, radii(fake, k))


rng = np.random.default_rng(1)
D = 16
real = rng.normal(size=(400, D)) @ (rng.normal(size=(D, D)) / np.sqrt(D)) + 0.3
# Generated: partly on the data (a shifted, narrower copy), partly off it (mode dropping and
# outliers), so neither precision nor recall is 0 or 1.
fake = np.concatenate([real[:200] * 0.7 + 0.05 * rng.normal(size=(200, D)),
                       rng.normal(size=(150, D)) * 1.5 + 1.0])
real, fake = real.astype(np.float32), fake.astype(np.float32)
r64, f64 = real.astype(np.float64), fake.astype(np.float64)
p, r = pr(r64, f64)
kid_rf = kid(r64, f64)
# Two samples of one distribution: KID near 0 (can be negative: unbiased).
same_a = rng.normal(size=(300, D)).astype(np.float32)
same_b = rng.normal(size=(350, D)).astype(np.float32)
kid_same = kid(same_a.astype(np.float64), same_b.astype(np.float64))

out = os.path.join(os.path.dirname(__file__), "ref")
os.makedirs(out, exist_ok=True)
t = lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
refio.save(os.path.join(out, "kid_pr_ref.safetensors"), {
    "real": t(real), "fake": t(fake), "kid": torch.tensor([kid_rf]), "precision": torch.tensor([p]),
    "recall": torch.tensor([r]), "same_a": t(same_a), "same_b": t(same_b), "kid_same": torch.tensor([kid_same]),
})
print("kid", kid_rf, "precision", p, "recall", r, "kid_same", kid_same)
