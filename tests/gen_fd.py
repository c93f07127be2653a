"""Writes tests/ref/fd_ref.safetensors: feature sets and their Fréchet distances computed with
NumPy/SciPy the way pytorch-fid does (scipy.linalg.sqrtm of S1 S2, real part)."""
import numpy as np
import scipy.linalg
import torch
from gen.common import save


def fd(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = scipy.linalg.sqrtm(s1.dot(s2), disp=False)
    covmean = covmean.real
    d = mu1 - mu2
    return d.dot(d) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


rng = np.random.default_rng(0)
D = 24
# Correlated features with different means and covariances, like two generators' features.
mix_a = rng.normal(size=(D, D)) / np.sqrt(D)
mix_b = mix_a + 0.3 * rng.normal(size=(D, D)) / np.sqrt(D)
a = (rng.normal(size=(300, D)) @ mix_a + 0.5).astype(np.float32)
b = (rng.normal(size=(250, D)) @ mix_b + 0.2 * rng.normal(size=D)).astype(np.float32)
# A small, anisotropic pair: covariances with eigenvalues over several decades.
scale = np.exp(np.linspace(-4, 2, 8))
c = (rng.normal(size=(100, 8)) * scale).astype(np.float32)
e = (rng.normal(size=(120, 8)) * scale[::-1] + 0.1).astype(np.float32)

t = lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
save("fd_ref.safetensors", {
    "a": t(a), "b": t(b), "fd_ab": torch.tensor([fd(a.astype(np.float64), b.astype(np.float64))]),
    "c": t(c), "e": t(e), "fd_ce": torch.tensor([fd(c.astype(np.float64), e.astype(np.float64))]),
})
print("fd_ab", fd(a.astype(np.float64), b.astype(np.float64)), "fd_ce", fd(c.astype(np.float64), e.astype(np.float64)))
