// run_ref.c: see run_ref.h.
#include "cli/run_ref.h"
#include <stdio.h>
#include "base/util.h"

int cli_open_store(const Globals *g, const char *cmd, Store **s) {
    char err[ERRLEN];
    if (store_open(s, g->db, 0, err) != 0) { fprintf(stderr, "repae %s: %s\n", cmd, err); return -1; }
    return 0;
}

int cli_load_run(const Globals *g, const char *cmd, const char *ref, Store **s, StoreRun *r) {
    char err[ERRLEN];
    if (cli_open_store(g, cmd, s) != 0) return -1;
    int64_t id;
    if (store_resolve(*s, ref, &id, err) != 0 || store_get_run(*s, id, r, err) != 0) {
        fprintf(stderr, "repae %s: %s\n", cmd, err);
        store_close(*s);
        return -1;
    }
    return 0;
}

int cli_run_config(const StoreRun *r, Config *c, char *err) {
    char origin[64];
    snprintf(origin, sizeof origin, "run %lld's stored config", (long long)r->id);
    config_defaults(c);
    return config_parse(c, r->config ? r->config : "{}", origin, err);
}
