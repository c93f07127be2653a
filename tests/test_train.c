// test_train.c: the training run around the step (the step itself is checked against PyTorch in
// test_train_step.c): exact resume, divergence, overfitting one batch, gradient routing
// (train.vae / train.sit / grad_to_vae), init.vae and checkpoint errors, sampling with EMA,
// guidance and latent BN, the logged keys, the FLOP count; and the GAN term's state (exact
// resume, abort, checkpoints without the discriminator's file).
#include "test.h"
#include "testutil.h"
#include "model/encoder.h"
#include "model/model.h"
#include "train/checkpoint.h"
#include "train/train.h"
#include "train/trainer.h"
#include <omp.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[256];

static void base_cfg(Config *c) {
    config_defaults(c); // the tiny size on shapes
    c->train.log_every = 1;
    c->train.sample_every = 0;
    c->train.ckpt_every = 0;
    c->sample.n = 4;
    c->sample.steps = 4;
    // One thread: tiny models on a loaded 2-core machine spend most of their time in OpenMP
    // barriers otherwise. The resume test runs on two (determinism with threads matters).
    c->train.threads = 1;
}

static int set(Config *c, const char *kv) {
    char err[ERRLEN];
    if (config_set(c, kv, err)) { fprintf(stderr, "%s: %s\n", kv, err); return -1; }
    return 0;
}

// ---- a recording hook set ---------------------------------------------------------------------
#include "train_rec.h"

// A random target encoder of the default layout for the tiny size (16x16 RGB, 5 classes) in a
// file, as `repae encoder train` would write it.
static int write_encoder(const char *path, char *err) {
    EncoderLayout L = encoder_layout_default(3, 16, 5);
    Encoder e;
    if (encoder_build(&e, &L, 1, 0, err)) return -1;
    Rng r;
    rng_seed(&r, 77);
    encoder_init(&e, &r);
    int rc = encoder_save(&e, path, "ssl-encoder", "shapes", -1, err);
    encoder_free(&e);
    return rc;
}

