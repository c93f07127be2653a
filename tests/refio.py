"""refio.py: writes safetensors files with nothing but the standard library and torch,
so the C tests can read PyTorch references with repae's own safetensors reader."""
import json
import struct


def save(path, tensors):
    """tensors: dict name -> torch tensor (converted to contiguous float32)."""
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
