// trainer_dist.c: see trainer_dist.h.
#include "train/trainer_dist.h"
#include "model/params.h"

void trainer_reduce_metrics(Trainer *tr, float *vals) {
    if (!tr->dist) return;
    static const int idx[] = {M_RECON, M_KL, M_DIFF, M_ALIGN, M_SMOOTH, M_LSTD, M_SSTD,
                              M_GAN_G, M_GAN_D, M_LOGITS_REAL, M_LOGITS_FAKE, M_PERC};
    enum { N = sizeof idx / sizeof idx[0] };
    double v[N];
    for (int i = 0; i < N; i++) v[i] = vals[idx[i]];
    dist_allreduce_sum_d(tr->dist, v, N);
    for (int i = 0; i < N; i++) vals[idx[i]] = (float)(v[i] / tr->world);
}

void trainer_reduce_grads(Trainer *tr, float *g, size_t n) {
    if (!tr->dist || !n) return;
    dist_grads_begin(tr->dist, &g, &n, 1, 1.0f / (float)tr->world);
}

static void sit_grad_ready(void *ctx, float *g, size_t n) { trainer_reduce_grads(ctx, g, n); }

void trainer_sit_reduce_during(Trainer *tr, int on) {
    tr->m.sit.grad_ready = on && tr->dist ? sit_grad_ready : NULL;
    tr->m.sit.grad_ready_ctx = tr;
}

static void vae_progress(void *ctx) { dist_progress(((Trainer *)ctx)->dist); }

void trainer_vae_progress_during(Trainer *tr, int on) {
    tr->m.vae.progress = on && tr->dist ? vae_progress : NULL;
    tr->m.vae.progress_ctx = tr;
}

// LDM's table order is encoder.* | decoder.* | quant_conv | post_quant_conv (vae.c); a table
// not laid out so goes whole with the encoder's half.
void trainer_reduce_vae_half(Trainer *tr, int decoder) {
    if (!tr->dist) return;
    ParamTable *p = &tr->m.vae.params;
    const ParamInfo *dec = params_find(p, "decoder.conv_in.weight"), *qc = params_find(p, "quant_conv.weight"),
                    *pqc = params_find(p, "post_quant_conv.weight");
    if (!dec || !qc || !pqc || !(dec->offset < qc->offset && qc->offset < pqc->offset)) {
        if (!decoder) trainer_reduce_grads(tr, p->grad, p->ntrain);
        return;
    }
    if (decoder) {
        trainer_reduce_grads(tr, p->grad + dec->offset, qc->offset - dec->offset);
        trainer_reduce_grads(tr, p->grad + pqc->offset, p->ntrain - pqc->offset);
    } else {
        trainer_reduce_grads(tr, p->grad, dec->offset);
        trainer_reduce_grads(tr, p->grad + qc->offset, pqc->offset - qc->offset);
    }
}