// ---- resume --------------------------------------------------------------------------------------
// repa adds the projector's weights, moments and EMA and the frozen encoder's targets; gan the
// discriminator's weights, BN running statistics and moments, switched on at step 3 so that the
// checkpoint of step 4 holds a discriminator that has trained and the split run resumes it.
static void check_resume(const char *name, int repa, int gan) {
    Config c;
    base_cfg(&c);
    // Everything that carries state across steps: BN running statistics, class dropout draws,
    // the EMA, warmup, the loader's cursor, both AdamW.
    CHECK(!set(&c, "vae.latent_bn=true") && !set(&c, "sit.num_classes=5") && !set(&c, "train.ema=0.9") &&
          !set(&c, "train.warmup=3") && !set(&c, "train.steps=10") && !set(&c, "train.ckpt_every=4") &&
          !set(&c, "sit.class_dropout=0.3") && !set(&c, "train.threads=2"), "config");
    char da[300], db[300], p0[400], err[ERRLEN];
    if (repa) {
        char enc[300];
        snprintf(enc, sizeof enc, "%s/encoder.safetensors", tmp);
        CHECK(write_encoder(enc, err) == 0, "%s", err);
        // One thread: the plain case covers determinism with threads (and costs ~30 s on a
        // loaded 2-core machine in OpenMP barriers).
        CHECK(!set(&c, "align.kind=repa") && !set(&c, "align.depth=1") && !set(&c, "align.projector_dim=16") &&
              !set(&c, "train.threads=1") && !set(&c, "loss.w_perc=0.5"), "config");
        snprintf(c.align.encoder, sizeof c.align.encoder, "%s", enc);
    }
    if (gan)
        CHECK(!set(&c, "loss.w_gan=0.1") && !set(&c, "loss.gan_start=3") && !set(&c, "disc.ch=8") &&
              !set(&c, "train.threads=1"), "config");
    snprintf(da, sizeof da, "%s/%s_full", tmp, name);
    snprintf(db, sizeof db, "%s/%s_split", tmp, name);
    Rec a = {0}, b1 = {0}, b2 = {0};
    TrainHooks h = hooks_for(&a);
    CHECK(train_run(&c, da, 0, &h, err) == TRAIN_DONE, "full run: %s", err);
    CHECK(a.n == 10, "full run logged %d steps", a.n);
    b1.stop_after = 6;
    h = hooks_for(&b1);
    CHECK(train_run(&c, db, 0, &h, err) == TRAIN_STOPPED, "stopped run: %s", err);
    CHECK(b1.n == 6 && train_latest_checkpoint(db) == 6, "stopped at %d, checkpoint %ld", b1.n,
          train_latest_checkpoint(db));
    h = hooks_for(&b2);
    CHECK(train_run(&c, db, 1, &h, err) == TRAIN_DONE, "resumed run: %s", err);
    CHECK(b2.n == 4 && b2.step[0] == 7, "resumed run logged %d steps from %ld", b2.n, b2.step[0]);
    for (int k = 0; k < 10; k++) {
        const float *want = a.v[k], *got = k < 6 ? b1.v[k] : b2.v[k - 6];
        for (int i = 0; i < TRAIN_NMETRICS; i++) {
            if (strcmp(train_metric_names[i], "img_per_s") == 0) continue;
            CHECK(memcmp(&want[i], &got[i], sizeof(float)) == 0, "step %d %s: %.9g uninterrupted, %.9g resumed", k + 1,
                  train_metric_names[i], want[i], got[i]);
        }
    }
    if (repa) { // the targets came from the cache (targets.c), written beside the encoder
        char cmd[600];
        snprintf(cmd, sizeof cmd, "ls %s/encoder.targets-*.bin >/dev/null 2>&1", tmp);
        CHECK(system(cmd) == 0, "no target cache beside %s/encoder.safetensors", tmp);
    }
    static const char *files[] = {"vae.safetensors", "sit.safetensors", "sit_ema.safetensors", "state.safetensors",
                                  "disc.safetensors"};
    for (int i = 0; i < 4 + gan; i++) {
        char fa[400], fb[400];
        snprintf(fa, sizeof fa, "%s/ckpt/00000010/%s", da, files[i]);
        snprintf(fb, sizeof fb, "%s/ckpt/00000010/%s", db, files[i]);
        CHECK(same_file(fa, fb), "final %s differs between the uninterrupted and the resumed run", files[i]);
    }
    // Every spec key is logged (diffusion too: the SiT trains); the GAN's only with it, from
    // loss.gan_start (step 3 is the first, after 3 steps done); perc only with loss.w_perc (on
    // in the repa case, which also reads its targets from the cache built beside the encoder);
    // align only with an alignment (the base config has align.kind none).
    for (int i = 0; i < TRAIN_NMETRICS; i++) {
        int g = i >= M_GAN_G && i <= M_GN_DISC, off = (g && !gan) || ((i == M_PERC || i == M_ALIGN) && !repa);
        CHECK(off ? isnan(a.v[9][i]) : !isnan(a.v[9][i]), "%s %slogged", train_metric_names[i], off ? "" : "not ");
        if (g) CHECK(isnan(a.v[2][i]) && (!gan || !isnan(a.v[3][i])), "%s before/at loss.gan_start", train_metric_names[i]);
    }
    if (gan) {
        // The discriminator's file loads into taming's names; the checkpoint without GAN has none.
        SafeTensors st;
        snprintf(p0, sizeof p0, "%s/ckpt/00000010/disc.safetensors", da);
        LOAD_REF(st, p0);
        CHECK(st_find(&st, "main.0.weight") && st_find(&st, "main.3.running_var") && !st_find(&st, "main.2.bias"),
              "%s lacks taming's names", p0);
        st_free(&st);
        // `repae export --safetensors` (ckpt_merge_weights) takes it along as disc.*.
        char dir[400], out[400];
        snprintf(dir, sizeof dir, "%s/ckpt/00000010", da);
        snprintf(out, sizeof out, "%s/gan_export.safetensors", tmp);
        CHECK(ckpt_merge_weights(dir, out, NULL, err) == 0, "%s", err);
        LOAD_REF(st, out);
        CHECK(st_find(&st, "disc.main.0.weight") && st_find(&st, "vae.decoder.conv_out.weight"),
              "the export lacks the discriminator or the VAE");
        st_free(&st);
    }
    CHECK(a.v[0][9] > 0 && fabsf(a.v[0][9] - 1e-4f / 3) < 1e-9f, "warmup lr_vae at step 1 is %g", a.v[0][9]);
    CHECK(a.v[5][10] == 1e-4f, "lr_sit after warmup is %g", a.v[5][10]);
    // Only the newest two checkpoints stay.
    char p[400];
    snprintf(p, sizeof p, "%s/ckpt/00000004", da);
    CHECK(access(p, F_OK) != 0, "old checkpoint %s not pruned", p);
    snprintf(p, sizeof p, "%s/ckpt/00000008", da);
    CHECK(access(p, F_OK) == 0, "checkpoint %s missing", p);
    if (!repa) return;
    // The projector sits beside the SiT in both weight files (REPA's state_dict names), and a
    // repa checkpoint still loads through model_load (sample, eval), which skips it.
    for (int i = 1; i < 3; i++) {
        SafeTensors st;
        snprintf(p, sizeof p, "%s/ckpt/00000010/%s", da, files[i]);
        LOAD_REF(st, p);
        CHECK(st_find(&st, "projectors.0.4.weight") && st_find(&st, "blocks.0.attn.qkv.weight"), "%s lacks the projector", p);
        st_free(&st);
    }
    Model m;
    CHECK(model_build(&m, &c, 2, 0, err) == 0, "%s", err);
    snprintf(p, sizeof p, "%s/ckpt/00000010", da);
    CHECK(model_load(&m, p, 1, err) == 0, "model_load of a repa checkpoint: %s", err);
    model_free(&m);
}

TEST(resume_is_bit_exact) { check_resume("plain", 0, 0); }
TEST(resume_is_bit_exact_with_repa) { check_resume("repa", 1, 0); }
TEST(resume_is_bit_exact_with_gan) { check_resume("gan", 0, 1); }

// align "repa" without a trained target encoder: the error names the command that makes one.
TEST(repa_without_encoder_names_the_command) {
    Config c;
    base_cfg(&c);
    char err[ERRLEN], dir[300];
    CHECK(!set(&c, "align.kind=repa"), "config");
    snprintf(c.align.encoder, sizeof c.align.encoder, "%s/no_encoder.safetensors", tmp);
    snprintf(dir, sizeof dir, "%s/noenc", tmp);
    CHECK(train_run(&c, dir, 0, NULL, err) == TRAIN_FAILED, "trained without an encoder");
    CHECK(strstr(err, "no_encoder.safetensors") && strstr(err, "repae encoder train --dataset shapes"), "error: %s", err);
}

