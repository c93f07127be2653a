// checkpoint.c: see checkpoint.h for a run's checkpoint directories; and a trainer's save,
// load and resume (trainer.h) on top of them.
#include "train/checkpoint.h"
#include "train/trainer.h"
#include "model/model.h"
#include "base/safetensors.h"
#include "base/util.h"
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_FORMAT "repae-train-state"
#define STATE_VERSION "1"

// ---- where they are ------------------------------------------------------------------------------

// The one place that knows the path format.
static char *ckpt_path(char *buf, size_t n, const char *run_dir, long step, const char *suffix) {
    snprintf(buf, n, "%s/ckpt/%08ld%s", run_dir, step, suffix);
    return buf;
}

char *ckpt_dir(char *buf, size_t n, const char *run_dir, long step) { return ckpt_path(buf, n, run_dir, step, ""); }

static int is_digits(const char *s) {
    if (!*s) return 0;
    for (; *s; s++) if (*s < '0' || *s > '9') return 0;
    return 1;
}

// ---- checkpoint integrity ----------------------------------------------------------------------
// A checkpoint directory is renamed into place only when complete, but its files can still be
// cut short afterwards (a full disk under a copy, a machine crash before the data reached the
// disk) or lose a file. Resume then falls back to the older checkpoint CKPT_KEEP leaves.

static const CkptFile files[CKPT_NFILES] = {
    {MODEL_VAE_FILE, 1, "the VAE (LDM names) and the latent BN's running statistics (bn.*)"},
    {MODEL_SIT_FILE, 1, "the SiT (DiT names) and, with align \"repa\", REPA's projector (projectors.*)"},
    {MODEL_SIT_EMA_FILE, 1, "the EMA of the SiT (and projector) weights"},
    {CKPT_STATE_FILE, 0, "the training state: AdamW moments, step, RNG, data cursor"},
};

const CkptFile *ckpt_files(void) { return files; }

// Runs with the GAN term (loss.w_gan > 0) add the discriminator, taming's state_dict names
// ("main.*", loadable into NLayerDiscriminator), in a file of its own that the others lack: it
// is checked and exported when it is there, and trainer_load asks for it when the run has one.
#define DISC_FILE "disc.safetensors"

int ckpt_check(const char *dir, char *why) {
    for (int i = 0; i < CKPT_NFILES; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
        if (st_check_file(path, files[i].name, why)) return -1;
    }
    char path[4400];
    snprintf(path, sizeof path, "%s/" DISC_FILE, dir);
    if (access(path, F_OK) == 0 && st_check_file(path, DISC_FILE, why)) return -1;
    return 0;
}

static int cmp_desc(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x < y) - (x > y);
}

int ckpt_list(const char *run_dir, long **out, int *has_corrupt) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/ckpt", run_dir);
    *out = NULL;
    if (has_corrupt) *has_corrupt = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        // Only fully renamed directories count: a crash mid-write leaves "<step>.tmp".
        if (!is_digits(e->d_name)) {
            if (has_corrupt && strstr(e->d_name, ".corrupt")) *has_corrupt = 1;
            continue;
        }
        if (n == cap) *out = xrealloc(*out, (cap = cap ? 2 * cap : 8) * sizeof(long));
        (*out)[n++] = strtol(e->d_name, NULL, 10);
    }
    closedir(d);
    if (n) qsort(*out, n, sizeof(long), cmp_desc);
    return n;
}

long ckpt_newest_usable(const char *run_dir, char *out, size_t n) {
    long *steps, best = -1;
    int k = ckpt_list(run_dir, &steps, NULL);
    for (int i = 0; i < k && best < 0; i++) {
        char dir[4200], why[ERRLEN];
        ckpt_dir(dir, sizeof dir, run_dir, steps[i]);
        if (ckpt_check(dir, why) == 0) {
            best = steps[i];
            if (out) snprintf(out, n, "%s", dir);
        }
    }
    free(steps);
    return best;
}

