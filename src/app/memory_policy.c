// memory_policy.c: see memory_policy.h. The environment is read here, not in the core.
#include "app/memory_policy.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train/train.h"
#include "base/util.h"

int app_memory_check(const Config *cfg, char *err) {
    const char *env = getenv("REPAE_MEM_CHECK");
    if ((env && strcmp(env, "0") == 0) || train_memory_check(cfg, err) == 0) return 0;
    size_t n = strlen(err);
    snprintf(err + n, ERRLEN - n, ". REPAE_MEM_CHECK=0 skips this check");
    return -1;
}