// ---- divergence -------------------------------------------------------------------------------
TEST(nan_input_aborts_step_without_changes) {
    Config c;
    base_cfg(&c);
    CHECK(!set(&c, "vae.latent_bn=true"), "config");
    char err[ERRLEN];
    Trainer *tr = xcalloc(1, sizeof *tr);
    CHECK(trainer_build(tr, &c, 1, err) == 0 && trainer_init_weights(tr, err) == 0, "%s", err);
    Model *m = &tr->m;
    float vals[TRAIN_NMETRICS];
    trainer_draw_inputs(tr);
    CHECK(trainer_step(tr, vals) == NULL, "first step failed");
    size_t nv = m->vae.params.total, ns = m->sit.params.total, no = 2 * (m->vae.params.ntrain + m->sit.params.ntrain);
    float *v0 = xmalloc(nv * 4), *s0 = xmalloc(ns * 4), *o0 = xmalloc(no * 4), *e0 = xmalloc(ns * 4), bn0[8];
    memcpy(v0, m->vae.params.data, nv * 4);
    memcpy(s0, m->sit.params.data, ns * 4);
    memcpy(o0, tr->opt, no * 4);
    memcpy(e0, tr->ema, ns * 4);
    memcpy(bn0, m->bn.running_mean, 4 * 4);
    memcpy(bn0 + 4, m->bn.running_var, 4 * 4);
    trainer_draw_inputs(tr);
    tr->x[17] = NAN;
    const char *bad = trainer_step(tr, vals);
    CHECK(bad && strcmp(bad, "recon") == 0, "poisoned input gave %s", bad ? bad : "no error");
    CHECK(tr->step == 1, "step counter moved to %ld", tr->step);
    CHECK(memcmp(v0, m->vae.params.data, nv * 4) == 0 && memcmp(s0, m->sit.params.data, ns * 4) == 0, "weights changed");
    CHECK(memcmp(o0, tr->opt, no * 4) == 0 && memcmp(e0, tr->ema, ns * 4) == 0, "moments or EMA changed");
    CHECK(memcmp(bn0, m->bn.running_mean, 16) == 0 && memcmp(bn0 + 4, m->bn.running_var, 16) == 0, "BN statistics changed");
    // An infinite posterior noise: finite losses but the KL/recon path overflows somewhere.
    trainer_draw_inputs(tr);
    tr->eps_vae[3] = INFINITY;
    bad = trainer_step(tr, vals);
    CHECK(bad != NULL, "infinite noise was not caught");
    CHECK(memcmp(v0, m->vae.params.data, nv * 4) == 0, "weights changed after %s", bad);
    free(v0); free(s0); free(o0); free(e0);
    trainer_free(tr);
    free(tr);
}

// The GAN term: an aborted step leaves the discriminator as it was too (weights, BN running
// statistics that its forwards had already moved, AdamW moments); its own non-finite loss is
// named.
TEST(gan_abort_leaves_discriminator_unchanged) {
    Config c;
    base_cfg(&c);
    CHECK(!set(&c, "loss.w_gan=0.1") && !set(&c, "disc.ch=8"), "config");
    char err[ERRLEN];
    Trainer *tr = xcalloc(1, sizeof *tr);
    CHECK(trainer_build(tr, &c, 1, err) == 0 && trainer_init_weights(tr, err) == 0, "%s", err);
    CHECK(tr->gan, "loss.w_gan 0.1 built no discriminator");
    float vals[TRAIN_NMETRICS];
    trainer_draw_inputs(tr);
    CHECK(trainer_step(tr, vals) == NULL, "first step failed");
    CHECK(isfinite(vals[M_GAN_G]) && isfinite(vals[M_GAN_D]) && vals[M_GAN_G] == -vals[M_LOGITS_FAKE],
          "gan_g %g gan_d %g logits_fake %g", vals[M_GAN_G], vals[M_GAN_D], vals[M_LOGITS_FAKE]);
    ParamTable *dp = &tr->disc.params;
    size_t nd = dp->total, no = 2 * dp->ntrain;
    float *d0 = xmalloc(nd * 4), *o0 = xmalloc(no * 4);
    for (int round = 0; round < 2; round++) {
        trainer_draw_inputs(tr);
        if (round == 0) tr->x[5] = NAN; // recon fails, after the discriminator's forwards ran
        else tr->disc.L[tr->disc.n - 1].b[0] = INFINITY; // the logits' bias: the logits are infinite
        memcpy(d0, dp->data, nd * 4);
        memcpy(o0, tr->disc_opt, no * 4);
        const char *bad = trainer_step(tr, vals), *want = round == 0 ? "recon" : "gan_g";
        CHECK(bad && strcmp(bad, want) == 0, "round %d gave %s, want %s", round, bad ? bad : "no error", want);
        CHECK(memcmp(d0, dp->data, nd * 4) == 0, "round %d: discriminator weights or BN statistics changed", round);
        CHECK(memcmp(o0, tr->disc_opt, no * 4) == 0, "round %d: discriminator moments changed", round);
        CHECK(tr->step == 1, "step counter moved to %ld", tr->step);
    }
    free(d0); free(o0);
    trainer_free(tr);
    free(tr);
}

