// evaluator.c: see evaluator.h.
#include "model/evaluator.h"
#include "base/util.h"
#include <string.h>
#include <sys/stat.h>

int evaluator_open(Evaluator *ev, const char *path, const char *dataset, int channels, int size, int max_batch,
                   char *err) {
    memset(ev, 0, sizeof *ev);
    char def[1024], kind[32];
    if (!path || !*path) path = encoder_default_path("evaluator", dataset, def, sizeof def);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return seterr(err, "evaluation network %s does not exist: run `repae evaluator train --dataset %s` first "
                           "(or pass --evaluator FILE)", path, dataset);
    if (encoder_load(&ev->net, path, channels, size, max_batch, kind, err)) return -1;
    if (strcmp(kind, "encoder") == 0) {
        encoder_free(&ev->net);
        return seterr(err, "%s is a REPA target encoder, not an evaluation network: the metrics need a network "
                           "trained apart from the one the model aligned to (`repae evaluator train`)", path);
    }
    ev->F = ev->net.L.ch[ev->net.L.nlevels - 1];
    ev->K = ev->net.L.num_classes;
    return 0;
}

void evaluator_free(Evaluator *ev) {
    encoder_free(&ev->net);
    memset(ev, 0, sizeof *ev);
}

void evaluator_run(Evaluator *ev, const float *images, long n, float *feats, float *probs) {
    Encoder *e = &ev->net;
    size_t per = (size_t)e->L.channels * e->L.size * e->L.size;
    for (long i0 = 0; i0 < n; i0 += e->max_batch) {
        int nb = (int)(n - i0 < e->max_batch ? n - i0 : e->max_batch);
        encoder_forward(e, images + (size_t)i0 * per, nb);
        if (feats) memcpy(feats + (size_t)i0 * ev->F, e->pool, (size_t)nb * ev->F * sizeof(float));
        if (probs) memcpy(probs + (size_t)i0 * ev->K, e->probs, (size_t)nb * ev->K * sizeof(float));
    }
}
