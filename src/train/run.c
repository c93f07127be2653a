// run.c: a whole training run around the Trainer: the train_run_opts loop (resume, steps,
// metrics, sample grids with the EMA swapped in, checkpoints, divergence), the thread setting
// of a run, and the throughput bench with its FLOP count.
#include "train/train.h"
#include "train/checkpoint.h"
#include "train/divergence.h"
#include "train/trainer.h"
#include "eval/eval_live.h"
#include "base/png_io.h"
#include "base/util.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLE_SEED 0x5a3b1e

// ---- samples ---------------------------------------------------------------------------------

// A grid of sample.n images from fixed noise (the same at every step, so that the step slider
// shows one set of samples evolving), with the EMA weights when EMA is on.
// The weights samples and evaluations judge: the EMA ones when the run keeps an EMA, swapped in
// around the sampling and back out after.
static void ema_swap_in(Trainer *tr) {
    if (tr->cfg.train.ema <= 0) return;
    size_t ns = tr->m.sit.params.total;
    memcpy(tr->backup, tr->m.sit.params.data, ns * sizeof(float));
    memcpy(tr->m.sit.params.data, tr->ema, ns * sizeof(float));
}

static void ema_swap_out(Trainer *tr) {
    if (tr->cfg.train.ema > 0) memcpy(tr->m.sit.params.data, tr->backup, tr->m.sit.params.total * sizeof(float));
}

static int emit_samples(Trainer *tr, const TrainHooks *h, char *err) {
    if (!h || !h->sample || tr->cfg.sample.n < 1) return 0;
    Model *m = &tr->m;
    SampleOpts o;
    if (sample_opts_from_config(&o, &tr->cfg.sample, err)) return -1;
    ema_swap_in(tr);
    int n = tr->cfg.sample.n;
    model_sample(m, n, NULL, &o, (uint64_t)tr->cfg.train.seed ^ SAMPLE_SEED, tr->sample_imgs);
    ema_swap_out(tr);
    int cols = (int)ceil(sqrt((double)n)), gw, gh;
    uint8_t *rgb = image_grid(tr->sample_imgs, n, m->C, m->S, m->S, cols, 1, &gw, &gh);
    h->sample(h->ctx, tr->step, rgb, gw, gh);
    free(rgb);
    return 0;
}

// ---- evaluation during training (train.eval_every) -------------------------------------------

#define EVAL_SEED 0x6e7a1c

static void note_run(void *ctx, const char *msg) {
    const TrainRunOpts *o = ctx;
    if (o && o->note) o->note(o->ctx, msg);
    else fprintf(stderr, "repae: %s\n", msg);
}

// The REPA target cache: rank 0 builds it first (processes on one machine then map its file;
// another machine's processes build their own), and a failure there fails every process.
static int open_cache(Trainer *tr, const TrainRunOpts *o, char *err) {
    int writer = dist_rank(tr->dist) == 0, rc = 0;
    if (writer) rc = trainer_open_cache(tr, note_run, (void *)o, err);
    dist_bcast(tr->dist, &rc, sizeof rc, 0);
    if (rc && !writer) return seterr(err, "the REPA target cache failed on rank 0");
    if (!rc && !writer) rc = trainer_open_cache(tr, NULL, NULL, err);
    return rc;
}

static void warn_run(const TrainRunOpts *o, const char *msg) {
    if (o && o->warn) o->warn(o->ctx, msg);
    else fprintf(stderr, "repae: warning: %s\n", msg);
}

// Opens the evaluation network and the held-out features once. Without a usable evaluator the
// run trains on and says why: evaluation is a view of the run, not a condition of it.
static int eval_start(Trainer *tr, EvalLive *l, const TrainRunOpts *o) {
    if (tr->cfg.train.eval_every <= 0) return 0;
    char err[ERRLEN], msg[ERRLEN + 160];
    if (eval_live_open(l, &tr->cfg, "", tr->cfg.train.eval_n, tr->B, err) == 0) return 1;
    snprintf(msg, sizeof msg, "train.eval_every: no evaluation during this run: %s", err);
    warn_run(o, msg);
    return 0;
}