// A GAN run's checkpoint without disc.safetensors: before loss.gan_start the discriminator
// has not trained, and loads as its seeded init; after it, the load is refused with why.
TEST(gan_checkpoint_without_discriminator_file) {
    Config c;
    base_cfg(&c);
    CHECK(!set(&c, "loss.w_gan=0.1") && !set(&c, "loss.gan_start=3") && !set(&c, "disc.ch=8"), "config");
    char err[ERRLEN], dir[400], f[500];
    Trainer *a = xcalloc(1, sizeof *a), *b = xcalloc(1, sizeof *b);
    CHECK(trainer_build(a, &c, 1, err) == 0 && trainer_init_weights(a, err) == 0, "%s", err);
    CHECK(trainer_build(b, &c, 1, err) == 0, "%s", err);
    size_t nd = a->disc.params.total;
    float *d0 = test_copyf(a->disc.params.data, nd), vals[TRAIN_NMETRICS];
    snprintf(dir, sizeof dir, "%s/gan_nodisc", tmp);
    for (int k = 0; k < 5; k++) {
        trainer_draw_inputs(a);
        CHECK(trainer_step(a, vals) == NULL, "step %d failed", k + 1);
        if (a->step != 2 && a->step != 5) continue;
        CHECK(trainer_save(a, dir, NULL, err) == 0, "%s", err);
        snprintf(f, sizeof f, "%s/ckpt/%08ld/disc.safetensors", dir, a->step);
        CHECK(unlink(f) == 0, "%s was not written", f);
        snprintf(f, sizeof f, "%s/ckpt/%08ld", dir, a->step);
        memset(b->disc.params.data, 0, nd * sizeof(float));
        int rc = trainer_load(b, f, err);
        if (a->step == 2) {
            CHECK(rc == 0, "step 2 (before loss.gan_start 3): %s", err);
            CHECK(memcmp(b->disc.params.data, d0, nd * sizeof(float)) == 0, "the discriminator is not its seeded init");
        } else {
            CHECK(rc != 0 && strstr(err, "disc.safetensors") && strstr(err, "loss.gan_start"),
                  "step 5 (after loss.gan_start 3) without the file: %s", rc ? err : "loaded");
        }
    }
    free(d0);
    trainer_free(a);
    trainer_free(b);
    free(a);
    free(b);
}

TEST(diverged_run_stops_and_keeps_checkpoint) {
    // A NaN in the null-class row of the label table: harmless until class dropout first picks
    // the null label, then the diffusion loss is NaN. The steps before write checkpoints.
    char dir[300], init[400], err[ERRLEN];
    snprintf(dir, sizeof dir, "%s/div", tmp);
    snprintf(init, sizeof init, "%s/poisoned_sit.safetensors", tmp);
    Config c;
    base_cfg(&c);
    CHECK(!set(&c, "sit.num_classes=5") && !set(&c, "sit.class_dropout=0.02") && !set(&c, "train.steps=60") &&
          !set(&c, "train.ckpt_every=1"), "config");
    {
        Model m;
        CHECK(model_build(&m, &c, 1, 0, err) == 0, "%s", err);
        Rng r;
        rng_seed(&r, 5);
        model_init(&m, &r);
        m.sit.y_table[5 * m.sit.D + 3] = NAN;
        ParamGroup g = {&m.sit.params, ""};
        CHECK(params_save(&g, 1, init, err) == 0, "%s", err);
        model_free(&m);
    }
    snprintf(c.init.sit, sizeof c.init.sit, "%s", init);
    Rec r = {0};
    TrainHooks h = hooks_for(&r);
    TrainStatus st = train_run(&c, dir, 0, &h, err);
    CHECK(st == TRAIN_DIVERGED, "status %s: %s", train_status_name(st), err);
    long bad_step = r.n + 1;
    CHECK(bad_step > 1, "diverged at the first step; pick another train.seed for this test");
    char want[64];
    snprintf(want, sizeof want, "step %ld: diffusion is not finite", bad_step);
    CHECK(strstr(err, want), "message '%s' lacks '%s'", err, want);
    CHECK(train_latest_checkpoint(dir) == bad_step - 1, "latest checkpoint %ld, want %ld", train_latest_checkpoint(dir),
          bad_step - 1);
    CHECK(strstr(err, "checkpoint of step"), "message '%s' does not say which checkpoint is kept", err);
    // The kept checkpoint loads and its VAE is finite.
    Model m;
    CHECK(model_build(&m, &c, 1, 0, err) == 0, "%s", err);
    char ck[400];
    snprintf(ck, sizeof ck, "%s/ckpt/%08ld", dir, bad_step - 1);
    int rc = model_load(&m, ck, 1, err);
    int finite = 1;
    for (size_t i = 0; i < m.vae.params.total; i++) finite &= isfinite(m.vae.params.data[i]) != 0;
    model_free(&m);
    CHECK(rc == 0, "kept checkpoint does not load: %s", err);
    CHECK(finite, "kept checkpoint has non-finite VAE weights");
}

