// test_testutil.c: the shared test helpers themselves (tests/testutil.h): the generators give
// the sequences the tests were written with, test_rel_err sees a NaN wherever it is, and
// test_rm_rf removes odd names without following links.
#include "test.h"
#include "testutil.h"
#include <sys/stat.h>
#include <unistd.h>

// The inline generators the op tests had before testutil.c, written out once more here.
TEST(generators_reproduce_the_old_inline_sequences) {
    uint64_t s64 = 88172645463325252ULL, old64 = s64;
    uint32_t s32 = 1234u, old32 = s32;
    for (int i = 0; i < 1000; i++) {
        old64 = old64 * 6364136223846793005ULL + 1442695040888963407ULL;
        float want = (float)(old64 >> 40) / (float)(1 << 23) - 1.0f, got = test_urand(&s64);
        CHECK(memcmp(&got, &want, sizeof got) == 0, "test_urand draw %d: %.9g, want %.9g", i, got, want);
        old32 = old32 * 1664525u + 1013904223u;
        float want32 = ((float)(old32 >> 8) / 16777216.0f) * 2.0f - 1.0f;
        float *x = test_rand_array(1, &s32);
        int same = memcmp(x, &want32, sizeof want32) == 0;
        float g32 = x[0];
        free(x);
        CHECK(same, "test_rand_array draw %d: %.9g, want %.9g", i, g32, want32);
    }
    float lo = 1, hi = -1, y[4096];
    uint64_t s = 1;
    test_fill(y, 4096, &s, 1, 0);
    for (int i = 0; i < 4096; i++) { if (y[i] < lo) lo = y[i]; if (y[i] > hi) hi = y[i]; }
    CHECK(lo >= -1 && lo < -0.99f && hi < 1 && hi > 0.99f, "test_fill range [%g, %g], want about [-1, 1)", lo, hi);
}

// The copies in test_sit.c and test_vae.c passed a NaN that had a finite error after it.
TEST(rel_err_sees_a_nan_anywhere) {
    float want[3] = {1, 2, 4}, first[3] = {NAN, 2, 4}, mid[3] = {1, NAN, 4.5f};
    CHECK(isinf(test_rel_err(first, want, 3)), "NaN first: %g", test_rel_err(first, want, 3));
    CHECK(isinf(test_rel_err(mid, want, 3)), "NaN in the middle: %g", test_rel_err(mid, want, 3));
    float got[3] = {1, 2, 4.5f}, zero[2] = {0, 0}, tiny[2] = {1e-3f, 0};
    CHECK(fabs(test_rel_err(got, want, 3) - 0.125) < 1e-12, "0.5 of scale 4: %g", test_rel_err(got, want, 3));
    CHECK(fabs(test_rel_err(tiny, zero, 2) - 1) < 1e-6, "zero reference measured against 1e-3: %g",
          test_rel_err(tiny, zero, 2));
    CHECK(test_max_abs(mid + 2, 1) == 4.5, "max_abs");
}

TEST(key_and_load_prefixed) {
    CHECK(strcmp(test_key("case", "dx"), "case.dx") == 0, "key: %s", test_key("case", "dx"));
    float a[2] = {1, 2}, b[3] = {3, 4, 5};
    StTensor ts[2] = {{.name = "p.a", .ndim = 1, .shape = {2}, .numel = 2, .data = a},
                      {.name = "p.b", .ndim = 1, .shape = {2}, .numel = 2, .data = b}}; // b: wrong size
    SafeTensors st = {.n = 2, .t = ts};
    float data[5] = {0};
    ParamInfo p[2] = {{.name = "a", .numel = 2, .offset = 0}, {.name = "b", .numel = 3, .offset = 2}};
    ParamTable t = {.p = p, .n = 2, .data = data};
    CHECK(test_load_prefixed(&t, &st, "p.") == 1, "one tensor has the wrong size");
    CHECK(data[0] == 1 && data[1] == 2 && data[2] == 0, "loaded %g %g, left %g", data[0], data[1], data[2]);
}

static int exists(const char *p) {
    struct stat sb;
    return lstat(p, &sb) == 0;
}

TEST(rm_rf_removes_odd_names_and_not_link_targets) {
    char root[] = "/tmp/repae_test_testutil_XXXXXX", err[ERRLEN], p[512], keep[512], target[512];
    CHECK(mkdtemp(root), "mkdtemp");
    snprintf(target, sizeof target, "%s/outside", root);
    snprintf(keep, sizeof keep, "%s/outside/keep", root);
    snprintf(p, sizeof p, "%s/tree/it's a \"dir\" $(x)/deeper", root);
    CHECK(mkdir_p(p, err) == 0 && mkdir_p(target, err) == 0, "%s", err);
    CHECK(write_file_atomic(keep, "k", 1, err) == 0, "%s", err);
    snprintf(p, sizeof p, "%s/tree/it's a \"dir\" $(x)/deeper/f;1", root);
    CHECK(write_file_atomic(p, "x", 1, err) == 0, "%s", err);
    snprintf(p, sizeof p, "%s/tree/link", root);
    CHECK(symlink(target, p) == 0, "symlink");
    snprintf(p, sizeof p, "%s/tree", root);
    CHECK(test_rm_rf(p) == 0, "test_rm_rf failed");
    CHECK(!exists(p), "%s is still there", p);
    CHECK(exists(keep), "the link's target was removed");
    CHECK(test_rm_rf(p) == 0, "a missing path is success");
    CHECK(test_rm_rf(root) == 0 && !exists(root), "root");
}

int main(void) {
    RUN(generators_reproduce_the_old_inline_sequences);
    RUN(rel_err_sees_a_nan_anywhere);
    RUN(key_and_load_prefixed);
    RUN(rm_rf_removes_odd_names_and_not_link_targets);
    return test_summary();
}
