// store_backend.h: the dashboard's backend (ui/backend.h) on the run store; runs launched from
// the dashboard train in background threads of this process.
#ifndef REPAE_APP_STORE_BACKEND_H
#define REPAE_APP_STORE_BACKEND_H
#include <stddef.h>
#include <sys/stat.h>
#include "ui/backend.h"

// The run store at path (created if missing). NULL with err on failure.
UiBackend *store_backend_open(const char *path, char *err);
// The store backend's check: 0 while path is still the file opened (at_open, from stat),
// else 1 with a message saying it was deleted, moved or replaced and what to do.
int store_backend_file_check(const char *path, const struct stat *at_open, char *msg, size_t n);

#endif