// ---- overfitting --------------------------------------------------------------------------------
TEST(overfits_one_batch) {
    Config c;
    base_cfg(&c);
    CHECK(!set(&c, "train.lr=2e-3"), "config");
    char err[ERRLEN];
    Trainer *tr = xcalloc(1, sizeof *tr);
    CHECK(trainer_build(tr, &c, 0, err) == 0 && trainer_init_weights(tr, err) == 0, "%s", err);
    size_t nx = (size_t)tr->B * tr->m.nx;
    float *x = xmalloc(nx * sizeof(float)), vals[TRAIN_NMETRICS];
    trainer_draw_inputs(tr);
    memcpy(x, tr->x, nx * sizeof(float));
    float first = 0, best = INFINITY;
    int steps = 300;
    for (int k = 0; k < steps; k++) {
        trainer_draw_inputs(tr);
        memcpy(tr->x, x, nx * sizeof(float));
        CHECK(trainer_step(tr, vals) == NULL, "step %d not finite", k + 1);
        if (k == 0) first = vals[0];
        if (vals[0] < best) best = vals[0];
    }
    printf("overfit: recon %.4f -> %.4f in %d steps (lr 2e-3)\n", first, best, steps);
    CHECK(best < first / 10, "recon fell only from %g to %g", first, best);
    free(x);
    trainer_free(tr);
    free(tr);
}

// ---- routing ------------------------------------------------------------------------------------
static Trainer *trained(const Config *c, int steps, char *err) {
    Trainer *tr = xcalloc(1, sizeof *tr);
    if (trainer_build(tr, c, 1, err) || trainer_init_weights(tr, err)) { free(tr); return NULL; }
    float vals[TRAIN_NMETRICS];
    for (int k = 0; k < steps; k++) {
        trainer_draw_inputs(tr);
        if (trainer_step(tr, vals)) { seterr(err, "step %d not finite", k + 1); trainer_free(tr); free(tr); return NULL; }
    }
    return tr;
}
static void done(Trainer *tr) { trainer_free(tr); free(tr); }

TEST(frozen_sides_do_not_move) {
    char err[ERRLEN];
    Config c;
    base_cfg(&c);
    Trainer *ref = trained(&c, 0, err);
    CHECK(ref, "%s", err);
    size_t nv = ref->m.vae.params.total, ns = ref->m.sit.params.total;
    // train.vae=false, with the diffusion gradient asked to reach the VAE: still frozen.
    CHECK(!set(&c, "train.vae=false") && !set(&c, "diffusion.grad_to_vae=true"), "config");
    Trainer *a = trained(&c, 3, err);
    CHECK(a, "%s", err);
    int vae_same = memcmp(a->m.vae.params.data, ref->m.vae.params.data, nv * 4) == 0;
    int sit_same = memcmp(a->m.sit.params.data, ref->m.sit.params.data, ns * 4) == 0;
    done(a);
    CHECK(vae_same, "train.vae=false changed the VAE");
    CHECK(!sit_same, "train.vae=false: the SiT did not train");
    base_cfg(&c);
    CHECK(!set(&c, "train.sit=false") && !set(&c, "diffusion.grad_to_vae=true") && !set(&c, "train.ema=0.5"), "config");
    Trainer *b = trained(&c, 3, err);
    CHECK(b, "%s", err);
    vae_same = memcmp(b->m.vae.params.data, ref->m.vae.params.data, nv * 4) == 0;
    sit_same = memcmp(b->m.sit.params.data, ref->m.sit.params.data, ns * 4) == 0;
    int ema_same = memcmp(b->ema, ref->m.sit.params.data, ns * 4) == 0;
    done(b);
    done(ref);
    CHECK(sit_same && ema_same, "train.sit=false changed the SiT or its EMA");
    CHECK(!vae_same, "train.sit=false: the VAE did not train");
}

// With grad_to_vae=false the VAE's update cannot depend on w_diff; with true it must.
TEST(stop_gradient_keeps_diffusion_out_of_vae) {
    char err[ERRLEN];
    for (int to_vae = 0; to_vae <= 1; to_vae++) {
        Config c;
        base_cfg(&c);
        CHECK(!set(&c, to_vae ? "diffusion.grad_to_vae=true" : "diffusion.grad_to_vae=false") &&
              !set(&c, "vae.latent_bn=true"), "config");
        Trainer *a = trained(&c, 2, err);
        CHECK(a, "%s", err);
        CHECK(!set(&c, "loss.w_diff=7"), "config");
        Trainer *b = trained(&c, 2, err);
        CHECK(b, "%s", err);
        size_t nv = a->m.vae.params.total, ns = a->m.sit.params.ntrain;
        int vae_same = memcmp(a->m.vae.params.data, b->m.vae.params.data, nv * 4) == 0;
        int sit_same = memcmp(a->m.sit.params.data, b->m.sit.params.data, ns * 4) == 0;
        done(a);
        done(b);
        if (!to_vae) CHECK(vae_same, "grad_to_vae=false: the VAE update depends on w_diff");
        else CHECK(!vae_same, "grad_to_vae=true: the VAE update does not depend on w_diff");
        CHECK(!sit_same, "the SiT update does not depend on w_diff");
    }
}