// eval.fd, eval.kid, eval.precision, eval.recall of eval_n samples (the EMA weights when kept),
// with the real-vs-real floor at the same N, logged at this step.
static void eval_step(Trainer *tr, EvalLive *l, const TrainHooks *h, const TrainRunOpts *o) {
    char err[ERRLEN], msg[ERRLEN + 64];
    SampleOpts so;
    SetMetrics g;
    if (sample_opts_from_config(&so, &tr->cfg.sample, err) == 0) {
        ema_swap_in(tr);
        int rc = eval_during_training(l, &tr->m, &so, tr->cfg.train.eval_n, (uint64_t)tr->cfg.train.seed ^ EVAL_SEED,
                                      &g, err);
        ema_swap_out(tr);
        if (rc == 0) {
            if (!h || !h->metrics) return;
            const char *keys[] = {"eval.fd", "eval.kid", "eval.precision", "eval.recall", "eval.fd_floor",
                                  "eval.kid_floor"};
            float v[] = {(float)g.fd, (float)g.kid, (float)g.precision, (float)g.recall, (float)l->floor.fd,
                         (float)l->floor.kid};
            h->metrics(h->ctx, tr->step, 6, keys, v);
            return;
        }
    }
    snprintf(msg, sizeof msg, "step %ld: evaluation failed: %s", tr->step, err);
    warn_run(o, msg);
}

// ---- the run ---------------------------------------------------------------------------------

// train.threads > 0 caps this run's OpenMP loops and BLAS calls; 0 leaves the process setting
// (all cores, or OMP_NUM_THREADS). omp_set_num_threads changes only the calling thread's
// setting (a dashboard training thread does not slow the UI thread), and the OpenMP build of
// OpenBLAS follows the caller's omp_get_max_threads(), so that caps BLAS for this run too.
// openblas_set_num_threads is not called: it changes a process-wide setting and reallocates
// OpenBLAS's buffers, which another run's thread may be using. The previous value is restored
// when the run ends, so that a process running several runs one after another is not left
// capped.
typedef struct { int omp, set; } ThreadSave;

static ThreadSave threads_apply(int n) {
    ThreadSave t = {omp_get_max_threads(), n > 0};
    if (t.set) omp_set_num_threads(n);
    return t;
}

static void threads_restore(ThreadSave t) {
    if (t.set) omp_set_num_threads(t.omp);
}

// The per-process throughput's metric name (the store reads it as STORE_IPS_RANK_KEY): what a
// run on N processes gets from each, to compare runs at different world sizes.
#define IPS_RANK_KEY "img_per_s_rank"

// Reports vals (one step's metrics) through the hooks, with images/s since the last report
// (of the whole job, and per process).
static void log_metrics(Trainer *tr, const TrainHooks *h, float *vals) {
    double now = now_seconds();
    vals[M_IPS] = (float)((tr->step - tr->last_log_step) * tr->Bg / (now - tr->last_log_time + 1e-9));
    // On several processes, the share of the time in collectives and the bytes a step hands
    // them, since the last report (the figures of experiments/scaling).
    DistStats ds;
    dist_stats_take(tr->dist, &ds);
    long dsteps = tr->step - tr->last_log_step;
    float comm_share = (float)(ds.seconds / (now - tr->last_log_time + 1e-9));
    float comm_mb = dsteps > 0 ? (float)(ds.bytes / dsteps / 1e6) : 0.0f;
    tr->last_log_time = now;
    tr->last_log_step = tr->step;
    if (!h || !h->metrics) return;
    // Skip what was not computed (NaN placeholders), so that curves have no fake points.
    const char *keys[M_COUNT + 3];
    float v2[M_COUNT + 3];
    int n = 0;
    for (int i = 0; i < M_COUNT; i++)
        if (!isnan(vals[i])) { keys[n] = train_metric_names[i]; v2[n++] = vals[i]; }
    keys[n] = IPS_RANK_KEY;
    v2[n++] = vals[M_IPS] / (float)(tr->world > 0 ? tr->world : 1);
    if (tr->dist) {
        keys[n] = "comm_share";
        v2[n++] = comm_share;
        keys[n] = "comm_mb_per_step";
        v2[n++] = comm_mb;
    }
    h->metrics(h->ctx, tr->step, n, keys, v2);
}

// What a diverged run leaves: "the checkpoint of step N is kept" or that there is none yet.
static const char *kept_checkpoint(const char *run_dir, char kept[64]) {
    long last = ckpt_newest_usable(run_dir, NULL, 0);
    if (last >= 0) snprintf(kept, 64, "the checkpoint of step %ld is kept", last);
    else snprintf(kept, 64, "there is no checkpoint yet");
    return kept;
}