int ckpt_is_kept(const CfgSteps *keep, long step) {
    for (int i = 0; keep && i < keep->n; i++)
        if (keep->step[i] == step) return 1;
    return 0;
}

long train_latest_checkpoint(const char *run_dir) { return ckpt_newest_usable(run_dir, NULL, 0); }

// Renames a checkpoint that cannot be used to <step>.corrupt (.corrupt.2, ... when an earlier
// one of the same step was set aside): kept for inspection, and no longer a name that
// ckpt_newest_usable or the pruning counts. kept gets the new path. Fails (errno set)
// only if the rename does: left in place, the pruning would count it and could remove the
// older checkpoint the run continues from.
static int set_aside(const char *run_dir, long step, char *kept, size_t n) {
    char from[4200];
    ckpt_path(from, sizeof from, run_dir, step, "");
    for (int k = 1; k < 1000; k++) {
        char suffix[32];
        if (k == 1) snprintf(suffix, sizeof suffix, ".corrupt");
        else snprintf(suffix, sizeof suffix, ".corrupt.%d", k);
        ckpt_path(kept, n, run_dir, step, suffix);
        struct stat sb;
        if (lstat(kept, &sb) == 0) continue;
        return rename(from, kept);
    }
    errno = EEXIST;
    return -1;
}

static void warn_stderr(void *ctx, const char *msg) {
    (void)ctx;
    fprintf(stderr, "repae: warning: %s\n", msg);
}

// Sets checkpoint i aside and warns, naming what the resume tries next; fails (err set) if
// the rename does.
static int set_aside_warn(const char *run_dir, const long *steps, int n, int i, const char *dir, const char *why,
                          void (*warn)(void *, const char *), void *ctx, char *err) {
    char kept[4200], next[64], msg[2 * ERRLEN + 9000];
    if (set_aside(run_dir, steps[i], kept, sizeof kept) != 0)
        return seterr(err, "cannot resume: checkpoint %s cannot be used (%.200s), and renaming it to %s failed: %s; "
                           "move it out of %s/ckpt by hand and resume again", dir, why, kept, strerror(errno), run_dir);
    if (i + 1 < n) snprintf(next, sizeof next, "trying the older one of step %ld", steps[i + 1]);
    else snprintf(next, sizeof next, "no older checkpoint is left");
    snprintf(msg, sizeof msg, "checkpoint %s cannot be used (%s); kept as %s; %s", dir, why, kept, next);
    warn(ctx, msg);
    return 0;
}

