// test_train_memory.c: the up-front memory estimate (train_memory_estimate, a dry run of the
// builders) against what trainer_build really allocates, for the shipped configs and a few
// variants: against the built trainer's tables, and those against malloc's own count of the
// bytes the build took; and the check (train_memory_check) refusing an absurd config with what
// to lower, passing a normal one.
#include "test.h"
#include "base/sysmem.h"
#include "train/train.h"
#include "train/trainer.h"
#include <malloc.h>

static int set(Config *c, const char *kv) {
    char err[ERRLEN];
    if (config_set(c, kv, err)) { fprintf(stderr, "%s: %s\n", kv, err); return -1; }
    return 0;
}

// Floats of every large allocation of a built trainer, read from its tables.
static double built_floats(const Trainer *tr) {
    const Model *m = &tr->m;
    double nv = m->vae.params.ntrain, ns = m->sit.params.ntrain, nst = m->sit.params.total;
    double a = m->vae.params.total + nv + m->vae.acts.total + m->vae.ws.cap;
    a += nst + ns + m->sit.acts.total + m->bn.params.total;
    a += 2 * nv + 2 * ns + 2 * nst + tr->bufs.total;
    if (tr->proj_opt) {
        double np = tr->proj.params.ntrain;
        a += tr->proj.params.total + np + tr->proj.acts.total + 3 * np;
        a += tr->tgt.enc.params.total + tr->tgt.enc.acts.total + tr->tgt.enc.ws.cap;
    }
    if (tr->gan) { // the discriminator: weights, gradients, activations, scratch, AdamW moments
        double nd = tr->disc.params.ntrain;
        a += tr->disc.params.total + nd + tr->disc.acts.total + tr->disc.ws.cap + 2 * nd;
    }
    return a;
}

// Bytes malloc has handed out and not taken back (every arena, and the mmap'd blocks).
static double heap_bytes(void) {
    struct mallinfo2 mi = mallinfo2();
    return (double)mi.uordblks + (double)mi.hblkhd;
}

// Builds cfg (synthetic input: no dataset needed) and compares. *malloced gets what the build
// took from malloc, to hold built_floats to (the tables could miss an allocation).
static int compare(const Config *cfg, const char *what, double *ratio, double *malloced, double *tables, char *err) {
    double h0 = heap_bytes();
    Trainer *tr = xcalloc(1, sizeof *tr);
    if (trainer_build(tr, cfg, 1, err)) { free(tr); return -1; }
    *malloced = heap_bytes() - h0;
    double got = 4 * built_floats(tr), est = train_memory_estimate(cfg, NULL);
    trainer_free(tr);
    free(tr);
    *ratio = est / got;
    *tables = got;
    printf("  %-34s built %9.1f MB (malloc %9.1f MB), estimated %9.1f MB (%.3f)\n", what, got / 1e6, *malloced / 1e6,
           est / 1e6, *ratio);
    return 0;
}

TEST(estimate_matches_built_trainers) {
    static const char *const cases[][4] = {
        {"configs/tiny.json", NULL, NULL, NULL},
        {"configs/tiny.json", "train.batch_size=64", "vae.mid_attn=true", "vae.latent_bn=true"},
        {"configs/tiny.json", "vae.num_res_blocks=2", "sit.num_classes=10", "data.image_size=32"},
        {"configs/tiny.json", "align.kind=repa", "align.projector_dim=32", "train.batch_size=16"},
        {"configs/tiny.json", "loss.w_gan=0.1", "disc.ch=64", "data.image_size=32"},
        {"configs/fm32-small.json", "train.batch_size=8", NULL, NULL},
        {"configs/repa-e.json", "train.batch_size=4", NULL, NULL},
    };
    char err[ERRLEN];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        Config c;
        config_defaults(&c);
        CHECK(config_load(&c, cases[k][0], err) == 0, "%s", err);
        char what[160];
        int n = snprintf(what, sizeof what, "%s", cases[k][0] + 8);
        for (int i = 1; i < 4 && cases[k][i]; i++) {
            CHECK(!set(&c, cases[k][i]), "%s", cases[k][i]);
            n += snprintf(what + n, sizeof what - n, " %s", cases[k][i]);
        }
        c.align.encoder[0] = 0; // a random target encoder of the default layout
        CHECK(config_validate(&c, err) == 0, "%s: %s", what, err);
        double r, malloced, tables;
        CHECK(compare(&c, what, &r, &malloced, &tables, err) == 0, "%s: %s", what, err);
        CHECK(r > 0.95 && r < 1.05, "%s: estimate is %.3f of the allocation", what, r);
        // The tables account for what was really allocated: malloc's count exceeds them only by
        // the small tables themselves and the VAE activations' rounding to 2 MB huge pages.
        // (AddressSanitizer's allocator reports nothing through mallinfo2: then only the tables.)
        CHECK(malloced == 0 || (malloced >= 0.99 * tables && malloced <= 1.02 * tables + (8 << 20)),
              "%s: malloc handed out %.1f MB for %.1f MB of tables", what, malloced / 1e6, tables / 1e6);
    }
}

