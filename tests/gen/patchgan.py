"""gen/patchgan.py: the PatchGAN discriminator in taming-transformers' NLayerDiscriminator
layout (what REPA-E's loss module trains), written out here so that the reference generators
need nothing but torch; the state_dict names are taming's ("main.<i>.*"). And the hinge losses."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class PatchGAN(nn.Module):
    def __init__(self, input_nc=3, ndf=64, n_layers=3):
        super().__init__()
        seq = [nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        m = 1
        for n in range(1, n_layers):
            prev, m = m, min(2 ** n, 8)
            seq += [nn.Conv2d(ndf * prev, ndf * m, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * m), nn.LeakyReLU(0.2, True)]
        prev, m = m, min(2 ** n_layers, 8)
        seq += [nn.Conv2d(ndf * prev, ndf * m, 4, 1, 1, bias=False), nn.BatchNorm2d(ndf * m), nn.LeakyReLU(0.2, True)]
        seq += [nn.Conv2d(ndf * m, 1, 4, 1, 1)]
        self.main = nn.Sequential(*seq)

    def forward(self, x):
        return self.main(x)


def weights_init(mod):
    """taming's: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02) and biases 0."""
    name = mod.__class__.__name__
    if "Conv" in name:
        nn.init.normal_(mod.weight.data, 0.0, 0.02)
    elif "BatchNorm" in name:
        nn.init.normal_(mod.weight.data, 1.0, 0.02)
        nn.init.constant_(mod.bias.data, 0)


def state_dict_f32(d):
    """The state_dict repae saves: every tensor but the BatchNorms' num_batches_tracked."""
    return {k: v for k, v in d.state_dict().items() if not k.endswith("num_batches_tracked")}


def hinge_g(fake):
    return -torch.mean(fake)


def hinge_d(real, fake):
    return 0.5 * (torch.mean(F.relu(1.0 - real)) + torch.mean(F.relu(1.0 + fake)))