// A failed load may have overwritten part of the state; the next load overwrites all of it
// (weights, BN statistics, projector, EMA, moments, step, RNG, data cursor).
int trainer_resume(Trainer *tr, const char *run_dir, const TrainRunOpts *o, long *from, char *err) {
    void (*warn)(void *, const char *) = o && o->warn ? o->warn : warn_stderr;
    void *ctx = o ? o->ctx : NULL;
    long *steps;
    int corrupt, n = ckpt_list(run_dir, &steps, &corrupt);
    *from = -1;
    if (n == 0) {
        if (!corrupt) return 0;
        return seterr(err, "cannot resume: every checkpoint in %s/ckpt was set aside as corrupt (*.corrupt); move "
                           "a good one back as ckpt/<step> to resume from it, or delete them to train this run again "
                           "from step 0", run_dir);
    }
    // A checkpoint whose files are damaged (ckpt_check) is set aside at once. One whose
    // whole files do not fit the model is set aside only if an older one then loads: when
    // none does, the config differs from the run's (other sizes or names) rather than the
    // checkpoints being bad, and renaming them would leave a later resume with the right
    // config nothing to load.
    char tried[ERRLEN] = "";
    size_t tl = 0;
    int *misfit = xcalloc((size_t)n, sizeof(int)), nmisfit = 0, rc = -1;
    char (*misfit_why)[ERRLEN] = xcalloc((size_t)n, ERRLEN);
    for (int i = 0; i < n && rc < 0; i++) {
        char dir[4200], why[ERRLEN];
        ckpt_path(dir, sizeof dir, run_dir, steps[i], "");
        if (ckpt_check(dir, why) == 0) {
            if (trainer_load(tr, dir, why) == 0) {
                *from = steps[i];
                rc = 0;
                break;
            }
            misfit[i] = 1;
            nmisfit++;
            snprintf(misfit_why[i], ERRLEN, "%s", why);
        } else if (set_aside_warn(run_dir, steps, n, i, dir, why, warn, ctx, err)) {
            rc = -2;
            break;
        }
        // The newest reason in full, older ones shortened: err has one line's room.
        if (tl < sizeof tried - 1)
            tl += (size_t)snprintf(tried + tl, sizeof tried - tl, i ? "; step %ld: %.120s" : "step %ld: %.300s", steps[i], why);
    }
    if (rc == 0) { // an older checkpoint loaded: the misfits were inconsistent in themselves
        for (int i = 0; i < n && rc == 0; i++) {
            if (!misfit[i]) continue;
            char dir[4200];
            ckpt_path(dir, sizeof dir, run_dir, steps[i], "");
            char why[ERRLEN + 80];
            snprintf(why, sizeof why, "%.*s; an older checkpoint loads", ERRLEN - 1, misfit_why[i]);
            if (set_aside_warn(run_dir, steps, n, i, dir, why, warn, ctx, err)) rc = -2;
        }
    } else if (rc == -1) {
        int first = 0;
        while (first < n - 1 && !misfit[first]) first++;
        if (nmisfit)
            seterr(err, "cannot resume: %.*s (no checkpoint in %s/ckpt fits this config; resume with the config the "
                        "run was started with)", ERRLEN / 2, misfit_why[first], run_dir);
        else
            seterr(err, "cannot resume: no checkpoint loads (%s). They were kept as <step>.corrupt in %s/ckpt", tried,
                   run_dir);
    }
    free(misfit);
    free(misfit_why);
    free(steps);
    return rc == 0 ? 0 : -1;
}

static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        char p[8192];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(p, sizeof p, "%s/%s", path, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(path);
}

// A leftover of an interrupted write: "<step>.tmp" (and nothing else: "<step>.corrupt" is kept).
static int is_tmp_leftover(const char *name) {
    const char *dot = strchr(name, '.');
    if (!dot || dot == name || strcmp(dot, ".tmp") != 0) return 0;
    for (const char *c = name; c < dot; c++) if (*c < '0' || *c > '9') return 0;
    return 1;
}

// Keeps the newest CKPT_KEEP checkpoints (an fm32-small checkpoint with optimiser
// state is ~100 MB) and those of the steps in keep (train.ckpt_keep), and removes leftovers of
// interrupted writes. Set-aside <step>.corrupt directories are neither counted nor removed.
static void prune_checkpoints(const char *run_dir, long newest, const CfgSteps *keep) {
    char dir[4096], p[8192];
    snprintf(dir, sizeof dir, "%s/ckpt", run_dir);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_tmp_leftover(e->d_name)) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        remove_tree(p);
    }
    closedir(d);
    long *steps;
    int n = ckpt_list(run_dir, &steps, NULL); // newest first
    for (int i = CKPT_KEEP; i < n; i++) {
        if (steps[i] == newest || ckpt_is_kept(keep, steps[i])) continue;
        ckpt_path(p, sizeof p, run_dir, steps[i], "");
        remove_tree(p);
    }
    free(steps);
}