// Past a few images the estimate grows by per_image per image (what the advice divides by).
TEST(per_image_is_the_batch_slope) {
    Config c;
    config_defaults(&c);
    CHECK(!set(&c, "train.batch_size=1024"), "config");
    double per, e1 = train_memory_estimate(&c, &per);
    CHECK(!set(&c, "train.batch_size=65536"), "config");
    double e2 = train_memory_estimate(&c, NULL);
    CHECK(per > 0 && fabs((e2 - e1) - 64512 * per) < 1e-6 * (e2 - e1), "1024 vs 65536 images: +%.0f bytes, per image %.0f",
          e2 - e1, per);
}

TEST(absurd_config_is_refused_with_what_to_lower) {
    char err[ERRLEN] = "";
    Config c;
    config_defaults(&c);
    const char *what;
    double avail = sysmem_available(&what);
    CHECK(avail > 0, "no available-memory figure on this machine");
    CHECK(!set(&c, "train.batch_size=65536") && !set(&c, "data.image_size=256"), "config");
    CHECK(config_validate(&c, err) == 0, "%s", err);
    CHECK(train_memory_check(&c, err) != 0, "65536 images of 256x256 passed the check (%.3g bytes available)", avail);
    CHECK(strstr(err, "train.batch_size") && strstr(err, "at most") && strstr(err, "available"), "message: %s", err);
    printf("  %s\n", err);
    // Width: even one image does not fit when the SiT alone is terabytes.
    config_defaults(&c);
    CHECK(!set(&c, "sit.hidden=16384") && !set(&c, "sit.heads=16") && !set(&c, "sit.depth=128"), "config");
    CHECK(config_validate(&c, err) == 0, "%s", err);
    CHECK(train_memory_check(&c, err) != 0 && strstr(err, "sit.hidden") && strstr(err, "even one image"),
          "a 16384-wide, 128-deep SiT: %s", err);
}

TEST(normal_config_passes_the_check) {
    char err[ERRLEN] = "";
    Config c;
    config_defaults(&c);
    CHECK(train_memory_check(&c, err) == 0, "tiny refused: %s", err);
    // The shipped recipe, on a machine with room for it (twice its estimate).
    CHECK(config_load(&c, "configs/fm32-small.json", err) == 0, "%s", err);
    double est = train_memory_estimate(&c, NULL);
    printf("  fm32-small at batch %d: about %.0f MB\n", c.train.batch_size, est / 1e6);
    if (sysmem_available(NULL) > 2 * est) CHECK(train_memory_check(&c, err) == 0, "fm32-small refused: %s", err);
}


// Sizes beyond what a dry run at large batches can hold in size_t (a 4096x4096 latent grid of
// 16.7M tokens, whose attention alone is petabytes per image): extrapolated in doubles from
// one and two images, refused by the check, never wrapped around to a small number.
TEST(absurd_sizes_are_extrapolated_not_wrapped) {
    char err[ERRLEN] = "";
    Config c;
    config_defaults(&c);
    CHECK(!set(&c, "data.image_size=4096") && !set(&c, "vae.ch=[4]") && !set(&c, "sit.patch=1") && !set(&c, "sit.heads=1"),
          "config");
    CHECK(config_validate(&c, err) == 0, "%s", err);
    double per, est = train_memory_estimate(&c, &per);
    double tokens = 4096.0 * 4096.0, attn = 4 * tokens * tokens * c.sit.depth * c.train.batch_size;
    CHECK(est > attn && est < 2 * attn + 1e15 && per > 0, "estimate %.3g bytes, per image %.3g (attention alone %.3g)",
          est, per, attn);
    CHECK(train_memory_check(&c, err) != 0 && strstr(err, "even one image"), "the check: %s", err);
}

int main(void) {
    RUN(estimate_matches_built_trainers);
    RUN(per_image_is_the_batch_slope);
    RUN(absurd_config_is_refused_with_what_to_lower);
    RUN(normal_config_passes_the_check);
    RUN(absurd_sizes_are_extrapolated_not_wrapped);
    return test_summary();
}
