// run_ref.h: what the run commands share on the way to a run: the store opened with the
// command's name on its errors, a run looked up by id or name, its stored config as a Config.
#ifndef REPAE_CLI_RUN_REF_H
#define REPAE_CLI_RUN_REF_H
#include "base/config.h"
#include "cli/cli.h"
#include "store/store.h"

// Opens g->db; on failure prints "repae CMD: why" and returns -1.
int cli_open_store(const Globals *g, const char *cmd, Store **s);
// Opens the store and loads the run named by ref (an id or a name); on failure prints the
// error, leaves nothing open and returns -1.
int cli_load_run(const Globals *g, const char *cmd, const char *ref, Store **s, StoreRun *r);
// The run's stored config parsed over the defaults, so every key has its value. 0, or -1
// with err (a config written by another version of repae may not parse).
int cli_run_config(const StoreRun *r, Config *c, char *err);

#endif
