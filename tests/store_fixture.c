// store_fixture.c: see store_fixture.h.
#include "store_fixture.h"
#include <sqlite3.h>
#include <stdio.h>
#include "base/util.h"

const char *fixture_path(const char *dir, const char *name) {
    static char buf[4][512];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

int fixture_exec(const char *path, const char *sql, char *err) {
    sqlite3 *db;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) seterr(err, "%s: %s", path, sqlite3_errmsg(db));
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}
