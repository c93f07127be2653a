// test_app_store_file.c: the dashboard on a store file that is deleted or replaced while it
// is open. SQLite keeps reading the old file, so without a check the screens would go on
// showing it as if live; the status line must say so, and nothing may crash.
#include "test.h"
#include "testutil.h"
#include "ui/app.h"
#include "fake_backend.h"
#include "app/store_backend.h"
#include "store/store.h"
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

static char tmp[256];

static const char *status_line(App *a, int w, int h) {
    static char row[4 * 512 + 1];
    CellBuf b;
    cb_init(&b, w, h);
    app_render(a, &b);
    cb_row_text(&b, h - 1, row);
    cb_free(&b);
    return row;
}

// Two stores: the dashboard's and another one to move over it.
static int make_store(const char *path, char *err) {
    Store *s;
    if (store_open(&s, path, STORE_CREATE, err)) return -1;
    store_close(s);
    return 0;
}

TEST(file_check_sees_deleted_and_replaced) {
    char db[300], other[300], err[ERRLEN], msg[512];
    snprintf(db, sizeof db, "%s/check.db", tmp);
    snprintf(other, sizeof other, "%s/check2.db", tmp);
    int fd = -1;
    struct stat at;
    CHECK(make_store(db, err) == 0 && make_store(other, err) == 0, "%s", err);
    fd = open(db, O_RDONLY); // held open as SQLite holds it: the inode cannot be reused
    CHECK(fd >= 0 && fstat(fd, &at) == 0, "open");
    CHECK(store_backend_file_check(db, &at, msg, sizeof msg) == 0, "unchanged file reported: %s", msg);
    CHECK(rename(other, db) == 0, "rename");
    CHECK(store_backend_file_check(db, &at, msg, sizeof msg) == 1 && strstr(msg, "replaced") && strstr(msg, db),
          "replacement not seen: %s", msg);
    CHECK(unlink(db) == 0, "unlink");
    CHECK(store_backend_file_check(db, &at, msg, sizeof msg) == 1 && strstr(msg, "deleted") && strstr(msg, db),
          "deletion not seen: %s", msg);
    close(fd);
}

TEST(status_line_warns_while_the_store_is_gone) {
    char db[300], other[300], err[ERRLEN];
    snprintf(db, sizeof db, "%s/dash.db", tmp);
    snprintf(other, sizeof other, "%s/dash2.db", tmp);
    UiBackend *m = store_backend_open(db, err);
    CHECK(m, "%s", err);
    App *a = app_headless_new(m);
    app_push(a, screen_runs_new(a));
    app_tick(a);
    const char *s = status_line(a, 120, 30);
    CHECK(!strstr(s, "stale") && strstr(s, "? help"), "warning on an intact store: '%s'", s);
    // replaced (another store renamed over it): the warning, in place of the keys
    CHECK(make_store(other, err) == 0, "%s", err);
    CHECK(rename(other, db) == 0, "rename");
    app_tick(a);
    s = status_line(a, 120, 30);
    CHECK(strstr(s, "store file replaced by another file: what is shown is stale; press q and reopen"),
          "no warning after replacing: '%s'", s);
    // deleted: the message follows; the screens keep working on the open connection
    CHECK(unlink(db) == 0, "unlink");
    app_tick(a);
    s = status_line(a, 120, 30);
    CHECK(strstr(s, "store file deleted or moved"), "no warning after deleting: '%s'", s);
    app_feed_key(a, 'j');
    app_feed_key(a, '?');
    app_feed_key(a, ' ');
    app_tick(a);
    s = status_line(a, 80, 24);
    CHECK(strstr(s, "store file deleted or moved"), "warning gone after keys: '%s'", s);
    // back in place (the same file, moved away and back): the warning goes
    app_headless_free(a);
    m->ops->close(m);
    m = store_backend_open(db, err); // a fresh store at the path
    CHECK(m, "%s", err);
    a = app_headless_new(m);
    app_push(a, screen_runs_new(a));
    char away[300];
    snprintf(away, sizeof away, "%s/away.db", tmp);
    CHECK(rename(db, away) == 0, "rename away");
    app_tick(a);
    s = status_line(a, 120, 30);
    CHECK(strstr(s, "deleted or moved"), "no warning after moving away: '%s'", s);
    CHECK(rename(away, db) == 0, "rename back");
    app_tick(a);
    s = status_line(a, 120, 30);
    CHECK(!strstr(s, "stale") && strstr(s, "? help"), "warning stays after the file came back: '%s'", s);
    app_feed_key(a, 'q');
    CHECK(app_quitting(a), "q does not quit");
    app_headless_free(a);
    m->ops->close(m);
}

// A backend without the check (generated runs) is simply not asked.
TEST(fake_model_has_no_check) {
    App *a = app_headless_new(fake_backend_new(3, 100));
    app_push(a, screen_runs_new(a));
    app_tick(a);
    const char *s = status_line(a, 100, 30);
    CHECK(strstr(s, "? help"), "status line: '%s'", s);
    UiBackend *m = app_model(a);
    app_headless_free(a);
    m->ops->close(m);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/repae_test_ui_store_file_%d", (int)getpid());
    char err[ERRLEN];
    if (mkdir_p(tmp, err)) { printf("FAIL setup: %s\n", err); return 1; }
    RUN(file_check_sees_deleted_and_replaced);
    RUN(status_line_warns_while_the_store_is_gone);
    RUN(fake_model_has_no_check);
    test_rm_rf(tmp);
    return test_summary();
}
