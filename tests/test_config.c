// test_config.c: config parsing, overrides, validation messages and the recipe files.
#include <dirent.h>
#include "base/config.h"
#include "base/config_keys.h"
#include "test.h"

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static int write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

TEST(defaults_validate) {
    Config c;
    char err[ERRLEN];
    config_defaults(&c);
    CHECK(config_validate(&c, err) == 0, "defaults do not validate: %s", err);
    CHECK(strcmp(c.data.dataset, "shapes") == 0 && c.data.image_size == 16 && c.vae.nlevels == 2 &&
          c.vae.ch[1] == 16 && c.sit.hidden == 32 && c.train.batch_size == 8, "defaults are not the tiny size");
}

TEST(every_config_file_loads_and_validates) {
    DIR *d = opendir("configs");
    CHECK(d, "cannot open configs/ (run from the repository root)");
    int n = 0;
    struct dirent *e;
    char bad[ERRLEN * 2] = "";
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".json") != 0) continue;
        char path[512], err[ERRLEN];
        snprintf(path, sizeof path, "configs/%s", e->d_name);
        Config c;
        config_defaults(&c);
        if (config_load(&c, path, err) || config_validate(&c, err)) snprintf(bad, sizeof bad, "%s", err);
        n++;
    }
    closedir(d);
    CHECK(!bad[0], "%s", bad);
    CHECK(n >= 11, "only %d configs in configs/", n);
}

TEST(tiny_json_is_the_defaults) {
    Config a, b;
    char err[ERRLEN];
    config_defaults(&a);
    config_defaults(&b);
    memset(&b, 0x5a, sizeof b); // every key must come from the file, not from leftovers
    config_defaults(&b);
    CHECK(config_load(&b, "configs/tiny.json", err) == 0, "%s", err);
    CHECK(config_equal(&a, &b), "configs/tiny.json differs from config_defaults()");
}

// Each ablation is its parent with exactly the listed keys changed.
TEST(ablations_change_one_thing) {
    static const struct { const char *child, *parent, *keys; } abl[] = {
        {"naive-e2e", "repa-e", "diffusion.grad_to_vae,"},
        {"no-align", "repa-e", "align.kind,"},
        {"no-bn", "repa-e", "vae.latent_bn,"},
        {"no-smooth", "seed", "loss.w_smooth,"},
        {"no-kl", "seed", "loss.w_kl,"},
        {"two-stage", "repa-e", "train.vae,init.vae,"},
        {"two-stage-vae", "repa-e", "align.kind,train.sit,"},
    };
    for (size_t a = 0; a < sizeof abl / sizeof abl[0]; a++) {
        Config p, c;
        char err[ERRLEN], path[256], diff[1024] = "";
        config_defaults(&p);
        config_defaults(&c);
        snprintf(path, sizeof path, "configs/%s.json", abl[a].parent);
        CHECK(config_load(&p, path, err) == 0, "%s", err);
        snprintf(path, sizeof path, "configs/%s.json", abl[a].child);
        CHECK(config_load(&c, path, err) == 0, "%s", err);
        for (int i = 0; i < config_nkeys(); i++) {
            char va[2048], vb[2048];
            config_key_value(&p, i, CFG_JSON, va, sizeof va);
            config_key_value(&c, i, CFG_JSON, vb, sizeof vb);
            if (strcmp(va, vb)) {
                strcat(diff, config_key_path(i));
                strcat(diff, ",");
            }
        }
        // Order-insensitive compare of the key lists.
        int same = strlen(diff) == strlen(abl[a].keys);
        char want[256];
        snprintf(want, sizeof want, "%s", abl[a].keys);
        for (char *tok = strtok(want, ","); tok && same; tok = strtok(NULL, ",")) same = contains(diff, tok);
        CHECK(same, "%s vs %s: changed keys are {%s}, want {%s}", abl[a].child, abl[a].parent, diff, abl[a].keys);
    }
}

TEST(recipes_say_what_the_spec_says) {
    Config s, r;
    char err[ERRLEN];
    config_defaults(&s);
    config_defaults(&r);
    CHECK(config_load(&s, "configs/seed.json", err) == 0, "%s", err);
    CHECK(config_load(&r, "configs/repa-e.json", err) == 0, "%s", err);
    CHECK(!strcmp(s.diffusion.path, "cosine") && !strcmp(s.diffusion.prediction, "score") && s.diffusion.grad_to_vae &&
          !strcmp(s.align.kind, "score") && s.loss.w_align == 0.5f && s.loss.w_smooth == 0.05f && s.loss.w_kl == 0.1f &&
          !strcmp(s.loss.recon, "mse") && !s.vae.latent_bn, "seed.json is not the seed recipe");
    CHECK(!strcmp(r.diffusion.path, "linear") && !strcmp(r.diffusion.prediction, "velocity") && !r.diffusion.grad_to_vae &&
          !strcmp(r.align.kind, "repa") && r.align.w_sit == 0.5f && r.align.w_vae == 1.5f && r.vae.latent_bn &&
          !strcmp(r.loss.recon, "l1") && r.loss.w_kl < 1e-3f && r.loss.w_smooth == 0, "repa-e.json is not the REPA-E recipe");
    CHECK(!strcmp(r.data.dataset, "fashion-mnist") && r.sit.hidden == 192 && r.sit.depth == 6 && r.vae.nlevels == 3 &&
          r.train.batch_size == 64, "recipes are not at the fm32-small size");
}

