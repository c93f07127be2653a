"""gen/repa_nets.py: REPA's side of the models in PyTorch, for gen_repa.py (the modules alone)
and gen_train.py (inside the training step): the frozen target encoder of
src/model/encoder.h, the projector MLP and the alignment loss of src/model/repa.h. State-dict
names are the C side's (src/model/encoder.c, and REPA's `projectors.0.{0,2,4}`)."""
import torch.nn as nn
import torch.nn.functional as F


class Unit(nn.Module):
    """One encoder unit: 3x3 conv (stride 1 or 2, pad 1), GroupNorm (eps 1e-5), SiLU."""
    def __init__(self, cin, cout, stride, groups):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride, 1)
        self.norm = nn.GroupNorm(min(groups, cout), cout, eps=1e-5)

    def forward(self, x):
        return F.silu(self.norm(self.conv(x)))


class Encoder(nn.Module):
    """src/model/encoder.h: stages of `convs` units to ch[i] channels, stride 2 at the start of
    every stage but the first, and a linear classifier head on the spatial mean."""
    def __init__(self, cin, ch, convs, groups, classes):
        super().__init__()
        stages, c = [], cin
        for i, co in enumerate(ch):
            units = []
            for j in range(convs):
                units.append(Unit(c, co, 2 if (i > 0 and j == 0) else 1, groups))
                c = co
            stages.append(nn.ModuleList(units))
        self.stages = nn.ModuleList(stages)
        self.head = nn.Linear(c, classes)

    def forward(self, x):
        """Returns (logits, [the output of each stage])."""
        outs = []
        for st in self.stages:
            for u in st:
                x = u(x)
            outs.append(x)
        return self.head(x.mean(dim=(2, 3))), outs


def build_mlp(hidden, proj, z):
    """REPA's projector (models/sit.py build_mlp): Linear-SiLU-Linear-SiLU-Linear."""
    return nn.Sequential(nn.Linear(hidden, proj), nn.SiLU(), nn.Linear(proj, proj), nn.SiLU(), nn.Linear(proj, z))


class Projectors(nn.Module):
    """REPA's SiT holds its projectors as `projectors` (one here: one target encoder)."""
    def __init__(self, D, P, Fd):
        super().__init__()
        self.projectors = nn.ModuleList([build_mlp(D, P, Fd)])


def repa_loss(zs_tilde, zs):
    """REPA's loss.py: the sum over images of the mean over tokens of -cos (F.normalize),
    divided by the batch size."""
    loss, bsz = 0.0, zs.shape[0]
    for z_j, z_tilde_j in zip(zs, zs_tilde):
        z_tilde_j = F.normalize(z_tilde_j, dim=-1)
        z_j = F.normalize(z_j, dim=-1)
        loss = loss + (-(z_j * z_tilde_j).sum(dim=-1)).mean()
    return loss / bsz
