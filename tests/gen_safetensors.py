"""Writes tests/ref/safetensors_torch.safetensors: tensors written by Python for the C reader."""
import torch
from gen.common import save, setup

setup(seed=0, threads=None)
save("safetensors_torch.safetensors", {
    "encoder.conv_in.weight": torch.arange(2 * 3 * 3 * 3, dtype=torch.float32).reshape(2, 3, 3, 3),
    "scalar_like": torch.tensor([1.5]),
    "pos_embed": torch.randn(1, 4, 8),
})