// Rank 0's training state to every process: what trainer_save writes (weights, BN statistics,
// projector, AdamW moments, EMA, step, RNG, data cursor). Only rank 0 reads checkpoints and
// init files, so the other machines need no shared filesystem (and no two processes set aside
// the same damaged checkpoint), and every process starts the same whatever world size saved
// the checkpoint: the cursor and the RNG are the global batch's. State a new part of the
// trainer adds must be sent here too (test_mpi_resume.sh compares the weights).
static void share_state(Trainer *tr) {
    const Dist *d = tr->dist;
    if (!d) return;
    Model *m = &tr->m;
    int repa = tr->align == ALIGN_REPA;
    ParamTable *tab[4] = {&m->vae.params, &m->bn.params, &m->sit.params, &tr->proj.params};
    for (int i = 0; i < (repa ? 4 : 3); i++)
        if (tab[i]->data) dist_bcast(d, tab[i]->data, tab[i]->total * sizeof(float), 0);
    // The moments of both sides and the SiT EMA (not the sampling backup after them).
    size_t nv = m->vae.params.ntrain, ns = m->sit.params.ntrain, nst = m->sit.params.total;
    dist_bcast(d, tr->opt, (2 * nv + 2 * ns + nst) * sizeof(float), 0);
    if (repa) dist_bcast(d, tr->proj_opt, 3 * tr->proj.params.ntrain * sizeof(float), 0);
    // The discriminator (gan_step.c): weights with its BatchNorm statistics, and its moments.
    if (tr->gan) {
        dist_bcast(d, tr->disc.params.data, tr->disc.params.total * sizeof(float), 0);
        dist_bcast(d, tr->disc_opt, 2 * tr->disc.params.ntrain * sizeof(float), 0);
    }
    struct { long step; Rng rng; LoaderState ls; } st = {tr->step, tr->rng, {0, 0, 0}};
    if (tr->data) st.ls = loader_state(&tr->loader);
    dist_bcast(d, &st, sizeof st, 0);
    tr->step = st.step;
    tr->rng = st.rng;
    if (tr->data) loader_restore(&tr->loader, st.ls);
}

TrainStatus train_run(const Config *cfg, const char *run_dir, int resume, const TrainHooks *h, char *err) {
    return train_run_opts(cfg, run_dir, resume, h, NULL, err);
}

TrainStatus train_run_opts(const Config *cfg, const char *run_dir, int resume, const TrainHooks *h,
                           const TrainRunOpts *o, char *err) {
    ThreadSave threads = threads_apply(cfg->train.threads);
    Trainer *tr = xcalloc(1, sizeof(Trainer));
    TrainStatus status = TRAIN_FAILED;
    EvalLive live;
    int evaluating = 0;
    const Dist *dist = o ? o->dist : NULL;
    int writer = dist_rank(dist) == 0; // rank 0 alone writes checkpoints and evaluates
    if (trainer_build_dist(tr, cfg, 0, dist, err)) { free(tr); threads_restore(threads); return TRAIN_FAILED; }
    if (writer && tr->m.precision_note[0]) warn_run(o, tr->m.precision_note); // via o: never onto a dashboard's screen
    long from = -1;
    // On several processes rank 0 alone loads (a failure there aborts the job) and sends.
    if (writer && resume && trainer_resume(tr, run_dir, o, &from, err)) goto done;
    if (writer && from < 0 && trainer_init_weights(tr, err)) goto done;
    share_state(tr);
    if (open_cache(tr, o, err)) goto done;
    if (o && o->start && o->start(o->ctx, from, err)) goto done;
    if (writer && mkdir_p(run_dir, err)) goto done;

    float vals[M_COUNT];
    char kept[64];
    // The losses the divergence watch follows: recon, kl, diffusion, align, smooth.
    Divergence div;
    divergence_init(&div, M_SMOOTH - M_RECON + 1);
    int stepped = 0;
    long total = cfg->train.steps;
    int log_every = cfg->train.log_every > 0 ? cfg->train.log_every : 1;
    tr->last_log_time = now_seconds();
    tr->last_log_step = tr->step;
    DistStats setup; // the run's start-up broadcasts are not a step's communication
    dist_stats_take(tr->dist, &setup);
    evaluating = writer && eval_start(tr, &live, o);
    int eval_every = cfg->train.eval_every;
    status = TRAIN_DONE;
    while (tr->step < total) {
        // Rank 0's answer for every process: they must all stop at the same step.
        int stop = h && h->should_stop && h->should_stop(h->ctx);
        dist_bcast(tr->dist, &stop, sizeof stop, 0);
        if (stop) { status = TRAIN_STOPPED; break; }
        trainer_draw_inputs(tr);
        const char *bad = trainer_step(tr, vals);
        if (bad) {
            seterr(err, "step %ld: %s is not finite; stopped before updating the weights (%s). "
                        "Try a lower train.lr, a lower loss weight or train.clip",
                   tr->step + 1, bad, kept_checkpoint(run_dir, kept));
            status = TRAIN_DIVERGED;
            goto done;
        }
        stepped = 1;
        // Finite but blown up: the losses averaged across ranks, so every rank stops here too.
        int big = divergence_step(&div, vals + M_RECON);
        if (big >= 0) {
            if (tr->last_log_step != tr->step) log_metrics(tr, h, vals); // the blow-up on the curve
            seterr(err, "step %ld: %s is %.3g, above max(%.0e, %.0e x its lowest %.3g) for %d steps: the run "
                        "diverged and was stopped (%s). Try a lower train.lr, a lower loss weight or train.clip",
                   tr->step, train_metric_names[M_RECON + big], vals[M_RECON + big], DIVERGE_FLOOR, DIVERGE_FACTOR,
                   div.lowest[big], div.above[big], kept_checkpoint(run_dir, kept));
            status = TRAIN_DIVERGED;
            goto done;
        }
        if (tr->collapsed == 1) { // once, when it happens
            tr->collapsed = 2;
            char msg[ERRLEN];
            snprintf(msg, sizeof msg, "step %ld: latent_sstd %.4g is %.0fx below its peak %.4g: the latents are "
                     "collapsing (REPA-E's naive end-to-end failure); check diffusion.grad_to_vae, the loss "
                     "weights and train.lr", tr->step, vals[M_SSTD], TRAIN_COLLAPSE_FACTOR, tr->sstd_peak);
            warn_run(o, msg);
        }
        if (tr->step % log_every == 0 || tr->step == total) log_metrics(tr, h, vals);
        if (cfg->train.sample_every > 0 && tr->step % cfg->train.sample_every == 0 && tr->step != total)
            if (emit_samples(tr, h, err)) { status = TRAIN_FAILED; goto done; }
        if (evaluating && tr->step % eval_every == 0 && tr->step != total) eval_step(tr, &live, h, o);
        // Every ckpt_every steps, and at the steps train.ckpt_keep lists (kept for evaluation).
        int every = cfg->train.ckpt_every > 0 && tr->step % cfg->train.ckpt_every == 0;
        if ((every || ckpt_is_kept(&cfg->train.ckpt_keep, tr->step)) && tr->step != total)
            if (writer && trainer_save(tr, run_dir, h, err)) { status = TRAIN_FAILED; goto done; }
    }
    // Done or stopped: the last step's metrics (so the run's step matches its checkpoint), the
    // final samples and checkpoint.
    if (stepped && tr->last_log_step != tr->step) log_metrics(tr, h, vals);
    if (evaluating && stepped) eval_step(tr, &live, h, o);
    if (emit_samples(tr, h, err) || (writer && trainer_save(tr, run_dir, h, err))) status = TRAIN_FAILED;
done:
    if (evaluating) eval_live_close(&live);
    trainer_free(tr);
    free(tr);
    threads_restore(threads);
    return status;
}