int trainer_save(Trainer *tr, const char *run_dir, const TrainHooks *h, char *err) {
    Model *m = &tr->m;
    char tmp[4096], fin[4096], p[4400];
    snprintf(tmp, sizeof tmp, "%s/ckpt", run_dir);
    if (mkdir_p(tmp, err)) return -1;
    ckpt_path(tmp, sizeof tmp, run_dir, tr->step, ".tmp");
    ckpt_path(fin, sizeof fin, run_dir, tr->step, "");
    remove_tree(tmp);
    if (mkdir(tmp, 0755) != 0) return seterr(err, "%s: cannot create checkpoint directory: %s", tmp, strerror(errno));
    ParamGroup gv[2] = {{&m->vae.params, ""}, {&m->bn.params, "bn."}};
    snprintf(p, sizeof p, "%s/" MODEL_VAE_FILE, tmp);
    if (params_save(gv, m->use_bn ? 2 : 1, p, err)) return -1;
    // With repa the projector is a second group under its REPA names ("projectors.*"), in the
    // weights and in the EMA file, as in REPA's SiT state_dict.
    int ng = tr->align == ALIGN_REPA ? 2 : 1;
    ParamGroup gs[2] = {{&m->sit.params, ""}, {&tr->proj.params, ""}};
    snprintf(p, sizeof p, "%s/" MODEL_SIT_FILE, tmp);
    if (params_save(gs, ng, p, err)) return -1;
    ParamTable ema = m->sit.params, pema = tr->proj.params; // same names and offsets, the EMA's storage
    ema.data = tr->ema;
    pema.data = tr->ema_proj;
    gs[0].t = &ema;
    gs[1].t = &pema;
    snprintf(p, sizeof p, "%s/" MODEL_SIT_EMA_FILE, tmp);
    if (params_save(gs, ng, p, err)) return -1;
    if (tr->gan) {
        ParamGroup gd = {&tr->disc.params, ""};
        snprintf(p, sizeof p, "%s/" DISC_FILE, tmp);
        if (params_save(&gd, 1, p, err)) return -1;
    }

    StWriter w;
    st_writer_init(&w);
    int64_t nv = (int64_t)m->vae.params.ntrain, ns = (int64_t)m->sit.params.ntrain;
    st_writer_add(&w, "adam.vae.exp_avg", tr->m_vae, 1, &nv);
    st_writer_add(&w, "adam.vae.exp_avg_sq", tr->v_vae, 1, &nv);
    st_writer_add(&w, "adam.sit.exp_avg", tr->m_sit, 1, &ns);
    st_writer_add(&w, "adam.sit.exp_avg_sq", tr->v_sit, 1, &ns);
    int64_t np = (int64_t)tr->proj.params.ntrain;
    if (tr->align == ALIGN_REPA) {
        st_writer_add(&w, "adam.proj.exp_avg", tr->m_proj, 1, &np);
        st_writer_add(&w, "adam.proj.exp_avg_sq", tr->v_proj, 1, &np);
    }
    int64_t nd = (int64_t)tr->disc.params.ntrain;
    if (tr->gan) {
        st_writer_add(&w, "adam.disc.exp_avg", tr->m_disc, 1, &nd);
        st_writer_add(&w, "adam.disc.exp_avg_sq", tr->v_disc, 1, &nd);
    }
    char buf[256];
    st_writer_meta(&w, "format", STATE_FORMAT);
    st_writer_meta(&w, "version", STATE_VERSION);
    snprintf(buf, sizeof buf, "%ld", tr->step);
    st_writer_meta(&w, "step", buf);
    snprintf(buf, sizeof buf, "%016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %016" PRIx64, tr->rng.s[0], tr->rng.s[1],
             tr->rng.s[2], tr->rng.s[3]);
    st_writer_meta(&w, "rng", buf);
    LoaderState ls = tr->data ? loader_state(&tr->loader) : (LoaderState){0};
    snprintf(buf, sizeof buf, "%" PRIu64 " %" PRId64 " %" PRId64, ls.seed, ls.epoch, ls.cursor);
    st_writer_meta(&w, "loader", buf);
    snprintf(p, sizeof p, "%s/" CKPT_STATE_FILE, tmp);
    int rc = st_writer_save(&w, p, err);
    st_writer_free(&w);
    if (rc) return -1;
    remove_tree(fin);
    if (rename(tmp, fin) != 0) return seterr(err, "%s: cannot rename checkpoint into place: %s", fin, strerror(errno));
    prune_checkpoints(run_dir, tr->step, &tr->cfg.train.ckpt_keep);
    if (h && h->checkpoint) {
        snprintf(p, sizeof p, "%s/" CKPT_STATE_FILE, fin);
        h->checkpoint(h->ctx, tr->step, fin, p);
    }
    return 0;
}

