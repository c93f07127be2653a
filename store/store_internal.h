// store_internal.h: what store.c and schema.c share (not part of the public API).
#ifndef REPAE_STORE_INTERNAL_H
#define REPAE_STORE_INTERNAL_H
#include <sqlite3.h>

// application_id of every repae store ("rpae"), so a SQLite file of another program is refused.
#define STORE_APP_ID 0x72706165

// Checks that db (just opened, nothing written yet) is a repae store this code can use, then
// switches it to WAL and applies the missing migrations, each in its own transaction.
// path is only for messages. readonly: db was opened read-only (immutable): only the checks.
// Returns 0, or with err: -1, or the SQLite code when the file could not be read at all.
int schema_prepare(sqlite3 *db, const char *path, int readonly, char *err);

#endif
