// evaluate.c: see evaluate.h.
#include "eval/evaluate.h"
#include "eval/frechet.h"
#include "eval/kid.h"
#include "base/util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

int eval_open(Evaluation *e, const Config *cfg, const char *ckpt_dir, const EvalOpts *o, char *err) {
    memset(e, 0, sizeof *e);
    e->o = *o;
    const DataConfig *dc = &cfg->data;
    if (o->n < 2 || o->batch < 1) return seterr(err, "eval: %ld samples in batches of %d (need n >= 2, batch >= 1)", o->n, o->batch);
    if (evaluator_open(&e->ev, o->evaluator, dc->dataset, dc->channels, dc->image_size, o->batch, err)) goto fail;
    e->have_ev = 1;
    if (!o->unchecked && isnan(e->ev.accuracy)) {
        seterr(err, "the evaluation network %s records no test accuracy, so nothing says its metrics can be trusted: "
                    "train one with `repae evaluator train --dataset %s`", o->evaluator && *o->evaluator ? o->evaluator
                    : "(default)", dc->dataset);
        goto fail;
    }
    if (dataset_open(&e->te, dc, DATA_TEST, err)) goto fail;
    if (dataset_open(&e->tr, dc, DATA_TRAIN, err)) goto fail;
    if (model_build(&e->m, cfg, o->batch, 0, err)) goto fail;
    if (e->m.precision_note[0]) fprintf(stderr, "repae: warning: %s\n", e->m.precision_note); // `repae eval` only
    e->have_model = 1;
    e->use_ema = cfg->train.ema > 0;
    if (model_load(&e->m, ckpt_dir, e->use_ema, err)) goto fail;
    if (sample_opts_from_config(&e->so, &cfg->sample, err)) goto fail;
    if (o->steps > 0) e->so.steps = o->steps;
    if (o->cfg_scale >= 0) e->so.cfg_scale = (float)o->cfg_scale;
    e->nheld = dataset_len(e->te) < o->n ? dataset_len(e->te) : o->n;
    e->nfloor = dataset_len(e->tr) < o->n ? dataset_len(e->tr) : o->n;
    if (e->nfloor < 2) { seterr(err, "eval: the training split has %ld images; need 2 for the floor", e->nfloor); goto fail; }
    return 0;
fail:
    eval_close(e);
    return -1;
}

void eval_close(Evaluation *e) {
    if (e->have_model) model_free(&e->m);
    if (e->have_ev) evaluator_free(&e->ev);
    if (e->te) dataset_close(e->te);
    if (e->tr) dataset_close(e->tr);
    memset(e, 0, sizeof *e);
}

// Held-out images through the VAE (posterior mean): reconstructions clamped to [-1, 1] into
// recon; the mean PSNR and latent spread into r.
static void reconstruct_held(Evaluation *e, const float *held, float *recon, EvalResult *r) {
    Model *m = &e->m;
    long nh = e->nheld, batch = e->o.batch;
    size_t nx = m->nx;
    double psnr = 0, lstd = 0;
    for (long i0 = 0; i0 < nh; i0 += batch) {
        int B = (int)(nh - i0 < batch ? nh - i0 : batch);
        vae_encode(&m->vae, held + (size_t)i0 * nx, B);
        vae_sample(&m->vae, NULL, B);
        lstd += latent_std_sum(m->vae.mean, B, m->zc, m->zh * m->zw);
        const float *xr = vae_decode(&m->vae, m->vae.z, B);
        float *dst = recon + (size_t)i0 * nx;
        for (size_t j = 0; j < (size_t)B * nx; j++) dst[j] = xr[j] < -1 ? -1 : xr[j] > 1 ? 1 : xr[j];
        for (int b = 0; b < B; b++) {
            // PSNR of [0, 1] images: the [-1, 1] squared error divided by 4.
            double se = 0;
            const float *a = held + (size_t)(i0 + b) * nx, *x = dst + (size_t)b * nx;
            for (size_t j = 0; j < nx; j++) se += ((double)a[j] - x[j]) * ((double)a[j] - x[j]);
            double mse = se / nx / 4.0;
            psnr += 10.0 * log10(1.0 / (mse > 1e-10 ? mse : 1e-10));
        }
    }
    r->psnr = psnr / nh;
    r->latent_std = lstd / ((double)nh * m->zc);
}

// The share of samples whose most probable class is the one they were drawn for.
static double class_accuracy(const float *probs, const int *labels, long n, int K) {
    long hit = 0;
    for (long i = 0; i < n; i++) {
        const float *p = probs + (size_t)i * K;
        int arg = 0;
        for (int k = 1; k < K; k++) if (p[k] > p[arg]) arg = k;
        hit += arg == labels[i];
    }
    return (double)hit / n;
}

