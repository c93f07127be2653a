// cmd_export.c: `repae export RUN`: metrics as CSV, the newest checkpoint's weights as one
// safetensors file (a checkpoint directory merged, the optimiser state left out), and every
// sample grid as a PNG.
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/safetensors.h"
#include "base/util.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/run_ref.h"
#include "store/store.h"
#include "train/checkpoint.h"

static void csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\n\r")) { fputs(s, f); return; }
    fputc('"', f);
    for (; *s; s++) { if (*s == '"') fputc('"', f); fputc(*s, f); }
    fputc('"', f);
}

// Metrics as a wide CSV: step, wall, then one column per key (empty where not logged).
static int export_csv(Store *s, const StoreRun *r, const char *path, char *err) {
    char **keys;
    int nk;
    if (store_metric_keys(s, r->id, &keys, &nk, err) != 0) return -1;
    StoreSeries *ser = xcalloc(nk ? nk : 1, sizeof *ser);
    long *pos = xcalloc(nk ? nk : 1, sizeof *pos);
    int rc = -1;
    for (int k = 0; k < nk; k++)
        if (store_series(s, r->id, keys[k], -1, &ser[k], err) != 0) goto out;
    // Built in memory and written atomically, so an interrupted export never leaves half a file.
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    if (!f) { seterr(err, "out of memory for the CSV of %s", path); goto out; }
    fputs("step,wall", f);
    for (int k = 0; k < nk; k++) { fputc(',', f); csv_field(f, keys[k]); }
    fputc('\n', f);
    for (;;) { // a merge of the sorted series
        long step = -1;
        for (int k = 0; k < nk; k++)
            if (pos[k] < ser[k].n && (step < 0 || ser[k].step[pos[k]] < step)) step = ser[k].step[pos[k]];
        if (step < 0) break;
        double wall = NAN;
        for (int k = 0; k < nk && isnan(wall); k++)
            if (pos[k] < ser[k].n && ser[k].step[pos[k]] == step) wall = ser[k].wall[pos[k]];
        fprintf(f, "%ld,%.3f", step, wall);
        for (int k = 0; k < nk; k++) {
            fputc(',', f);
            if (pos[k] < ser[k].n && ser[k].step[pos[k]] == step) {
                float v = ser[k].value[pos[k]++];
                if (isnan(v)) fputs("nan", f);
                else fprintf(f, "%.9g", v);
            }
        }
        fputc('\n', f);
    }
    fclose(f);
    if (strcmp(path, "-") == 0) {
        rc = fwrite(buf, 1, blen, stdout) == blen && fflush(stdout) == 0 ? 0 : seterr(err, "writing the CSV to stdout failed");
    } else {
        rc = write_file_atomic(path, buf, blen, err);
    }
    free(buf);
out:
    for (int k = 0; k < nk; k++) store_series_free(&ser[k]);
    free(ser);
    free(pos);
    store_strings_free(keys, nk);
    return rc;
}

// The newest checkpoint on disk that is whole (the training core prunes old ones and sets
// damaged ones aside), as one file: every weights file's tensors under its file stem
// ("vae.", "sit.", "sit_ema."), the optimiser state left out (train/checkpoint.h).
static int export_weights(Store *s, const StoreRun *r, const char *path, char *err) {
    char run_dir[PATH_MAX], dir[PATH_MAX];
    store_run_dir(s, r->id, run_dir, sizeof run_dir);
    long step = ckpt_newest_usable(run_dir, dir, sizeof dir);
    if (step < 0) return seterr(err, "run '%s' has no usable checkpoint on disk (in %s/ckpt)", r->name, run_dir);
    char sstep[32];
    snprintf(sstep, sizeof sstep, "%ld", step);
    const char *meta[] = {"step", sstep, "run", r->name, "config", r->config ? r->config : "{}", NULL};
    if (ckpt_merge_weights(dir, path, meta, err) != 0) return -1;
    fprintf(stderr, "repae export: weights of step %ld -> %s\n", step, path);
    return 0;
}

static int export_samples(Store *s, const StoreRun *r, const char *dir, char *err) {
    long *steps;
    int n;
    if (store_sample_steps(s, r->id, &steps, &n, err) != 0) return -1;
    if (n == 0) { free(steps); return seterr(err, "run '%s' has no samples yet", r->name); }
    int rc = mkdir_p(dir, err);
    for (int i = 0; rc == 0 && i < n; i++) {
        unsigned char *png;
        size_t len;
        long got;
        if ((rc = store_sample_get(s, r->id, steps[i], &got, &png, &len, NULL, NULL, err)) != 0) break;
        char path[4096];
        snprintf(path, sizeof path, "%s/step_%08ld.png", dir, got);
        rc = write_file_atomic(path, png, len, err);
        free(png);
    }
    if (rc == 0) fprintf(stderr, "repae export: %d sample grids -> %s/\n", n, dir);
    free(steps);
    return rc;
}

const ArgSpec export_args = {
    .cmd = "export",
    .usage = "usage: repae export RUN [--csv F] [--safetensors F] [--samples DIR]\n\n"
    "  --csv F          metrics as CSV: step, wall time, one column per metric (F '-' = stdout)\n"
    "  --safetensors F  the weights of the latest checkpoint (VAE, SiT and EMA in one file;\n"
    "                   with the GAN term also the discriminator, as disc.main.*)\n"
    "  --samples DIR    every sample grid as DIR/step_NNNNNNNN.png\n",
    .opts = (const ArgOpt[]){ARG_OPT_STR("--csv"), ARG_OPT_STR("--safetensors"), ARG_OPT_STR("--samples"), ARG_OPT_END},
};

int cmd_export(const Globals *g, int argc, char **argv) {
    Args a;
    if (args_parse(&a, &export_args, argc, argv) != 0) return a.status;
    if (a.npos == 0) return args_usage_error(&a, "missing RUN");
    if (a.npos > 1) return args_usage_error(&a, "more than one RUN ('%s')", args_pos(&a, 1));
    const char *csv = args_str(&a, "--csv", NULL), *st = args_str(&a, "--safetensors", NULL),
               *smp = args_str(&a, "--samples", NULL);
    if (!csv && !st && !smp) return args_usage_error(&a, "nothing to export: give --csv, --safetensors or --samples");
    Store *s;
    StoreRun r;
    if (cli_load_run(g, "export", args_pos(&a, 0), &s, &r) != 0) return 1;
    char err[ERRLEN];
    int rc = 0;
    if (csv && export_csv(s, &r, csv, err) != 0) { fprintf(stderr, "repae export: %s\n", err); rc = 1; }
    if (st && export_weights(s, &r, st, err) != 0) { fprintf(stderr, "repae export: %s\n", err); rc = 1; }
    if (smp && export_samples(s, &r, smp, err) != 0) { fprintf(stderr, "repae export: %s\n", err); rc = 1; }
    store_run_free(&r);
    store_close(s);
    return rc;
}
