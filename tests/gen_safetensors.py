"""Writes tests/ref/safetensors_torch.safetensors: tensors written by Python for the C reader."""
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
import torch
import refio

torch.manual_seed(0)
out = os.path.join(os.path.dirname(__file__), "ref")
os.makedirs(out, exist_ok=True)
refio.save(os.path.join(out, "safetensors_torch.safetensors"), {
    "encoder.conv_in.weight": torch.arange(2 * 3 * 3 * 3, dtype=torch.float32).reshape(2, 3, 3, 3),
    "scalar_like": torch.tensor([1.5]),
    "pos_embed": torch.randn(1, 4, 8),
})
