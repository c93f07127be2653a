// test_store_cli.c: the run-management commands (src/cli/cmd_runs.c, cmd_compare.c,
// cmd_export.c, cmd_admin.c) on a store filled through
// the API: runs (table and JSON), show, compare of two configs, export csv/samples/weights,
// tag, note, rm, and names with quotes, unicode and SQL. Output is captured from stdout.
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/cli.h"
#include "app/run_hooks.h"
#include "store/store.h"
#include "test.h"
#include "testutil.h"

static char dir[256], db[300];
static Globals G;
static int64_t id_a, id_b, id_odd;
static const char *odd_name = "ünï 'q' \"x\"; DROP TABLE runs;--";

// Runs a command with stdout captured; returns its output (malloc'd) and *rc its status.
static char *capture(int (*fn)(const Globals *, int, char **), int *rc, int argc, ...) {
    char *argv[16];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc; i++) argv[i] = va_arg(ap, char *);
    va_end(ap);
    argv[argc] = NULL;
    char path[400];
    snprintf(path, sizeof path, "%s/stdout.txt", dir);
    fflush(stdout);
    int saved = dup(1);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    close(fd);
    int saved_err = dup(2);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    close(devnull);
    *rc = fn(&G, argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved, 1);
    close(saved);
    dup2(saved_err, 2);
    close(saved_err);
    char err[ERRLEN];
    char *out = read_file(path, NULL, err);
    return out ? out : xstrdup("");
}

// A line "  KEY<spaces>VALUE" in out.
static int has_row(const char *out, const char *key, const char *value) {
    char want[256];
    for (const char *p = out; (p = strstr(p, key)); p++) {
        if (p < out + 2 || p[-1] != ' ' || p[-2] != ' ') continue;
        const char *v = p + strlen(key);
        if (*v != ' ') continue;
        while (*v == ' ') v++;
        snprintf(want, sizeof want, "%s\n", value);
        if (strncmp(v, want, strlen(want)) == 0) return 1;
    }
    return 0;
}

static void fill(void) {
    char err[ERRLEN];
    Store *s;
    if (store_open(&s, db, STORE_CREATE, err) != 0) { printf("FAIL setup: %s\n", err); exit(1); }
    const char *cfg_a = "{\"train\":{\"lr\":0.0001,\"steps\":100},\"loss\":{\"w_align\":0.5,\"recon\":\"l1\"},\"vae\":{\"ch\":[32,64]}}";
    const char *cfg_b = "{\"train\":{\"lr\":0.0003,\"steps\":100},\"loss\":{\"w_align\":0,\"recon\":\"l1\"},\"vae\":{\"ch\":[32,64,64]}}";
    if (store_create_run(s, "baseline", cfg_a, 100, 0, "queued", &id_a, err) ||
        store_create_run(s, "no-align", cfg_b, 100, 0, "queued", &id_b, err) ||
        store_create_run(s, odd_name, "{}", 10, 0, "queued", &id_odd, err)) {
        printf("FAIL setup: %s\n", err);
        exit(1);
    }
    StoreMetric m[400];
    int n = 0;
    for (long step = 10; step <= 100; step += 10) {
        m[n++] = (StoreMetric){"recon", step, 1.0 / step, 1000 + step};
        m[n++] = (StoreMetric){"align", step, -0.5, 1000 + step};
    }
    // A higher-is-better metric: its best is its maximum.
    m[n++] = (StoreMetric){"eval.is", 50, 6.0, 1050};
    m[n++] = (StoreMetric){"eval.is", 100, 5.0, 1100};
    store_log_metrics(s, id_a, m, n, err);
    StoreMetric odd_is = {"eval.is", 10, 5.5, 3010};
    store_log_metrics(s, id_odd, &odd_is, 1, err);
    n = 0;
    for (long step = 10; step <= 100; step += 10) {
        m[n++] = (StoreMetric){"recon", step, step == 50 ? 0.001 : 2.0 / step, 2000 + step};
        if (step == 20) m[n++] = (StoreMetric){"kl", step, 3.5, 2000 + step};
    }
    store_log_metrics(s, id_b, m, n, err);
    store_set_status(s, id_a, "done", NULL, err);
    store_set_status(s, id_b, "diverged", "loss is NaN at step 100", err);
    uint8_t rgb[2 * 2 * 3] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9};
    size_t len;
    unsigned char *png = run_hooks_png_rgb(rgb, 2, 2, &len);
    store_add_sample(s, id_a, 50, png, len, 2, 2, err);
    store_add_sample(s, id_a, 100, png, len, 2, 2, err);
    free(png);
    char rd[512], w[600];
    store_run_dir(s, id_a, rd, sizeof rd);
    mkdir_p(rd, err);
    snprintf(w, sizeof w, "%s/step_100.safetensors", rd);
    write_file_atomic(w, "weights!", 8, err);
    store_add_checkpoint(s, id_a, 100, w, "", err);
    store_close(s);
}