// REPA-E's VAE-side pass stops after block align.depth: sit_forward_tokens gives the tokens of
// the full forward and leaves the later blocks and the output as they were.
TEST(vae_side_forward_stops_at_align_depth) {
    char err[ERRLEN];
    Config c;
    base_cfg(&c);
    CHECK(!set(&c, "sit.depth=3") && !set(&c, "sit.num_classes=5"), "config");
    Model m;
    CHECK(model_build(&m, &c, 2, ALLOC_GRAD, err) == 0, "%s", err);
    Rng r;
    rng_seed(&r, 5);
    model_init(&m, &r);
    Sit *s = &m.sit;
    size_t nz = 2 * m.nz, ntok = (size_t)2 * s->T * s->D;
    float *x = xmalloc(nz * sizeof(float)), t[2] = {0.3f, 0.8f};
    int y[2] = {1, 4};
    rng_fill_normal(&r, x, nz, 1.0f);
    sit_forward(s, x, t, y, 2);
    float *other = test_copyf(sit_tokens(s, 1), ntok), *late2 = test_copyf(sit_tokens(s, 3), ntok), *out2 = test_copyf(s->out, nz);
    rng_fill_normal(&r, x, nz, 1.0f);
    const float *h = sit_forward_tokens(s, x, t, y, 2, 1);
    CHECK(h == sit_tokens(s, 1), "sit_forward_tokens returns another buffer");
    CHECK(memcmp(sit_tokens(s, 3), late2, ntok * 4) == 0, "block 3 ran in a pass truncated after block 1");
    CHECK(memcmp(s->out, out2, nz * 4) == 0, "the final layer ran in a truncated pass");
    CHECK(memcmp(h, other, ntok * 4) != 0, "block 1 did not run");
    // The same inputs through the full forward give the same block-1 tokens.
    float *trunc = test_copyf(h, ntok);
    sit_forward(s, x, t, y, 2);
    CHECK(memcmp(sit_tokens(s, 1), trunc, ntok * 4) == 0, "truncated tokens differ from the full forward's");
    free(x); free(other); free(late2); free(out2); free(trunc);
    model_free(&m);
}

// The collapse watch: latent_sstd 10x below its peak sets the logged flag, which then stays.
TEST(collapse_flag_when_latent_sstd_falls_10x) {
    char err[ERRLEN];
    Config c;
    base_cfg(&c);
    CHECK(!set(&c, "vae.latent_bn=true"), "config");
    Trainer *tr = trained(&c, 2, err);
    CHECK(tr, "%s", err);
    float vals[TRAIN_NMETRICS];
    trainer_draw_inputs(tr);
    CHECK(!trainer_step(tr, vals), "step");
    CHECK(vals[M_SSTD] > 0 && vals[M_COLLAPSE] == 0, "latent_sstd %g collapse %g", vals[M_SSTD], vals[M_COLLAPSE]);
    CHECK(tr->sstd_peak >= vals[M_SSTD], "peak %g below %g", tr->sstd_peak, vals[M_SSTD]);
    tr->sstd_peak = 11 * vals[M_SSTD]; // as if it had been 11x larger
    trainer_draw_inputs(tr);
    CHECK(!trainer_step(tr, vals), "step");
    CHECK(vals[M_COLLAPSE] == 1, "latent_sstd %g vs peak %g: no collapse flag", vals[M_SSTD], tr->sstd_peak);
    tr->sstd_peak = vals[M_SSTD];
    trainer_draw_inputs(tr);
    CHECK(!trainer_step(tr, vals) && vals[M_COLLAPSE] == 1, "the flag did not stay");
    done(tr);
}

// ---- init.vae and checkpoint errors -------------------------------------------------------------
static int write_without(const char *src, const char *dst, const char *drop, const char *reshape, char *err) {
    SafeTensors st;
    if (st_read(&st, src, err)) return -1;
    StWriter w;
    st_writer_init(&w);
    for (int i = 0; i < st.n; i++) {
        const StTensor *t = &st.t[i];
        if (drop && strcmp(t->name, drop) == 0) continue;
        if (reshape && strcmp(t->name, reshape) == 0) {
            int64_t n = (int64_t)t->numel;
            st_writer_add(&w, t->name, t->data, 1, &n);
        } else st_writer_add(&w, t->name, t->data, t->ndim, t->shape);
    }
    int rc = st_writer_save(&w, dst, err);
    st_writer_free(&w);
    st_free(&st);
    return rc;
}