// FD, KID and precision/recall of feature set x (nx) against the held-out features h (nh).
static int set_metrics(const float *h, long nh, const float *x, long nx, int F, SetMetrics *m, char *err) {
    if (fd_features(h, nh, x, nx, F, &m->fd, err) || kid_features(h, nh, x, nx, F, &m->kid, err)) return -1;
    if (nh > PR_K_DEFAULT && nx > PR_K_DEFAULT)
        return precision_recall(h, nh, x, nx, F, PR_K_DEFAULT, &m->precision, &m->recall, err);
    m->precision = m->recall = NAN;
    return 0;
}

int eval_run(Evaluation *e, EvalResult *r, char *err) {
    Model *m = &e->m;
    long n = e->o.n, nh = e->nheld, batch = e->o.batch;
    size_t nx = m->nx;
    int F = e->ev.F, K = e->ev.K, rc = -1;
    memset(r, 0, sizeof *r);
    r->n = n;
    r->nheld = nh;
    r->nfloor = e->nfloor;
    r->acc = NAN;
    long nf = e->nfloor;
    float *flo = xmalloc((size_t)nf * nx * sizeof(float)), *ff = xmalloc((size_t)nf * F * sizeof(float));
    double t0 = now_seconds();
    float *held = xmalloc((size_t)nh * nx * sizeof(float)), *recon = xmalloc((size_t)nh * nx * sizeof(float));
    float *fh = xmalloc((size_t)nh * F * sizeof(float)), *fr = xmalloc((size_t)nh * F * sizeof(float));
    float *samples = xmalloc((size_t)n * nx * sizeof(float)), *fs = xmalloc((size_t)n * F * sizeof(float));
    float *ps = xmalloc((size_t)n * K * sizeof(float));
    int *labels = xmalloc((size_t)n * sizeof(int));

    // Held-out images: reconstruction PSNR, latent spread, evaluator features, rFD.
#pragma omp parallel for
    for (long i = 0; i < nh; i++) dataset_get(e->te, (int)i, held + (size_t)i * nx, NULL);
    reconstruct_held(e, held, recon, r);
    evaluator_run(&e->ev, held, nh, fh, NULL);
    evaluator_run(&e->ev, recon, nh, fr, NULL);
    if (set_metrics(fh, nh, fr, nh, F, &r->recon, err)) goto done;
    r->rfd = r->recon.fd;

    // The floor: other real images at the same N; and the evaluator's sanity on these images.
#pragma omp parallel for
    for (long i = 0; i < nf; i++) dataset_get(e->tr, (int)i, flo + (size_t)i * nx, NULL);
    evaluator_run(&e->ev, flo, nf, ff, NULL);
    if (set_metrics(fh, nh, ff, nf, F, &r->floor, err)) goto done;
    if (!e->o.unchecked) {
        long ns = nh < nf ? nh : nf;
        if (eval_sanity_run(&e->ev, held, flo, ns, e->o.seed + 99, &r->sanity, err)) goto done;
        if (eval_sanity_check(&r->sanity, err)) goto done;
    }

    // Samples, class k % num_classes for sample k, in chunks so that progress shows.
    for (long i = 0; i < n; i++) labels[i] = m->num_classes ? (int)(i % m->num_classes) : 0;
    long chunk = batch * EVAL_CHUNK_BATCHES;
    for (long i0 = 0; i0 < n; i0 += chunk) {
        int nb = (int)(n - i0 < chunk ? n - i0 : chunk);
        model_sample(m, nb, labels + i0, &e->so, e->o.seed * 1000003ULL + (uint64_t)i0, samples + (size_t)i0 * nx);
        if (e->o.progress) e->o.progress(e->o.ctx, i0 + nb, n, now_seconds() - t0);
    }
    evaluator_run(&e->ev, samples, n, fs, ps);
    SetMetrics gen;
    if (set_metrics(fh, nh, fs, n, F, &gen, err)) goto done;
    r->fd = gen.fd;
    r->kid = gen.kid;
    r->precision = gen.precision;
    r->recall = gen.recall;
    r->is = inception_score(ps, n, K, n >= 1000 ? 10 : 1, &r->is_std);
    if (m->num_classes > 0) r->acc = class_accuracy(ps, labels, n, K);
    r->seconds = now_seconds() - t0;
    rc = 0;
done:
    free(flo); free(ff);
    free(held); free(recon); free(fh); free(fr); free(samples); free(fs); free(ps); free(labels);
    return rc;
}