TEST(runs_table_and_json) {
    int rc;
    char *out = capture(cmd_runs, &rc, 0);
    CHECK(rc == 0, "rc %d", rc);
    CHECK(strstr(out, "baseline") && strstr(out, "no-align") && strstr(out, odd_name), "names in table:\n%s", out);
    CHECK(strstr(out, "diverged") && strstr(out, "100/100 100%"), "status and progress:\n%s", out);
    CHECK(strstr(out, "RECON") && strstr(out, "0.01"), "latest recon:\n%s", out);
    free(out);
    out = capture(cmd_runs, &rc, 1, "--json");
    cJSON *j = cJSON_Parse(out);
    CHECK(j && cJSON_IsArray(j) && cJSON_GetArraySize(j) == 3, "json:\n%s", out);
    const cJSON *first = cJSON_GetArrayItem(j, 0); // newest first
    CHECK(strcmp(cJSON_GetObjectItem(first, "name")->valuestring, odd_name) == 0, "odd name round trip in JSON");
    const cJSON *b = cJSON_GetArrayItem(j, 1);
    const cJSON *recon = cJSON_GetObjectItem(cJSON_GetObjectItem(b, "metrics"), "recon");
    CHECK(recon && cJSON_GetObjectItem(recon, "min")->valuedouble == 0.001 &&
          cJSON_GetObjectItem(recon, "min_step")->valuedouble == 50, "best recon in JSON");
    CHECK(strcmp(cJSON_GetObjectItem(b, "error")->valuestring, "loss is NaN at step 100") == 0, "error in JSON");
    cJSON_Delete(j);
    free(out);
    // no store yet: an empty list, not an error, and no file created
    Globals saved = G;
    char missing[400];
    snprintf(missing, sizeof missing, "%s/none.db", dir);
    G.db = missing;
    out = capture(cmd_runs, &rc, 1, "--json");
    G = saved;
    CHECK(rc == 0 && strstr(out, "[]"), "missing store: rc %d, %s", rc, out);
    CHECK(access(missing, F_OK) != 0, "missing store created");
    free(out);
}

TEST(show_by_id_and_name) {
    int rc;
    char idtext[32];
    snprintf(idtext, sizeof idtext, "%lld", (long long)id_a);
    char *out = capture(cmd_show, &rc, 1, idtext);
    CHECK(rc == 0 && strstr(out, "baseline") && strstr(out, "done") && strstr(out, "step_100.safetensors") &&
          strstr(out, "2 grids"), "show:\n%s", out);
    // Every key of the config, valued as --set takes it; keys the JSON left out at their defaults.
    CHECK(has_row(out, "loss.w_align", "0.5") && has_row(out, "vae.ch", "[32,64]") && has_row(out, "loss.recon", "l1") &&
          has_row(out, "diffusion.path", "linear") && has_row(out, "init.vae", "\"\""), "show config:\n%s", out);
    // The best of each metric in its own direction: the minimum of a loss.
    CHECK(strstr(out, "0.01*"), "best recon not marked:\n%s", out);
    free(out);
    out = capture(cmd_show, &rc, 1, odd_name);
    CHECK(rc == 0 && strstr(out, odd_name), "show odd name:\n%s", out);
    free(out);
    out = capture(cmd_show, &rc, 1, "nope");
    CHECK(rc != 0, "show of a missing run succeeded");
    free(out);
}

