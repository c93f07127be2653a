// config_validate.c: the checks across keys (sizes divisible by the patch and downsampling,
// heads dividing hidden, a dataset's fixed shape...), after each key's own range.
#include <string.h>
#include "base/config.h"
#include "base/config_keys.h"
#include "base/util.h"

int config_validate(const Config *c, char *err) {
    // Per-key ranges again, so a Config built in code gets the same checks as a parsed one.
    if (config_check_keys(c, err) != 0) return -1;
    const DataConfig *d = &c->data;
    if (d->channels != 1 && d->channels != 3)
        return seterr(err, "data.channels: %d is not allowed: must be 1 (gray) or 3 (RGB)", d->channels);
    if (strcmp(d->dataset, "fashion-mnist") == 0) {
        if (d->channels != 1)
            return seterr(err, "data.channels: fashion-mnist is gray: set data.channels to 1 (it is %d)", d->channels);
        if (d->image_size != 32)
            return seterr(err, "data.image_size: fashion-mnist images are 28x28 padded to 32x32: set data.image_size "
                          "to 32 (it is %d)", d->image_size);
    }
    if (strcmp(d->dataset, "folder") == 0 && !d->path[0])
        return seterr(err, "data.path: the folder dataset needs data.path, a directory with one subfolder of PNGs per class");
    const VaeConfig *v = &c->vae;
    if (v->nlevels < 1 || v->nlevels > CFG_MAXLEVELS)
        return seterr(err, "vae.ch: must have 1 to %d levels (has %d)", CFG_MAXLEVELS, v->nlevels);
    for (int i = 0; i < v->nlevels; i++) {
        int g = v->groups < v->ch[i] ? v->groups : v->ch[i];
        if (v->ch[i] % g)
            return seterr(err, "vae.groups: %d groups do not divide vae.ch[%d] = %d channels; pick groups that divide "
                          "every entry of vae.ch", v->groups, i, v->ch[i]);
    }
    int down = 1 << (v->nlevels - 1);
    const SitConfig *s = &c->sit;
    if (d->image_size % (down * s->patch))
        return seterr(err, "data.image_size: %d is not divisible by 2^(len(vae.ch)-1) * sit.patch = %d * %d = %d; "
                      "change data.image_size, vae.ch or sit.patch", d->image_size, down, s->patch, down * s->patch);
    if (s->hidden % s->heads)
        return seterr(err, "sit.hidden: %d is not divisible by sit.heads = %d", s->hidden, s->heads);
    if (s->hidden % 4)
        return seterr(err, "sit.hidden: %d must be a multiple of 4 (the 2-D sin-cos position embedding splits it "
                      "into four parts)", s->hidden);
    if (s->num_classes > 0) {
        int need = strcmp(d->dataset, "fashion-mnist") == 0 ? 10 : strcmp(d->dataset, "shapes") == 0 ? 5
                 : strcmp(d->dataset, "simple-shapes") == 0 ? 4 : 0;
        if (s->num_classes < need)
            return seterr(err, "sit.num_classes: %s has %d classes; set sit.num_classes to 0 (unconditional) or at least %d",
                          d->dataset, need, need);
    }
    if (c->sample.cfg != 1.0f && s->num_classes == 0)
        return seterr(err, "sample.cfg: guidance (%g) needs a class-conditional model: set sit.num_classes, or "
                      "sample.cfg to 1", c->sample.cfg);
    if (c->sample.cfg_interval[0] > c->sample.cfg_interval[1])
        return seterr(err, "sample.cfg_interval: [%g, %g] is empty: the first number must not exceed the second",
                      c->sample.cfg_interval[0], c->sample.cfg_interval[1]);
    if (strcmp(c->align.kind, "none") != 0 && c->align.depth > s->depth)
        return seterr(err, "align.depth: %d exceeds sit.depth = %d; align after one of the SiT blocks 1..%d",
                      c->align.depth, s->depth, s->depth);
    if (c->loss.w_gan > 0) {
        // The PatchGAN (model/disc.h): each stride-2 conv halves the side, the last two take one off.
        int side = d->image_size;
        for (int i = 0; i < c->disc.layers; i++) side /= 2;
        if (side - 2 < 1)
            return seterr(err, "disc.layers: %d layers leave no logit of a %d px image (%d px after the stride-2 convs, "
                          "minus 2): lower disc.layers, or set loss.w_gan to 0", c->disc.layers, d->image_size, side);
    }
    if (!c->train.train_vae && !c->train.train_sit)
        return seterr(err, "train.vae and train.sit are both false: nothing would be trained");
    if (c->train.steps <= 0) return seterr(err, "train.steps: must be > 0");
    const CfgSteps *keep = &c->train.ckpt_keep;
    for (int i = 1; i < keep->n; i++)
        if (keep->step[i] <= keep->step[i - 1])
            return seterr(err, "train.ckpt_keep: %d follows %d: list the steps in ascending order, each once",
                          keep->step[i], keep->step[i - 1]);
    if (c->train.warmup > c->train.steps)
        return seterr(err, "train.warmup: %d exceeds train.steps = %d", c->train.warmup, c->train.steps);
    return 0;
}