TEST(to_json_round_trip) {
    Config a, b;
    char err[ERRLEN];
    config_defaults(&a);
    // Values that are awkward in binary and text alike.
    CHECK(config_load(&a, "configs/repa-e.json", err) == 0, "%s", err);
    a.train.lr = 3.3e-5f;
    a.loss.w_kl = 1e-6f;
    a.sample.cfg_interval[0] = 0.1f;
    a.sample.cfg_interval[1] = 0.7f;
    a.sit.class_dropout = 0.123456789f;
    snprintf(a.init.sit, sizeof a.init.sit, "dir with \"quotes\"\\and\ttab.safetensors");
    char *json = config_to_json(&a);
    CHECK(json, "config_to_json returned NULL");
    for (int i = 0; i < config_nkeys(); i++) {
        const char *leaf = strchr(config_key_path(i), '.') + 1;
        char q[80];
        snprintf(q, sizeof q, "\"%s\"", leaf);
        if (!contains(json, q)) { free(json); CHECK(0, "to_json lacks key %s", config_key_path(i)); }
    }
    config_defaults(&b);
    int rc = config_parse(&b, json, "roundtrip", err);
    CHECK(rc == 0, "to_json output does not parse: %s\n%s", err, json);
    free(json);
    CHECK(config_equal(&a, &b), "round trip changed the config");
    CHECK(memcmp(&a, &b, sizeof a) == 0, "round trip changed the bytes of the config");
}

TEST(short_numbers_in_json) {
    Config a;
    config_defaults(&a);
    char *json = config_to_json(&a);
    int ok = contains(json, "\"lr\":\t0.0001") && contains(json, "1e-06");
    free(json);
    CHECK(ok, "floats are not printed in their shortest form");
}

TEST(malformed_json_gives_line_and_column) {
    const char *path = "/tmp/repae-test-config-bad.json";
    CHECK(write_text(path, "{\n  \"train\": {\n    \"steps\": 10,,\n  }\n}\n") == 0, "cannot write %s", path);
    Config c;
    char err[ERRLEN];
    config_defaults(&c);
    CHECK(config_load(&c, path, err) != 0, "malformed JSON accepted");
    CHECK(contains(err, path) && contains(err, ":3:"), "message lacks file and line 3: %s", err);
    CHECK(contains(err, ":3:18"), "message lacks column 18: %s", err);
    CHECK(config_parse(&c, "{\"train\": {", "x.json", err) != 0 && contains(err, "x.json:1:"), "truncated: %s", err);
    CHECK(config_parse(&c, "[1,2]", "x.json", err) != 0 && contains(err, "object"), "array root: %s", err);
    CHECK(config_load(&c, "/tmp/repae-no-such-config.json", err) != 0 && contains(err, "repae-no-such-config"),
          "missing file: %s", err);
    // The path once, at the start: no "config X: X: cannot open".
    const char *first = strstr(err, "repae-no-such-config");
    CHECK(strncmp(err, "/tmp/repae-no-such-config.json: ", 32) == 0 && !strstr(first + 1, "repae-no-such-config"),
          "missing file names the path more than once or not first: %s", err);
    remove(path);
}

TEST(unknown_keys_suggest_the_nearest) {
    Config c;
    char err[ERRLEN];
    config_defaults(&c);
    CHECK(config_parse(&c, "{\"sit\": {\"hiden\": 64}}", "f.json", err) != 0, "unknown key accepted");
    CHECK(contains(err, "f.json") && contains(err, "sit.hiden") && contains(err, "did you mean \"sit.hidden\""), "%s", err);
    CHECK(config_parse(&c, "{\"vae\": {\"hidden\": 64}}", "f.json", err) != 0 && contains(err, "\"sit.hidden\""), "%s", err);
    CHECK(config_parse(&c, "{\"trian\": {\"steps\": 5}}", "f.json", err) != 0 && contains(err, "\"train\""), "%s", err);
    CHECK(config_parse(&c, "{\"train.steps\": 5}", "f.json", err) != 0 && contains(err, "nested"), "%s", err);
    CHECK(config_parse(&c, "{\"train\": {\"steps\": 5, \"steps\": 6}}", "f.json", err) != 0 && contains(err, "twice"), "%s", err);
    CHECK(c.train.steps == 1000, "a failed parse changed the config");
}

