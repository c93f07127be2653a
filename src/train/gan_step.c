// gan_step.c: the VAE's GAN term as REPA-E's loss module has it (loss/losses.py, after
// taming-transformers and TiTok): a PatchGAN discriminator D (model/disc.h) trained with the
// hinge loss 0.5 (mean relu(1 - D(x)) + mean relu(1 + D(xr.detach()))), and the generator term
// w_gan * -mean(D(xr)) on the decoder output, both from step loss.gan_start. The weight is
// fixed (REPA-E's d_weight = discriminator_weight; taming's adaptive weight is not used
// there). D has its own AdamW (disc.lr, betas 0.9 / 0.999, no weight decay) and is clipped at
// train.clip, as REPA-E's max_grad_norm. See docs/losses.md.
//
// Order within trainer_step: REPA-E computes the VAE loss (its D forward on xr with D's
// current weights), steps the VAE, then D's loss on the same, pre-update reconstructions with
// D's still-current weights, then steps D. Both losses therefore see the same D and the same
// xr, and computing D's gradients before the VAE update (as here, so that a non-finite D loss
// or gradient aborts the step before anything changed) is the same arithmetic.
#include "train/trainer.h"
#include "ops/ops.h"
#include "base/util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

// The discriminator's SyncBatchNorm reduction (as the latent BN's).
static void disc_reduce(void *ctx, double *v, int n) { dist_allreduce_sum_d(ctx, v, (size_t)n); }

int gan_build(Trainer *tr, int mode, char *err) {
    const Config *c = &tr->cfg;
    tr->gan = c->loss.w_gan > 0 && c->train.train_vae;
    if (!tr->gan) return 0;
    int count = mode & TRAINER_COUNT;
    const Model *m = &tr->m;
    if (disc_build(&tr->disc, m->C, m->S, c->disc.layers, c->disc.ch, tr->B, (count ? ALLOC_COUNT : 0) | ALLOC_GRAD,
                   err))
        return -1;
    if (tr->dist) {
        tr->disc.reduce = disc_reduce;
        tr->disc.reduce_ctx = (void *)tr->dist;
        tr->disc.world = tr->world;
    }
    // The step buffers go into the trainer's table (trainer_build allocates it after this).
    Disc *d = &tr->disc;
    buf_add(&tr->bufs, &tr->dlog, (size_t)tr->B * d->Ho * d->Wo);
    buf_add(&tr->bufs, &tr->dxr_gan, (size_t)tr->B * m->nx);
    buf_add(&tr->bufs, &tr->disc_save, d->params.total - d->params.ntrain);
    buf_add(&tr->bufs, &tr->disc_stats, disc_stats_floats(d));
    if (count) return 0; // the moments: 2 ntrain floats (memory.c)
    size_t n = d->params.ntrain;
    tr->disc_opt = xcalloc(2 * n, sizeof(float));
    tr->m_disc = tr->disc_opt;
    tr->v_disc = tr->m_disc + n;
    return 0;
}

void gan_free(Trainer *tr) {
    if (!tr->gan) return;
    disc_free(&tr->disc);
    free(tr->disc_opt);
    tr->disc_opt = NULL;
}

void gan_init_weights(Trainer *tr) {
    if (!tr->gan) return;
    Rng r;
    rng_seed(&r, (uint64_t)tr->cfg.train.seed ^ 0xd15cULL);
    disc_init(&tr->disc, &r);
}

int gan_on(const Trainer *tr) { return tr->gan && tr->step >= tr->cfg.loss.gan_start; }

static float mean_of(const float *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    return (float)(s / (double)n);
}

void gan_pass(Trainer *tr, const float *xr, float *vals) {
    Disc *d = &tr->disc;
    ParamTable *p = &d->params;
    int B = tr->B;
    size_t nl = (size_t)B * d->Ho * d->Wo, nx = (size_t)B * tr->m.nx;
    memcpy(tr->disc_save, p->data + p->ntrain, (p->total - p->ntrain) * sizeof(float));
    params_zero_grad(p);
    // Fake: the generator term's gradient on xr through D (no weight gradient: REPA-E turns
    // D's requires_grad off for it), then D's own hinge half on the same logits (xr detached:
    // only weight gradients). The logits are those of one forward; PyTorch runs two identical
    // ones (the generator's, then after the real batch the discriminator's), so the running
    // statistics take this batch's statistics again after the real one's, in that order.
    const float *fake = disc_forward(d, xr, B, 1);
    disc_stats_save(d, tr->disc_stats);
    vals[M_GAN_G] = hinge_g_forward(fake, nl);
    vals[M_LOGITS_FAKE] = mean_of(fake, nl);
    float dfake = hinge_d_fake_forward(fake, nl);
    memset(tr->dxr_gan, 0, nx * sizeof(float));
    memset(tr->dlog, 0, nl * sizeof(float));
    hinge_g_backward(tr->dlog, nl, tr->cfg.loss.w_gan);
    disc_backward(d, tr->dxr_gan, tr->dlog, 0);
    memset(tr->dlog, 0, nl * sizeof(float));
    hinge_d_fake_backward(tr->dlog, fake, nl, 1.0f);
    disc_backward(d, NULL, tr->dlog, 1);
    // Real: D's other half on x.
    const float *real = disc_forward(d, tr->x, B, 1);
    vals[M_LOGITS_REAL] = mean_of(real, nl);
    vals[M_GAN_D] = hinge_d_real_forward(real, nl) + dfake;
    memset(tr->dlog, 0, nl * sizeof(float));
    hinge_d_real_backward(tr->dlog, real, nl, 1.0f);
    disc_backward(d, NULL, tr->dlog, 1);
    disc_track_stats(d, tr->disc_stats);
}

void gan_grad_norm(Trainer *tr, float *vals) {
    ParamTable *p = &tr->disc.params;
    if (tr->dist) {
        dist_allreduce_sum_f(tr->dist, p->grad, p->ntrain);
        scale_inplace(p->grad, p->ntrain, 1.0f / (float)tr->world);
    }
    vals[M_GN_DISC] = global_norm(p->grad, p->ntrain);
}

void gan_update(Trainer *tr, const float *vals) {
    const Config *c = &tr->cfg;
    ParamTable *p = &tr->disc.params;
    // torch.nn.utils.clip_grad_norm_ given the norm, as trainer.c's clip_scale.
    if (c->train.clip > 0) {
        float coef = c->train.clip / (vals[M_GN_DISC] + 1e-6f);
        if (coef < 1.0f) scale_inplace(p->grad, p->ntrain, coef);
    }
    // D's AdamW counts its own updates, the first at loss.gan_start.
    int t = (int)(tr->step - c->loss.gan_start) + 1;
    adamw_update(p->data, p->grad, tr->m_disc, tr->v_disc, p->ntrain, c->disc.lr, 0.9f, 0.999f, 1e-8f, 0.0f, t);
}

void gan_abort(Trainer *tr) {
    if (!gan_on(tr)) return;
    ParamTable *p = &tr->disc.params;
    memcpy(p->data + p->ntrain, tr->disc_save, (p->total - p->ntrain) * sizeof(float));
}
