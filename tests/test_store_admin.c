// test_store_admin.c: the store's side of the CLI's housekeeping rules: tags are single words
// (no commas, no whitespace), refused by the store itself and not only by `repae tag`; and
// deleting several runs is all or nothing (one unknown or live run and none is deleted).
#include <sys/stat.h>
#include <unistd.h>
#include "store/store.h"
#include "store_fixture.h"
#include "test.h"
#include "testutil.h"

static char tmpdir[256];

#define tpath(name) fixture_path(tmpdir, name)

static int nruns(Store *s) {
    char err[ERRLEN];
    StoreRun *r;
    int n;
    if (store_list_runs(s, &r, &n, err) != 0) return -1;
    store_runs_free(r, n);
    return n;
}

TEST(tags_are_single_words) {
    char err[ERRLEN];
    Store *s;
    CHECK(store_open(&s, tpath("tags.db"), STORE_CREATE, err) == 0, "%s", err);
    int64_t id;
    CHECK(store_create_run(s, "t", "{}", 1, 0, "queued", &id, err) == 0, "%s", err);
    const char *bad[] = {"a,b", "a b", "tab\there", "new\nline", " lead", "trail ", ",", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK(store_tag_add(s, id, bad[i], err) != 0 && err[0], "tag '%s' accepted", bad[i]);
        CHECK(store_tag_check(bad[i], err) != 0, "store_tag_check took '%s'", bad[i]);
    }
    CHECK(store_tag_add(s, id, "a,b", err) != 0 && strstr(err, "comma"), "comma not named: %s", err);
    CHECK(store_tag_add(s, id, "a b", err) != 0 && strstr(err, "space"), "space not named: %s", err);
    char longtag[STORE_TAG_MAX + 2];
    memset(longtag, 't', sizeof longtag - 1);
    longtag[sizeof longtag - 1] = 0;
    CHECK(store_tag_add(s, id, longtag, err) != 0 && strstr(err, "at most"), "long tag: %s", err);
    const char *good[] = {"sweep-3", "lr=1e-3", "ünï", "it's"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK(store_tag_add(s, id, good[i], err) == 0, "tag '%s' refused: %s", good[i], err);
    StoreRun r;
    CHECK(store_get_run(s, id, &r, err) == 0 && r.ntags == 4, "%d tags kept", r.ntags);
    store_run_free(&r);
    // Removing takes any text, so a tag an older repae let in can still go.
    CHECK(store_tag_remove(s, id, "a b", err) == 0, "remove: %s", err);
    store_close(s);
}

TEST(delete_runs_all_or_nothing) {
    char err[ERRLEN];
    Store *s;
    CHECK(store_open(&s, tpath("del.db"), STORE_CREATE, err) == 0, "%s", err);
    int64_t id[3];
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "r%d", i);
        CHECK(store_create_run(s, name, "{}", 1, 0, i == 2 ? "running" : "done", &id[i], err) == 0, "%s", err);
        char dir[512];
        store_run_dir(s, id[i], dir, sizeof dir);
        CHECK(mkdir_p(dir, err) == 0, "%s", err);
    }
    // An unknown id among known ones: nothing is deleted.
    int64_t with_missing[3] = {id[0], id[1], id[2] + 50};
    CHECK(store_delete_runs(s, with_missing, 3, 1, err) != 0 && strstr(err, "nothing was deleted"),
          "a missing run did not stop the delete: %s", err);
    CHECK(nruns(s) == 3, "%d runs left after a refused delete, want 3", nruns(s));
    // A live run (this process, running) among them with refuse_live: nothing is deleted.
    CHECK(store_delete_runs(s, id, 3, 1, err) != 0 && strstr(err, "training") && strstr(err, "r2"),
          "a live run did not stop the delete: %s", err);
    CHECK(nruns(s) == 3, "%d runs left after a refused delete, want 3", nruns(s));
    // The two finished ones go together, with their directories.
    CHECK(store_delete_runs(s, id, 2, 1, err) == 0, "%s", err);
    CHECK(nruns(s) == 1, "%d runs left, want 1", nruns(s));
    for (int i = 0; i < 2; i++) {
        char dir[512];
        struct stat sb;
        CHECK(stat(store_run_dir(s, id[i], dir, sizeof dir), &sb) != 0, "%s left behind", dir);
    }
    // Without refuse_live (rm --force, after stopping it) the live one goes too.
    CHECK(store_delete_runs(s, &id[2], 1, 0, err) == 0 && nruns(s) == 0, "%s", err);
    store_close(s);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/repae_test_store_admin_%d", (int)getpid());
    char err[ERRLEN];
    if (mkdir_p(tmpdir, err) != 0) { printf("FAIL setup: %s\n", err); return 1; }
    RUN(tags_are_single_words);
    RUN(delete_runs_all_or_nothing);
    test_rm_rf(tmpdir);
    return test_summary();
}