TEST(init_vae_and_checkpoint_errors) {
    char dir[300], err[ERRLEN], vae[400], bad[400];
    snprintf(dir, sizeof dir, "%s/src", tmp);
    Config c;
    base_cfg(&c);
    CHECK(!set(&c, "train.steps=2") && !set(&c, "vae.latent_bn=true"), "config");
    CHECK(train_run(&c, dir, 0, NULL, err) == TRAIN_DONE, "%s", err);
    snprintf(vae, sizeof vae, "%s/ckpt/00000002/vae.safetensors", dir);
    // init.vae loads exactly the file's VAE (and BN buffers) into a run of another seed.
    Config c2;
    base_cfg(&c2);
    CHECK(!set(&c2, "train.seed=9") && !set(&c2, "vae.latent_bn=true"), "config");
    snprintf(c2.init.vae, sizeof c2.init.vae, "%s", vae);
    Trainer *tr = xcalloc(1, sizeof *tr);
    CHECK(trainer_build(tr, &c2, 1, err) == 0 && trainer_init_weights(tr, err) == 0, "%s", err);
    SafeTensors st;
    LOAD_REF(st, vae);
    for (int i = 0; i < tr->m.vae.params.n; i++) {
        const ParamInfo *p = &tr->m.vae.params.p[i];
        const StTensor *t = st_find(&st, p->name);
        CHECK(t && t->numel == p->numel, "%s missing in the checkpoint", p->name);
        CHECK(memcmp(t->data, tr->m.vae.params.data + p->offset, p->numel * 4) == 0, "%s not loaded by init.vae", p->name);
    }
    const StTensor *rm = st_find(&st, "bn.running_mean");
    CHECK(rm && memcmp(rm->data, tr->m.bn.running_mean, 16) == 0, "bn.running_mean not loaded by init.vae");
    st_free(&st);
    done(tr);
    // A missing and a wrongly shaped tensor: the error names it.
    static const char *cases[][2] = {{"encoder.conv_in.weight", NULL}, {NULL, "decoder.conv_out.weight"}};
    for (int k = 0; k < 2; k++) {
        snprintf(bad, sizeof bad, "%s/bad_vae%d.safetensors", tmp, k);
        CHECK(write_without(vae, bad, cases[k][0], cases[k][1], err) == 0, "%s", err);
        snprintf(c2.init.vae, sizeof c2.init.vae, "%s", bad);
        tr = xcalloc(1, sizeof *tr);
        CHECK(trainer_build(tr, &c2, 1, err) == 0, "%s", err);
        int rc = trainer_init_weights(tr, err);
        done(tr);
        const char *name = cases[k][0] ? cases[k][0] : cases[k][1];
        CHECK(rc != 0 && strstr(err, name), "init.vae with a bad %s: '%s'", name, rc ? err : "loaded");
    }
    // init.vae of a file that does not exist.
    snprintf(c2.init.vae, sizeof c2.init.vae, "%s/nope.safetensors", tmp);
    CHECK(train_run(&c2, dir, 0, NULL, err) == TRAIN_FAILED && strstr(err, "nope.safetensors"), "missing init.vae: %s", err);
    // Resume from a checkpoint whose BN buffers are missing: named.
    char ck[400];
    snprintf(ck, sizeof ck, "%s/ckpt/00000002/vae.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/vae_nobn.safetensors", tmp);
    CHECK(write_without(ck, bad, "bn.running_var", NULL, err) == 0, "%s", err);
    CHECK(rename(bad, ck) == 0, "rename");
    CHECK(!set(&c, "train.steps=4"), "config");
    TrainStatus s = train_run(&c, dir, 1, NULL, err);
    CHECK(s == TRAIN_FAILED && strstr(err, "bn.running_var"), "resume without BN buffers: %s: %s", train_status_name(s), err);
    // Whole files that do not fit the model are a config mismatch, not damage: the only
    // checkpoint stays where it is (a resume with the right config must still find it).
    CHECK(train_latest_checkpoint(dir) == 2, "the mismatching checkpoint was moved: latest %ld",
          train_latest_checkpoint(dir));
    CHECK(strstr(err, "config the run was started with"), "mismatch error does not say what to do: %s", err);
    // A corrupt training state: the error names the file.
    CHECK(write_without(vae, ck, NULL, NULL, err) == 0 || 1, "restore");
    Rec r = {0};
    TrainHooks h = hooks_for(&r);
    char dir2[300];
    snprintf(dir2, sizeof dir2, "%s/src2", tmp);
    CHECK(!set(&c, "train.steps=2"), "config");
    CHECK(train_run(&c, dir2, 0, &h, err) == TRAIN_DONE, "%s", err);
    char state[400];
    snprintf(state, sizeof state, "%s/ckpt/00000002/state.safetensors", dir2);
    FILE *f = fopen(state, "r+b");
    CHECK(f, "open %s", state);
    fseek(f, 8, SEEK_SET);
    fputs("{garbage", f);
    fclose(f);
    CHECK(!set(&c, "train.steps=4"), "config");
    s = train_run(&c, dir2, 1, NULL, err);
    CHECK(s == TRAIN_FAILED && strstr(err, "state.safetensors"), "corrupt state: %s: %s", train_status_name(s), err);
    // A truncated state file (the resume above set the damaged checkpoint aside: put it back).
    char aside[400];
    snprintf(aside, sizeof aside, "%s/ckpt/00000002.corrupt", dir2);
    snprintf(ck, sizeof ck, "%s/ckpt/00000002", dir2);
    CHECK(rename(aside, ck) == 0, "%s was not kept", aside);
    CHECK(truncate(state, 20) == 0, "truncate");
    s = train_run(&c, dir2, 1, NULL, err);
    CHECK(s == TRAIN_FAILED && strstr(err, "state.safetensors"), "truncated state: %s: %s", train_status_name(s), err);
}