TEST(compare_two_configs) {
    int rc;
    char *out = capture(cmd_compare, &rc, 2, "baseline", "no-align");
    CHECK(rc == 0, "rc %d:\n%s", rc, out);
    CHECK(strstr(out, "train.lr") && strstr(out, "0.0003") && strstr(out, "loss.w_align") && strstr(out, "vae.ch"),
          "differing keys:\n%s", out);
    CHECK(!strstr(out, "train.steps") && !strstr(out, "loss.recon "), "equal keys shown:\n%s", out);
    CHECK(strstr(out, "[32,64,64]"), "array value:\n%s", out);
    // recon: baseline final 0.01* (lower), best 0.01; no-align final 0.02, best 0.001* (lower)
    const char *line = strstr(out, "\nrecon");
    CHECK(line, "recon row:\n%s", out);
    char row[256];
    snprintf(row, sizeof row, "%.*s", (int)strcspn(line + 1, "\n"), line + 1);
    CHECK(strstr(row, "0.01* / 0.01") && strstr(row, "0.02 / 0.001*"), "recon row: '%s'", row);
    line = strstr(out, "\nkl");
    CHECK(line && strstr(line, "-"), "kl missing for baseline");
    free(out);
    out = capture(cmd_compare, &rc, 1, "baseline");
    CHECK(rc == 2, "one run: rc %d", rc);
    free(out);
    // eval.is: higher is better. baseline final 5, best (max) 6*; the odd run final 5.5*, best 5.5.
    out = capture(cmd_compare, &rc, 2, "baseline", odd_name);
    line = strstr(out, "\neval.is");
    CHECK(rc == 0 && line, "eval.is row:\n%s", out);
    snprintf(row, sizeof row, "%.*s", (int)strcspn(line + 1, "\n"), line + 1);
    CHECK(strstr(row, "5 / 6*") && strstr(row, "5.5* / 5.5"), "eval.is row: '%s'", row);
    // The odd run's "{}" is the defaults: what differs is what baseline sets to other values
    // (vae.ch, train.steps), not what it spells out at the default (train.lr, loss.w_align).
    CHECK(strstr(out, "vae.ch") && strstr(out, "train.steps") && !strstr(out, "train.lr") && !strstr(out, "loss.w_align"),
          "diff with {}:\n%s", out);
    free(out);
}

TEST(export_csv_samples_weights) {
    int rc;
    char csv[400], smp[400], st[400];
    snprintf(csv, sizeof csv, "%s/out/m.csv", dir);
    snprintf(smp, sizeof smp, "%s/samples", dir);
    snprintf(st, sizeof st, "%s/w.safetensors", dir);
    char err[ERRLEN];
    mkdir_p(csv, err);
    rmdir(csv);
    char *out = capture(cmd_export, &rc, 7, "no-align", "--csv", csv, "--samples", smp, "--safetensors", st);
    CHECK(rc != 0, "no-align has no samples nor checkpoint: must fail");
    free(out);
    char *text = read_file(csv, NULL, err);
    CHECK(text, "csv written anyway: %s", err);
    const char *want_head = "step,wall,kl,recon\n";
    CHECK(strncmp(text, want_head, strlen(want_head)) == 0, "header: %s", text);
    CHECK(strstr(text, "\n10,2010.000,,0.200000003\n20,2020.000,3.5,0.100000001\n"), "rows:\n%s", text);
    int lines = 0;
    for (char *p = text; *p; p++) lines += *p == '\n';
    CHECK(lines == 11, "%d lines", lines);
    free(text);
    // baseline's recorded checkpoint is a lone file, not a checkpoint directory: export has
    // nothing whole to merge, and says so.
    out = capture(cmd_export, &rc, 3, "baseline", "--safetensors", st);
    CHECK(rc == 1, "export of a run without a checkpoint directory: rc %d: %s",
          rc, out);
    free(out);
    out = capture(cmd_export, &rc, 3, "baseline", "--samples", smp);
    CHECK(rc == 0, "export baseline rc %d", rc);
    free(out);
    char p[500];
    snprintf(p, sizeof p, "%s/step_00000050.png", smp);
    size_t len;
    text = read_file(p, &len, err);
    CHECK(text && len > 8 && memcmp(text + 1, "PNG", 3) == 0, "sample png: %s", err);
    free(text);
    out = capture(cmd_export, &rc, 1, "baseline");
    CHECK(rc == 2, "nothing to export: rc %d", rc);
    free(out);
    out = capture(cmd_export, &rc, 2, "baseline", "--csv");
    CHECK(rc == 2, "--csv without a value: rc %d", rc);
    free(out);
    out = capture(cmd_export, &rc, 2, "baseline", "--cvs=x.csv");
    CHECK(rc == 2, "unknown option: rc %d", rc);
    free(out);

    // A checkpoint directory as the training core writes it becomes one file, state left out.
    Store *s;
    CHECK(store_open(&s, db, 0, err) == 0, "%s", err);
    char ck[600], f[700];
    snprintf(ck, sizeof ck, "%s/runs/%lld/ckpt/00000100", dir, (long long)id_b);
    CHECK(mkdir_p(ck, err) == 0, "%s", err);
    float a[3] = {1, 2, 3}, b[2] = {4, 5};
    int64_t sa = 3, sb2 = 2;
    const char *files[4] = {"vae", "sit", "state", "sit_ema"};
    for (int i = 0; i < 4; i++) {
        StWriter w;
        st_writer_init(&w);
        st_writer_add(&w, i == 1 ? "blocks.0.w" : "enc.w", i == 1 ? b : a, 1, i == 1 ? &sb2 : &sa);
        snprintf(f, sizeof f, "%s/%s.safetensors", ck, files[i]);
        CHECK(st_writer_save(&w, f, err) == 0, "%s", err);
        st_writer_free(&w);
    }
    CHECK(store_add_checkpoint(s, id_b, 100, ck, f, err) == 0, "%s", err);
    store_close(s);
    out = capture(cmd_export, &rc, 3, "no-align", "--safetensors", st);
    CHECK(rc == 0, "export of a checkpoint directory: rc %d", rc);
    free(out);
    SafeTensors got;
    CHECK(st_read(&got, st, err) == 0, "%s", err);
    const StTensor *t1 = st_find(&got, "vae.enc.w"), *t2 = st_find(&got, "sit.blocks.0.w");
    int ok = got.n == 3 && t1 && t2 && st_find(&got, "sit_ema.enc.w") && t1->numel == 3 && t1->data[2] == 3 &&
             t2->data[1] == 5 &&
             st_meta(&got, "step") && strcmp(st_meta(&got, "step"), "100") == 0;
    st_free(&got);
    CHECK(ok, "merged weights: vae.*, sit.* and sit_ema.*, no state, step metadata");
}