// The discriminator and its moments (state st) of a run with the GAN term. A checkpoint without
// them is one written before the discriminator first trained (loss.gan_start after its step):
// the discriminator is then at its seeded init, which is what it gets.
static int load_disc(Trainer *tr, const char *dir, const SafeTensors *st, char *err) {
    char p[4400];
    snprintf(p, sizeof p, "%s/" DISC_FILE, dir);
    ParamTable *t = &tr->disc.params;
    size_t n = t->ntrain;
    if (access(p, F_OK) != 0) {
        if (tr->step > tr->cfg.loss.gan_start)
            return seterr(err, "%s: missing, but the run's discriminator has trained since loss.gan_start = %d (the "
                          "checkpoint is of step %ld); resume from a checkpoint that has it", p, tr->cfg.loss.gan_start,
                          tr->step);
        gan_init_weights(tr);
        memset(tr->disc_opt, 0, 2 * n * sizeof(float));
        return 0;
    }
    ParamGroup g = {t, ""};
    if (params_load(&g, 1, p, 0, err)) return -1;
    const char *names[2] = {"adam.disc.exp_avg", "adam.disc.exp_avg_sq"};
    float *dst[2] = {tr->m_disc, tr->v_disc};
    for (int i = 0; i < 2; i++) {
        const StTensor *x = st_find(st, names[i]);
        if (!x || x->numel != n)
            return seterr(err, "%s/" CKPT_STATE_FILE ": tensor %s is missing or has the wrong size (want %zu)", dir,
                          names[i], n);
        memcpy(dst[i], x->data, n * sizeof(float));
    }
    return 0;
}

int trainer_load(Trainer *tr, const char *dir, char *err) {
    Model *m = &tr->m;
    char p[4400];
    if (model_load(m, dir, 0, err)) return -1;
    int repa = tr->align == ALIGN_REPA, ng = repa ? 2 : 1;
    ParamGroup gs[2] = {{&m->sit.params, ""}, {&tr->proj.params, ""}};
    if (repa) { // model_load read the SiT; now the projector beside it
        snprintf(p, sizeof p, "%s/" MODEL_SIT_FILE, dir);
        if (params_load(gs, 2, p, 0, err)) return -1;
    }
    ParamTable ema = m->sit.params, pema = tr->proj.params;
    ema.data = tr->ema;
    pema.data = tr->ema_proj;
    gs[0].t = &ema;
    gs[1].t = &pema;
    snprintf(p, sizeof p, "%s/" MODEL_SIT_EMA_FILE, dir);
    if (params_load(gs, ng, p, 0, err)) return -1;
    SafeTensors st;
    snprintf(p, sizeof p, "%s/" CKPT_STATE_FILE, dir);
    if (st_read(&st, p, err)) return -1;
    int rc = -1;
    const char *fmt = st_meta(&st, "format"), *ver = st_meta(&st, "version");
    const char *sstep = st_meta(&st, "step"), *srng = st_meta(&st, "rng"), *sload = st_meta(&st, "loader");
    if (!fmt || strcmp(fmt, STATE_FORMAT) || !ver || strcmp(ver, STATE_VERSION) || !sstep || !srng || !sload) {
        seterr(err, "%s: not a repae training-state file of version %s", p, STATE_VERSION);
        goto done;
    }
    size_t np = tr->proj.params.ntrain;
    struct { const char *name; float *dst; size_t n; } t[6] = {
        {"adam.vae.exp_avg", tr->m_vae, m->vae.params.ntrain}, {"adam.vae.exp_avg_sq", tr->v_vae, m->vae.params.ntrain},
        {"adam.sit.exp_avg", tr->m_sit, m->sit.params.ntrain}, {"adam.sit.exp_avg_sq", tr->v_sit, m->sit.params.ntrain},
        {"adam.proj.exp_avg", tr->m_proj, np}, {"adam.proj.exp_avg_sq", tr->v_proj, np}};
    for (int i = 0; i < (repa ? 6 : 4); i++) {
        const StTensor *x = st_find(&st, t[i].name);
        if (!x || x->numel != t[i].n) {
            seterr(err, "%s: tensor %s is missing or has the wrong size (want %zu)", p, t[i].name, t[i].n);
            goto done;
        }
        memcpy(t[i].dst, x->data, t[i].n * sizeof(float));
    }
    tr->step = strtol(sstep, NULL, 10);
    if (sscanf(srng, "%" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64, &tr->rng.s[0], &tr->rng.s[1], &tr->rng.s[2],
               &tr->rng.s[3]) != 4) {
        seterr(err, "%s: bad rng state '%s'", p, srng);
        goto done;
    }
    LoaderState ls;
    if (sscanf(sload, "%" SCNu64 " %" SCNd64 " %" SCNd64, &ls.seed, &ls.epoch, &ls.cursor) != 3) {
        seterr(err, "%s: bad loader state '%s'", p, sload);
        goto done;
    }
    if (tr->data) loader_restore(&tr->loader, ls);
    if (tr->gan && load_disc(tr, dir, &st, err)) goto done;
    rc = 0;
done:
    st_free(&st);
    return rc;
}

