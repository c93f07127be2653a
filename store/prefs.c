// prefs.c: the prefs table, small settings of the store as a whole (the dashboard remembers its
// chart layout per store here), so that they travel with the store file and not with a user's
// home directory.
#include <string.h>
#include "store/store.h"
#include "store/store_internal.h"
#include "base/util.h"

static int check_key(const Store *s, const char *key, char *err) {
    if (!key || !*key) return seterr(err, "%s: a preference key cannot be empty", s->path);
    size_t n = strlen(key);
    if (n > STORE_PREF_KEY_MAX)
        return seterr(err, "%s: preference key '%.40s...' is %zu bytes, at most %d", s->path, key, n,
                      STORE_PREF_KEY_MAX);
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return seterr(err, "%s: preference key '%s' has a control character (byte %d); use printable text",
                          s->path, key, (int)(p - (const unsigned char *)key));
    return 0;
}

int store_pref_get(Store *s, const char *key, char **value, char *err) {
    *value = NULL;
    if (check_key(s, key, err) != 0) return -1;
    sqlite3_stmt *st = stmt_bind(s, S_PREF_GET, "T", key);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *value = col_strdup(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return dberr(s, err, "cannot read a preference");
    return 0;
}

int store_pref_set(Store *s, const char *key, const char *value, char *err) {
    if (check_key(s, key, err) != 0) return -1;
    if (value && strlen(value) > STORE_PREF_VALUE_MAX)
        return seterr(err, "%s: preference '%s' is %zu bytes, at most %d", s->path, key, strlen(value),
                      STORE_PREF_VALUE_MAX);
    if (tx_begin(s, err) != 0) return -1;
    int rc = value ? stmt_exec(s, S_PREF_SET, "TT", key, value) : stmt_exec(s, S_PREF_DEL, "T", key);
    int ok = rc == SQLITE_DONE;
    if (!ok) dberr(s, err, value ? "cannot write a preference" : "cannot remove a preference");
    return tx_end(s, ok, err);
}