TEST(tag_note_rm) {
    int rc;
    char *out = capture(cmd_tag, &rc, 2, odd_name, "tag-with-'quotes'");
    CHECK(rc == 0, "tag rc %d", rc);
    free(out);
    out = capture(cmd_tag, &rc, 2, odd_name, "-x");
    CHECK(rc == 2, "a tag like an option taken without --: rc %d", rc);
    free(out);
    out = capture(cmd_tag, &rc, 3, odd_name, "--", "-x");
    CHECK(rc == 0, "tag after --: rc %d", rc);
    free(out);
    out = capture(cmd_note, &rc, 3, odd_name, "a", "note;");
    CHECK(rc == 0, "note rc %d", rc);
    free(out);
    // Every word after RUN is text, even one that looks like an option.
    out = capture(cmd_note, &rc, 4, odd_name, "a", "--force", "note;");
    CHECK(rc == 0, "note with an option-like word: rc %d", rc);
    free(out);
    out = capture(cmd_note, &rc, 3, odd_name, "a", "note;");
    CHECK(rc == 0, "note rc %d", rc);
    free(out);
    out = capture(cmd_runs, &rc, 0);
    CHECK(strstr(out, "tag-with-'quotes'") && strstr(out, "-x,"), "tags in table:\n%s", out);
    free(out);
    out = capture(cmd_show, &rc, 1, odd_name);
    CHECK(strstr(out, "notes        a note;"), "note shown:\n%s", out);
    free(out);
    char rd[512];
    snprintf(rd, sizeof rd, "%s/runs/%lld", dir, (long long)id_a);
    CHECK(access(rd, F_OK) == 0, "run dir exists before rm");
    out = capture(cmd_rm, &rc, 2, "--yes", "baseline");
    CHECK(rc == 0 && strstr(out, "deleted run"), "rm: %s", out);
    free(out);
    CHECK(access(rd, F_OK) != 0, "run dir removed");
    out = capture(cmd_runs, &rc, 1, "--json");
    CHECK(!strstr(out, "\"baseline\"") && strstr(out, "no-align"), "after rm:\n%s", out);
    free(out);
    out = capture(cmd_rm, &rc, 2, "--yes", "baseline");
    CHECK(rc != 0, "second rm succeeded");
    free(out);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/repae_test_store_cli_%d", (int)getpid());
    char err[ERRLEN];
    if (mkdir_p(dir, err) != 0) { printf("FAIL setup: %s\n", err); return 1; }
    snprintf(db, sizeof db, "%s/runs.db", dir);
    G.db = db;
    fill();
    RUN(runs_table_and_json);
    RUN(show_by_id_and_name);
    RUN(compare_two_configs);
    RUN(export_csv_samples_weights);
    RUN(tag_note_rm);
    test_rm_rf(dir);
    return test_summary();
}
