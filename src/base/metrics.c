// metrics.c: see metrics.h.
#include "base/metrics.h"
#include <math.h>
#include <string.h>

#define C (METRIC_CHARTED | METRIC_COLUMN)
static const Metric TABLE[] = {
    // the losses: charted, the five parts also as columns
    {"recon", BETTER_LOWER, C, "recon"},
    {"kl", BETTER_LOWER, C, "kl"},
    {"diffusion", BETTER_LOWER, C, "diff"},
    {"align", BETTER_LOWER, C, "align"}, // a negative cosine similarity: lower is closer
    {"smooth", BETTER_LOWER, C, "smooth"},
    {"total", BETTER_LOWER, METRIC_CHARTED, "total"},
    // training diagnostics: rates, norms and scales have no better direction
    {"latent_std", BETTER_NEITHER, 0, "lstd"},
    {"grad_norm_vae", BETTER_NEITHER, 0, "gn.vae"},
    {"grad_norm_sit", BETTER_NEITHER, 0, "gn.sit"},
    {"lr_vae", BETTER_NEITHER, 0, "lr.vae"},
    {"lr_sit", BETTER_NEITHER, 0, "lr.sit"},
    {"img_per_s", BETTER_NEITHER, 0, "img/s"},
    // The GAN term (loss.w_gan): adversarial losses have no better direction between runs (a
    // lower gan_d is a discriminator winning, a lower gan_g one losing); not charted, so that
    // the charts of runs without a GAN stay as they are (charting them is METRIC_NCHARTED's).
    {"gan_g", BETTER_NEITHER, 0, "gan.g"},
    {"gan_d", BETTER_NEITHER, 0, "gan.d"},
    {"logits_real", BETTER_NEITHER, 0, "lg.re"},
    {"logits_fake", BETTER_NEITHER, 0, "lg.fk"},
    {"grad_norm_disc", BETTER_NEITHER, 0, "gn.dsc"},
    // loss.w_perc: the perceptual distance of the reconstructions (LPIPS's stand-in), lower
    {"perc", BETTER_LOWER, 0, "perc"},
    // `repae eval`: Frechet distances lower, scores higher
    {"eval.fd", BETTER_LOWER, 0, "FD"},
    {"eval.rfd", BETTER_LOWER, 0, "rFD"},
    {"eval.is", BETTER_HIGHER, 0, "IS"},
    {"eval.acc", BETTER_HIGHER, 0, "acc"},
    {"eval.psnr", BETTER_HIGHER, 0, "PSNR"},
    {"eval.latent_std", BETTER_NEITHER, 0, "e.lstd"},
    {"eval.n", BETTER_NEITHER, 0, "n"},
};
#undef C
#define NMETRICS ((int)(sizeof TABLE / sizeof TABLE[0]))

int metric_count(void) { return NMETRICS; }

const Metric *metric_at(int i) { return i >= 0 && i < NMETRICS ? &TABLE[i] : NULL; }

const Metric *metric_find(const char *name) {
    for (int i = 0; i < NMETRICS; i++)
        if (strcmp(TABLE[i].name, name) == 0) return &TABLE[i];
    return NULL;
}

MetricBetter metric_better(const char *name) {
    const Metric *m = metric_find(name);
    return m ? m->better : BETTER_NEITHER;
}

const char *metric_label(const char *name) {
    const Metric *m = metric_find(name);
    return m ? m->label : name;
}

int metric_beats(MetricBetter better, double a, double b) {
    if (better == BETTER_NEITHER || isnan(a)) return 0;
    if (isnan(b)) return 1;
    return better == BETTER_LOWER ? a < b : a > b;
}
