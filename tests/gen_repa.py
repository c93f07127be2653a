"""Writes tests/ref/repa_ref.safetensors: the encoder (src/model/encoder.h) and REPA projector/loss
(src/model/repa.h) in PyTorch, with their outputs and gradients, for test_encoder and test_repa."""
import torch
import torch.nn.functional as F
from gen.common import save, setup
from gen.repa_nets import Encoder, Projectors, repa_loss

setup(seed=0)
out = {}
# ---- encoder: C=3, S=8, ch [4, 8], 2 convs, 2 groups, 3 classes, batch 2 -----------------------
enc = Encoder(3, [4, 8], 2, 2, 3)
with torch.no_grad():  # non-trivial norm affine and biases
    for n, p in enc.named_parameters():
        if "norm" in n or "bias" in n:
            p.add_(0.2 * torch.randn_like(p))
x = torch.randn(2, 3, 8, 8)
y = torch.tensor([2, 0])
logits, outs = enc(x)
loss = F.cross_entropy(logits, y)
loss.backward()
for n, p in enc.state_dict().items():
    out["enc." + n] = p
for n, p in enc.named_parameters():
    out["enc_grad." + n] = p.grad
out["enc_x"] = x
out["enc_y"] = y.float()
out["enc_logits"] = logits
out["enc_loss"] = loss.reshape(1)
# targets for a 2x2 token grid: stage 1 (4x4) average-pooled by 2, tokens row-major
tgt = F.avg_pool2d(outs[1], 2).flatten(2).transpose(1, 2)
out["enc_targets_2x2"] = tgt
tgt4 = outs[1].flatten(2).transpose(1, 2)  # a 4x4 grid uses stage 1 as it is
out["enc_targets_4x4"] = tgt4

# ---- projector and loss: D=12, P=16, F=8, B=2, T=4, weight 0.7 -------------------------------
D, P, Fd, B, T, w = 12, 16, 8, 2, 4, 0.7
pj = Projectors(D, P, Fd)
with torch.no_grad():
    for p in pj.parameters():
        p.add_(0.1 * torch.randn_like(p))
h = torch.randn(B, T, D, requires_grad=True)
target = tgt.detach().clone() if tgt.shape == (B, T, Fd) else torch.randn(B, T, Fd)
z = pj.projectors[0](h)
align = repa_loss(z, target)
(w * align).backward()
for n, p in pj.state_dict().items():
    out["proj." + n] = p
for n, p in pj.named_parameters():
    out["proj_grad." + n] = p.grad
out["proj_h"] = h.detach()
out["proj_target"] = target
out["proj_out"] = z.detach()
out["proj_loss"] = align.detach().reshape(1)
out["proj_dh"] = h.grad
out["proj_w"] = torch.tensor([w])

save("repa_ref.safetensors", out)
print("encoder loss", loss.item(), "align", align.item())
