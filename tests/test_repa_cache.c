// test_repa_cache.c: the dataset's cached REPA targets (src/model/repa_cache.h): equal to what
// repa_targets computes, found again without rebuilding, never used when corrupt or truncated,
// keyed by the encoder's content, and the batch indices the trainer looks them up by.
#include <sys/stat.h>
#include <unistd.h>
#include "base/config.h"
#include "base/png_io.h"
#include "model/repa_cache.h"
#include "test.h"
#include "testutil.h"

static char g_dir[] = "/tmp/repae_test_cache_XXXXXX";

// dir/a, dir/b: 12 noise images each, 8x8 RGB.
static int make_folder(DataConfig *dc) {
    char p[512], err[ERRLEN];
    Rng r;
    rng_seed(&r, 21);
    uint8_t pix[8 * 8 * 3];
    for (int k = 0; k < 2; k++) {
        snprintf(p, sizeof p, "%s/%c", g_dir, 'a' + k);
        mkdir(p, 0755);
        for (int i = 0; i < 12; i++) {
            for (int j = 0; j < 8 * 8 * 3; j++) pix[j] = (uint8_t)rng_below(&r, 256);
            snprintf(p, sizeof p, "%s/%c/%02d.png", g_dir, 'a' + k, i);
            if (png_write(p, pix, 8, 8, 3, err)) return -1;
        }
    }
    Config c;
    config_defaults(&c);
    snprintf(c.data.dataset, sizeof c.data.dataset, "folder");
    snprintf(c.data.path, sizeof c.data.path, "%s", g_dir);
    c.data.image_size = 8;
    c.data.channels = 3;
    *dc = c.data;
    return 0;
}

static int save_encoder(const char *path, uint64_t seed) {
    EncoderLayout L = {.channels = 3, .size = 8, .nlevels = 2, .ch = {4, 8}, .convs = 2, .groups = 2,
                       .num_classes = 2};
    Encoder e;
    char err[ERRLEN];
    if (encoder_build(&e, &L, 4, 0, err)) return -1;
    Rng r;
    rng_seed(&r, seed);
    encoder_init(&e, &r);
    int rc = encoder_save(&e, path, "ssl-encoder", "folder", -1, err);
    encoder_free(&e);
    return rc;
}

