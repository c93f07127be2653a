"""gen/common.py: what every reference generator (tests/gen_*.py) shares: the deterministic
torch set-up, the float64 dtype the exact references are computed in, and writing the
tests/ref safetensors files with nothing but the standard library and torch, so that the C
tests read PyTorch's numbers with repae's own safetensors reader (src/base/safetensors.c).

    from gen.common import F64, save, setup
    setup(seed=1234)                    # torch.manual_seed(1234), one intra-op thread
    save("ops_x.safetensors", {"case.x": x, ...})

The generators run as scripts (`make refs`: /usr/bin/python3 tests/gen_x.py), so tests/ is on
sys.path and `gen` is this package."""
import json
import os
import struct

import torch

# tests/ref, where every reference file goes.
REF_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ref")
# The dtype of references that must be exact to float32 rounding: the maths runs in float64
# and only the stored result is rounded.
F64 = torch.float64


def setup(seed=None, threads=1):
    """Seeds torch's global generator (None: leave it; some generators use their own
    torch.Generator) and sets the intra-op threads (None: leave torch's default), so that a
    reference file comes out byte for byte the same on every run."""
    if seed is not None:
        torch.manual_seed(seed)
    if threads is not None:
        torch.set_num_threads(threads)


def write_safetensors(path, tensors):
    """tensors: dict name -> torch tensor, written in order as contiguous float32 (the format:
    8-byte little-endian header length, JSON header padded with spaces to 8 bytes, raw data)."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().to("cpu").float().contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def save(name, tensors):
    """Writes tests/ref/<name> (see write_safetensors)."""
    os.makedirs(REF_DIR, exist_ok=True)
    write_safetensors(os.path.join(REF_DIR, name), tensors)