// ---- samples ------------------------------------------------------------------------------------
TEST(samples_with_ema_cfg_and_bn_are_finite) {
    char err[ERRLEN];
    Config c;
    base_cfg(&c);
    CHECK(!set(&c, "vae.latent_bn=true") && !set(&c, "sit.num_classes=5") && !set(&c, "train.ema=0.5"), "config");
    Trainer *tr = trained(&c, 4, err);
    CHECK(tr, "%s", err);
    Model *m = &tr->m;
    memcpy(m->sit.params.data, tr->ema, m->sit.params.total * sizeof(float)); // sample with the EMA
    int n = 11; // more than max_batch (8): two chunks
    size_t N = (size_t)n * m->nx;
    float *a = xmalloc(N * 4), *b = xmalloc(N * 4);
    static const char *solvers[] = {"euler", "heun", "sde"};
    for (int k = 0; k < 3; k++) {
        SampleOpts o = {.steps = 6, .cfg_scale = 3.0f, .cfg_lo = 0.0f, .cfg_hi = 1.0f};
        CHECK(solver_parse(&o.solver, solvers[k], err) == 0, "%s", err);
        model_sample(m, n, NULL, &o, 7, a);
        double mean = 0, var = 0;
        for (size_t i = 0; i < N; i++) {
            CHECK(isfinite(a[i]) && a[i] >= -1 && a[i] <= 1, "%s: pixel %zu is %g", solvers[k], i, a[i]);
            mean += a[i];
        }
        mean /= N;
        for (size_t i = 0; i < N; i++) var += (a[i] - mean) * (a[i] - mean);
        CHECK(var / N > 1e-6, "%s: constant images", solvers[k]);
    }
    // Guidance and the BN de-normalisation both change the images.
    SampleOpts o = {.steps = 6, .solver = SOLVER_EULER, .cfg_scale = 1.0f, .cfg_lo = 0.0f, .cfg_hi = 1.0f};
    model_sample(m, n, NULL, &o, 7, a);
    o.cfg_scale = 4.0f;
    model_sample(m, n, NULL, &o, 7, b);
    CHECK(memcmp(a, b, N * 4) != 0, "cfg 4 gives the same images as cfg 1");
    o.cfg_scale = 1.0f;
    for (int i = 0; i < 4; i++) m->bn.running_mean[i] += 2.0f;
    model_sample(m, n, NULL, &o, 7, b);
    CHECK(memcmp(a, b, N * 4) != 0, "the BN running mean does not reach the samples");
    // Reconstruction is deterministic (posterior mean) and finite.
    model_reconstruct(m, tr->x, 3, a);
    model_reconstruct(m, tr->x, 3, b);
    CHECK(memcmp(a, b, 3 * m->nx * 4) == 0, "reconstruction is not deterministic");
    free(a);
    free(b);
    done(tr);
}

TEST(run_emits_sample_grids) {
    char dir[300], err[ERRLEN];
    snprintf(dir, sizeof dir, "%s/samples", tmp);
    Config c;
    base_cfg(&c);
    CHECK(!set(&c, "train.steps=4") && !set(&c, "train.sample_every=2") && !set(&c, "sample.n=5"), "config");
    Rec r = {0};
    TrainHooks h = hooks_for(&r);
    CHECK(train_run(&c, dir, 0, &h, err) == TRAIN_DONE, "%s", err);
    CHECK(r.nsamples == 2, "%d sample grids, want 2 (step 2 and the end)", r.nsamples);
    CHECK(r.sw >= 3 * 16 && r.sh >= 2 * 16, "grid %dx%d too small for 5 images of 16 px", r.sw, r.sh);
    CHECK(r.last_ckpt == 4, "final checkpoint at %ld", r.last_ckpt);
}

// ---- FLOPs --------------------------------------------------------------------------------------
TEST(flop_count_matches_spec) {
    Config c;
    config_defaults(&c);
    char err[ERRLEN];
    CHECK(config_load(&c, "configs/fm32-small.json", err) == 0, "%s", err);
    Model m;
    CHECK(model_build(&m, &c, 1, 0, err) == 0, "%s", err);
    ModelFlops f = model_flops(&m);
    model_free(&m);
    double fwd = 64 * (f.enc + f.dec + f.sit) / 1e9;
    printf("fm32-small forward at batch 64: %.1f GFLOP (encoder %.1f, decoder %.1f, SiT %.1f)\n", fwd, 64 * f.enc / 1e9,
           64 * f.dec / 1e9, 64 * f.sit / 1e9);
    CHECK(fwd > 45 && fwd < 57, "forward %.1f GFLOP, spec says about 51", fwd);
    // The step: forward + backward of everything in the default recipe (~3x).
    Trainer *tr = xcalloc(1, sizeof *tr);
    CHECK(!set(&c, "train.batch_size=2"), "config");
    CHECK(trainer_build(tr, &c, 1, err) == 0, "%s", err);
    double step = trainer_step_gflop(tr) * 32;
    done(tr);
    CHECK(step > 140 && step < 165, "step %.1f GFLOP at batch 64, spec says about 150", step);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/repae_test_train_XXXXXX");
    if (!mkdtemp(tmp)) { perror("mkdtemp"); return 1; }
    omp_set_num_threads(1); // the tests that drive a Trainer directly (train_run applies train.threads)
    double t0 = now_seconds();
#define TIMED(t) do { RUN(t); printf("  (%.1f s)\n", now_seconds() - t0); t0 = now_seconds(); } while (0)
    TIMED(resume_is_bit_exact);
    TIMED(resume_is_bit_exact_with_repa);
    TIMED(resume_is_bit_exact_with_gan);
    TIMED(repa_without_encoder_names_the_command);
    TIMED(nan_input_aborts_step_without_changes);
    TIMED(gan_abort_leaves_discriminator_unchanged);
    TIMED(gan_checkpoint_without_discriminator_file);
    TIMED(diverged_run_stops_and_keeps_checkpoint);
    TIMED(overfits_one_batch);
    TIMED(frozen_sides_do_not_move);
    TIMED(stop_gradient_keeps_diffusion_out_of_vae);
    TIMED(vae_side_forward_stops_at_align_depth);
    TIMED(collapse_flag_when_latent_sstd_falls_10x);
    TIMED(init_vae_and_checkpoint_errors);
    TIMED(samples_with_ema_cfg_and_bn_are_finite);
    TIMED(run_emits_sample_grids);
    TIMED(flop_count_matches_spec);
    test_rm_rf(tmp);
    return test_summary();
}