TEST(wrong_types_and_ranges_say_what_is_allowed) {
    Config c;
    char err[ERRLEN];
    config_defaults(&c);
    CHECK(config_parse(&c, "{\"train\": {\"steps\": \"ten\"}}", "f", err) != 0 && contains(err, "train.steps") &&
          contains(err, "integer"), "%s", err);
    CHECK(config_parse(&c, "{\"train\": {\"steps\": 2.5}}", "f", err) != 0 && contains(err, "integer"), "%s", err);
    CHECK(config_parse(&c, "{\"train\": {\"steps\": 0}}", "f", err) != 0 && contains(err, ">= 1"), "%s", err);
    CHECK(config_parse(&c, "{\"train\": {\"ema\": 1.5}}", "f", err) != 0 && contains(err, "[0, 1)"), "%s", err);
    CHECK(config_parse(&c, "{\"train\": {\"lr\": 0}}", "f", err) != 0 && contains(err, "(0, 10]"), "%s", err);
    CHECK(config_parse(&c, "{\"vae\": {\"mid_attn\": 1}}", "f", err) != 0 && contains(err, "true or false"), "%s", err);
    CHECK(config_parse(&c, "{\"diffusion\": {\"path\": \"cosin\"}}", "f", err) != 0 &&
          contains(err, "\"linear\" or \"cosine\""), "%s", err);
    CHECK(config_parse(&c, "{\"vae\": {\"ch\": []}}", "f", err) != 0 && contains(err, "vae.ch"), "%s", err);
    CHECK(config_parse(&c, "{\"vae\": {\"ch\": [8, -1]}}", "f", err) != 0 && contains(err, "vae.ch[1]"), "%s", err);
    CHECK(config_parse(&c, "{\"sample\": {\"cfg_interval\": [0.5]}}", "f", err) != 0 && contains(err, "2 numbers"), "%s", err);
    CHECK(config_parse(&c, "{\"data\": 3}", "f", err) != 0 && contains(err, "object"), "%s", err);
    CHECK(config_parse(&c, "{\"vae\": {\"ch\": [4, 8, 16, 32]}, \"align\": {\"kind\": \"repa\"}}", "f", err) == 0,
          "valid config rejected: %s", err);
    CHECK(c.vae.nlevels == 4 && c.vae.ch[3] == 32 && !strcmp(c.align.kind, "repa"), "values not applied");
}

TEST(set_overrides) {
    Config c;
    char err[ERRLEN];
    config_defaults(&c);
    CHECK(config_set(&c, "train.steps=250", err) == 0 && c.train.steps == 250, "%s", err);
    CHECK(config_set(&c, "diffusion.path=cosine", err) == 0 && !strcmp(c.diffusion.path, "cosine"), "%s", err);
    CHECK(config_set(&c, "diffusion.path=\"linear\"", err) == 0 && !strcmp(c.diffusion.path, "linear"), "%s", err);
    CHECK(config_set(&c, "vae.ch=[16,32,64]", err) == 0 && c.vae.nlevels == 3 && c.vae.ch[2] == 64, "%s", err);
    CHECK(config_set(&c, "vae.latent_bn=true", err) == 0 && c.vae.latent_bn == 1, "%s", err);
    CHECK(config_set(&c, "sample.cfg_interval=[0,0.75]", err) == 0 && c.sample.cfg_interval[1] == 0.75f, "%s", err);
    CHECK(config_set(&c, "init.vae=123", err) == 0 && !strcmp(c.init.vae, "123"), "numeric path: %s", err);
    CHECK(config_set(&c, "init.vae=", err) == 0 && c.init.vae[0] == 0, "%s", err);
    CHECK(config_set(&c, "train.steps=many", err) != 0 && contains(err, "train.steps") && contains(err, "integer"), "%s", err);
    CHECK(config_set(&c, "train.stesp=5", err) != 0 && contains(err, "train.steps"), "%s", err);
    CHECK(config_set(&c, "train.steps", err) != 0 && contains(err, "key.path=value"), "%s", err);
    CHECK(config_set(&c, "loss.recon=l2", err) != 0 && contains(err, "\"l1\" or \"mse\""), "%s", err);
    CHECK(c.train.steps == 250, "a failed --set changed the config");
}