// ---- throughput --------------------------------------------------------------------------------

// FLOPs of one training step from the model's shapes (model_flops): every forward pass the step
// makes, plus backward at twice the forward where weights train (input and weight gradients)
// and once the forward where only an input gradient flows (a frozen SiT under grad_to_vae).
double trainer_step_gflop(const Trainer *tr) {
    const Config *c = &tr->cfg;
    ModelFlops f = model_flops(&tr->m);
    double vae = (f.enc + f.dec) * (c->train.train_vae ? 3 : 1), sit = 0;
    if (trainer_sit_needed(tr)) sit += f.sit * (c->train.train_sit ? 3 : 2);
    if (tr->align == ALIGN_SCORE && c->train.train_sit) sit += f.sit * 3;
    // repa's VAE side: a SiT forward and an input-gradient backward through blocks 1..depth
    // only (each counted as that share of the SiT). The projector and the target encoder's
    // forward are left out (small beside the SiT at the recipe sizes).
    if (tr->align == ALIGN_REPA && c->train.train_vae)
        sit += f.sit * 2.0 * (double)c->align.depth / c->sit.depth;
    return tr->B * (vae + sit) / 1e9;
}

int train_bench(const Config *cfg, int steps, TrainBench *out, char *err) {
    ThreadSave threads = threads_apply(cfg->train.threads);
    Trainer *tr = xcalloc(1, sizeof(Trainer));
    int rc = -1;
    if (trainer_build(tr, cfg, 1, err)) { free(tr); threads_restore(threads); return -1; }
    if (tr->m.precision_note[0]) fprintf(stderr, "repae: warning: %s\n", tr->m.precision_note);
    if (trainer_init_weights(tr, err)) goto done;
    float vals[M_COUNT];
    trainer_draw_inputs(tr);
    trainer_step(tr, vals); // warm-up: first-touch page faults, BLAS buffers
    double t0 = now_seconds();
    for (int i = 0; i < steps; i++) {
        trainer_draw_inputs(tr);
        trainer_step(tr, vals);
    }
    double dt = (now_seconds() - t0) / steps;
    out->step_s = dt;
    out->img_per_s = tr->B / dt;
    out->gflop_per_step = trainer_step_gflop(tr);
    out->gflops = out->gflop_per_step / dt;
    rc = 0;
done:
    trainer_free(tr);
    free(tr);
    threads_restore(threads);
    return rc;
}
