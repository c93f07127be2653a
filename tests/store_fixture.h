// store_fixture.h: what the store tests share to build their stores: paths under a test's
// temporary folder, and raw SQL run straight on a database file, for the frozen older-schema
// stores the migration tests start from and for damage the store itself would never write.
// (Tests may hold SQL; the product's SQL lives in store/ only.)
#ifndef REPAE_STORE_FIXTURE_H
#define REPAE_STORE_FIXTURE_H

// dir/name in one of four rotating static buffers: use it before the fourth next call.
const char *fixture_path(const char *dir, const char *name);
// Runs sql (several statements) on the database file at path; 0, or -1 with err (ERRLEN).
int fixture_exec(const char *path, const char *sql, char *err);

#endif
