// memory_policy.h: whether a run may start, as the CLI and the dashboard decide it: the core's
// memory check (train_memory_check), skipped when REPAE_MEM_CHECK=0 is in the environment.
#ifndef REPAE_APP_MEMORY_POLICY_H
#define REPAE_APP_MEMORY_POLICY_H
#include "base/config.h"

// 0 when cfg fits (or the check is off); else -1 with err saying what to lower and how to skip.
int app_memory_check(const Config *cfg, char *err);

#endif