TEST(validate_cross_field) {
    static const struct { const char *set1, *set2, *want; } cases[] = {
        {"data.image_size=18", NULL, "data.image_size"},
        {"sit.heads=3", NULL, "sit.heads"},
        {"sit.hidden=30", "sit.heads=1", "multiple of 4"},
        {"data.dataset=fashion-mnist", NULL, "data.channels"},
        {"data.dataset=fashion-mnist", "data.channels=1", "32"},
        {"data.channels=2", NULL, "data.channels"},
        {"data.dataset=folder", NULL, "data.path"},
        {"align.kind=repa", "align.depth=3", "align.depth"},
        {"train.vae=false", "train.sit=false", "nothing would be trained"},
        {"vae.groups=3", NULL, "vae.groups"},
        {"sample.cfg_interval=[0.8,0.2]", NULL, "sample.cfg_interval"},
        {"sample.cfg=2", NULL, "sit.num_classes"},
        {"sit.num_classes=3", NULL, "at least 5"},
        {"train.warmup=5000", NULL, "train.warmup"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Config c;
        char err[ERRLEN];
        config_defaults(&c);
        CHECK(config_set(&c, cases[i].set1, err) == 0, "%s: %s", cases[i].set1, err);
        if (cases[i].set2) CHECK(config_set(&c, cases[i].set2, err) == 0, "%s: %s", cases[i].set2, err);
        err[0] = 0;
        CHECK(config_validate(&c, err) != 0, "%s %s: accepted", cases[i].set1, cases[i].set2 ? cases[i].set2 : "");
        CHECK(contains(err, cases[i].want), "%s: message \"%s\" lacks \"%s\"", cases[i].set1, err, cases[i].want);
    }
    Config c;
    char err[ERRLEN];
    config_defaults(&c);
    c.train.lr = -1; // set in code, bypassing the parser
    CHECK(config_validate(&c, err) != 0 && contains(err, "train.lr"), "negative lr set in code accepted: %s", err);
}

// show/compare print values as --set takes them; comparisons use the exact JSON.
TEST(key_values_in_both_styles) {
    Config c;
    config_defaults(&c);
    char buf[256];
    int ds = config_key_find("data.dataset"), ch = config_key_find("vae.ch"), lr = config_key_find("train.lr");
    CHECK(ds >= 0 && ch >= 0 && lr >= 0, "keys missing from the table");
    config_key_value(&c, ds, CFG_JSON, buf, sizeof buf);
    CHECK(!strcmp(buf, "\"shapes\""), "json string: %s", buf);
    config_key_value(&c, ds, CFG_TEXT, buf, sizeof buf);
    CHECK(!strcmp(buf, "shapes"), "text string: %s", buf);
    config_key_value(&c, ch, CFG_TEXT, buf, sizeof buf);
    CHECK(!strcmp(buf, "[8,16]"), "text array: %s", buf);
    config_key_value(&c, lr, CFG_TEXT, buf, sizeof buf);
    CHECK(!strcmp(buf, "0.0001"), "text float: %s", buf);
    config_key_value(&c, config_key_find("init.vae"), CFG_TEXT, buf, sizeof buf);
    CHECK(!strcmp(buf, "\"\""), "text empty string: %s", buf);
    // The text form reads back through --set to the same value, for every key.
    Config d;
    config_defaults(&d);
    char err[ERRLEN], set[600];
    CHECK(config_set(&d, "data.dataset=folder", err) == 0 && config_set(&d, "vae.ch=[4]", err) == 0, "%s", err);
    for (int i = 0; i < config_nkeys(); i++) {
        config_key_value(&c, i, CFG_TEXT, buf, sizeof buf);
        snprintf(set, sizeof set, "%s=%s", config_key_path(i), buf);
        CHECK(config_set(&d, set, err) == 0, "%s: %s", set, err);
    }
    CHECK(config_equal(&c, &d), "the text values do not read back as the same config");
}

// The defaults come from the key table alone: leftovers in the struct never survive.
TEST(defaults_overwrite_everything) {
    Config a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0xa5, sizeof b);
    config_defaults(&a);
    config_defaults(&b);
    CHECK(memcmp(&a, &b, sizeof a) == 0, "config_defaults leaves bytes of the old struct");
}

int main(void) {
    RUN(defaults_validate);
    RUN(every_config_file_loads_and_validates);
    RUN(tiny_json_is_the_defaults);
    RUN(ablations_change_one_thing);
    RUN(recipes_say_what_the_spec_says);
    RUN(to_json_round_trip);
    RUN(short_numbers_in_json);
    RUN(malformed_json_gives_line_and_column);
    RUN(unknown_keys_suggest_the_nearest);
    RUN(wrong_types_and_ranges_say_what_is_allowed);
    RUN(set_overrides);
    RUN(validate_cross_field);
    RUN(key_values_in_both_styles);
    RUN(defaults_overwrite_everything);
    return test_summary();
}