// ---- one weights file ----------------------------------------------------------------------------

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int ckpt_merge_weights(const char *dir, const char *out_path, const char *const *meta, char *err) {
    struct stat sb;
    if (stat(dir, &sb) != 0) return seterr(err, "cannot read checkpoint %s: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return seterr(err, "cannot read checkpoint %s: not a directory", dir);
    // The weights files that are there, in name order (the tensor order exports always had);
    // the discriminator's too when the run has one (small: ~1 MB at the default size).
    const char *names[CKPT_NFILES + 1];
    int nf = 0;
    for (int i = 0; i < CKPT_NFILES + 1; i++) {
        const char *name = i < CKPT_NFILES ? files[i].name : DISC_FILE;
        char fp[4400];
        snprintf(fp, sizeof fp, "%s/%s", dir, name);
        if ((i == CKPT_NFILES || files[i].weights) && access(fp, F_OK) == 0) names[nf++] = name;
    }
    if (nf == 0) return seterr(err, "checkpoint %s holds no weights files", dir);
    qsort(names, nf, sizeof *names, cmp_str);
    SafeTensors st[CKPT_NFILES + 1];
    StWriter w;
    st_writer_init(&w);
    char **full = NULL;
    int nn = 0, loaded = 0, rc = -1;
    for (int i = 0; i < nf; i++) {
        char fp[4400];
        snprintf(fp, sizeof fp, "%s/%s", dir, names[i]);
        if (st_read(&st[i], fp, err) != 0) goto out;
        loaded++;
        int stem = (int)(strchr(names[i], '.') - names[i]);
        for (int t = 0; t < st[i].n; t++) {
            const StTensor *x = &st[i].t[t];
            size_t len = (size_t)stem + strlen(x->name) + 2;
            full = xrealloc(full, (nn + 1) * sizeof *full);
            full[nn] = xmalloc(len);
            snprintf(full[nn], len, "%.*s.%s", stem, names[i], x->name);
            st_writer_add(&w, full[nn], x->data, x->ndim, x->shape);
            nn++;
        }
    }
    for (int i = 0; meta && meta[i] && meta[i + 1]; i += 2) st_writer_meta(&w, meta[i], meta[i + 1]);
    rc = st_writer_save(&w, out_path, err);
out:
    st_writer_free(&w);
    for (int i = 0; i < loaded; i++) st_free(&st[i]);
    for (int i = 0; i < nn; i++) free(full[i]);
    free(full);
    return rc;
}
