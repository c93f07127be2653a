// evaluator.c: see evaluator.h.
#include "model/evaluator.h"
#include "base/safetensors.h"
#include "base/util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

EvaluatorRecipe evaluator_recipe(const char *dataset, int channels, int size, int num_classes) {
    // Shapes is learnt in a few hundred steps; elsewhere 1500 steps (1.6 epochs of
    // fashion-mnist at batch 64) bring the small default net near its plateau.
    EvaluatorRecipe r = {.layout = evaluator_layout_default(channels, size, num_classes),
                         .steps = strcmp(dataset, "shapes") == 0 ? 600 : 1500, .batch = 64, .augment = 0, .lr = 2e-3f,
                         .lr_end = 0.1f, .weight_decay = 1e-4f};
    // fashion-mnist: the small net plateaus near 86-88%, below the 93% floor. Three stages of two
    // convs at 32/64/128 channels reached 91.45% in 6000 steps and 92.58% in 15000, underfitting
    // (train accuracy hardly above test); a fourth stage (256) with 1-pixel shifts, 15000 steps,
    // cosine to 0 and decay 0.05 reached 93.68% (docs/evaluator.md). size % 8 keeps the four
    // stages whole.
    if (strcmp(dataset, "fashion-mnist") == 0 && size % 8 == 0) {
        EncoderLayout L = {.channels = channels, .size = size, .nlevels = 4, .ch = {32, 64, 128, 256}, .convs = 2,
                           .groups = 8, .num_classes = num_classes};
        r.layout = L;
        r.steps = 15000;
        r.augment = 1;
        r.lr_end = 0;
        r.weight_decay = 0.05f;
    }
    return r;
}

double evaluator_accuracy_floor(const char *dataset) {
    if (strcmp(dataset, "fashion-mnist") == 0) return 0.93;
    if (strcmp(dataset, "shapes") == 0) return 0.90;
    return 0;
}

// A number in the file's metadata, NaN if absent or unreadable.
static double meta_number(const SafeTensors *st, const char *key) {
    const char *v = st_meta(st, key);
    char *end;
    double x = v ? strtod(v, &end) : NAN;
    return v && end != v ? x : NAN;
}

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
    SafeTensors st;
    if (st_read(&st, path, err)) { encoder_free(&ev->net); return -1; }
    ev->accuracy = meta_number(&st, "repae.test_accuracy");
    double own = meta_number(&st, "repae.accuracy_floor");
    st_free(&st);
    ev->floor = evaluator_accuracy_floor(dataset);
    if (!isnan(own) && own > ev->floor) ev->floor = own;
    if (!isnan(ev->accuracy) && ev->accuracy < ev->floor) {
        encoder_free(&ev->net);
        // The defaults reach their floors (fashion-mnist's 93.68%, one seed), so the message says to
        // retrain with them; on fashion-mnist it names the recipe, since older files used others.
        int fm = strcmp(dataset, "fashion-mnist") == 0;
        return seterr(err, "evaluation network %s reached only %.2f%% test accuracy on %s, below the %.0f%% floor its "
                           "metrics need to be trusted: %s, or pass a better one with --evaluator", path,
                      100 * ev->accuracy, dataset, 100 * ev->floor,
                      fm ? "retrain with the default `repae evaluator train --dataset fashion-mnist` recipe (four stages, "
                           "15000 steps: 93.68%, docs/evaluator.md)"
                         : "retrain it (`repae evaluator train --dataset D`; the default recipe reaches the floor)");
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