TEST(cached_targets_equal_computed_and_are_checked) {
    CHECK(mkdtemp(g_dir) != NULL, "mkdtemp");
    DataConfig dc;
    CHECK(make_folder(&dc) == 0, "writing the test images");
    char err[ERRLEN], enc[600], cpath[1100];
    snprintf(enc, sizeof enc, "%s/ssl-encoder-folder.safetensors", g_dir);
    CHECK(save_encoder(enc, 1) == 0, "saving the encoder");
    Dataset *ds;
    CHECK(dataset_open(&ds, &dc, DATA_TRAIN, err) == 0, "%s", err);
    int n = dataset_len(ds);
    RepaTarget t;
    CHECK(repa_target_open_for(&t, "ssl", enc, "folder", 3, 8, 2, 2, 4, err) == 0, "%s", err);
    RepaCache c;
    CHECK(repa_cache_open(&c, &t, &dc, ds, 0, NULL, NULL, err) != 0 && strstr(err, "does not exist"), "absent: %s", err);
    CHECK(repa_cache_open(&c, &t, &dc, ds, 1, NULL, NULL, err) == 0, "%s", err);
    CHECK(c.n == n && c.T == 4 && c.F == 8, "cache of %d x %d x %d", c.n, c.T, c.F);
    snprintf(cpath, sizeof cpath, "%s", c.path);
    CHECK(strncmp(cpath, g_dir, strlen(g_dir)) == 0 && strstr(cpath, "ssl-encoder-folder.targets-"),
          "the cache is not beside the encoder: %s", cpath);
    // Every image's cached targets are repa_targets of that image.
    int idx[3] = {n - 1, 0, n / 2};
    float x[3 * 3 * 64], want[3 * 32], got[3 * 32];
    for (int b = 0; b < 3; b++) dataset_get(ds, idx[b], x + b * 192, NULL);
    repa_targets(&t, x, 3, want);
    repa_targets_cached(&t, &c, idx, x, 3, got);
    CHECK_CLOSE(got, want, 96, 1e-5, 1e-6, "cached targets");
    memset(got, 0, sizeof got);
    repa_targets_cached(&t, &c, NULL, x, 3, got); // no indices: computed
    CHECK(memcmp(got, want, sizeof got) == 0, "the fallback does not compute");
    repa_cache_close(&c);
    // Found again, not rebuilt.
    struct stat s0, s1;
    CHECK(stat(cpath, &s0) == 0, "stat");
    CHECK(repa_cache_open(&c, &t, &dc, ds, 0, NULL, NULL, err) == 0, "%s", err);
    repa_cache_close(&c);
    // A flipped data byte: refused without build, rebuilt with it.
    FILE *f = fopen(cpath, "r+b");
    CHECK(f != NULL, "open cache");
    fseek(f, 64 + 37, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, 64 + 37, SEEK_SET);
    fputc(ch ^ 0x10, f);
    fclose(f);
    CHECK(repa_cache_open(&c, &t, &dc, ds, 0, NULL, NULL, err) != 0 && strstr(err, "corrupt"), "corrupt cache: %s", err);
    CHECK(repa_cache_open(&c, &t, &dc, ds, 1, NULL, NULL, err) == 0, "%s", err);
    repa_cache_lookup(&c, idx, 3, got);
    CHECK_CLOSE(got, want, 96, 1e-5, 1e-6, "rebuilt targets");
    repa_cache_close(&c);
    // Truncated: refused.
    CHECK(stat(cpath, &s1) == 0 && truncate(cpath, s1.st_size - 4) == 0, "truncate");
    CHECK(repa_cache_open(&c, &t, &dc, ds, 0, NULL, NULL, err) != 0 && strstr(err, "truncated"), "truncated: %s", err);
    // Another encoder in the same file: another cache (the key is the file's content).
    repa_target_free(&t);
    CHECK(save_encoder(enc, 2) == 0, "saving the second encoder");
    CHECK(repa_target_open_for(&t, "ssl", enc, "folder", 3, 8, 2, 2, 4, err) == 0, "%s", err);
    char p2[1100];
    CHECK(repa_cache_path(&t, &dc, ds, p2, sizeof p2, err) == 0 && strcmp(p2, cpath) != 0,
          "a changed encoder keeps the cache %s", p2);
    CHECK(repa_cache_open(&c, &t, &dc, ds, 0, NULL, NULL, err) != 0, "the old cache served a new encoder");
    // A 4x4 grid: another cache too.
    RepaTarget t4;
    CHECK(repa_target_open_for(&t4, "ssl", enc, "folder", 3, 8, 4, 4, 4, err) == 0, "%s", err);
    char p4[1100];
    CHECK(repa_cache_path(&t4, &dc, ds, p4, sizeof p4, err) == 0 && strcmp(p4, p2) != 0, "grid not in the key");
    repa_target_free(&t4);
    repa_target_free(&t);
    unlink(cpath);
    dataset_close(ds);
}

TEST(batch_indices_follow_the_loader) {
    DataConfig dc;
    char err[ERRLEN];
    Config c;
    config_defaults(&c);
    dc = c.data; // shapes: any dataset will do
    Dataset *ds;
    CHECK(dataset_open(&ds, &dc, DATA_TEST, err) == 0, "%s", err);
    int n = dataset_len(ds), B = 7, off = 2, cnt = 3, ok = 0, wrapped = 0;
    size_t per = 3 * 16 * 16;
    float *x = xmalloc(cnt * per * sizeof(float)), *y = xmalloc(per * sizeof(float));
    Loader l;
    loader_init(&l, ds, 5);
    // Skip to near the end of the first epoch, then cross it.
    LoaderState st = loader_state(&l);
    st.cursor = n - 3 * B + 2; // the third batch crosses the end
    loader_restore(&l, st);
    for (int k = 0; k < 6; k++) {
        LoaderState before = loader_state(&l);
        loader_next_part(&l, B, off, cnt, x, NULL);
        int idx[3];
        if (repa_batch_indices(&l, before, off, cnt, idx) != 0) {
            wrapped++;
            continue;
        }
        ok++;
        for (int b = 0; b < cnt; b++) {
            dataset_get(ds, idx[b], y, NULL);
            CHECK(memcmp(y, x + b * per, per * sizeof(float)) == 0, "batch %d row %d is not image %d", k, b, idx[b]);
        }
    }
    CHECK(ok >= 4 && wrapped == 1, "%d batches indexed, %d across the epoch boundary", ok, wrapped);
    loader_free(&l);
    free(x);
    free(y);
    dataset_close(ds);
}

int main(void) {
    RUN(cached_targets_equal_computed_and_are_checked);
    RUN(batch_indices_follow_the_loader);
    // The test images and the encoder file.
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return test_summary();
}
