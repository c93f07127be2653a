// config_keys.h: the config key table seen from outside config.c, for code that shows or
// compares configs key by key (the dashboard's config pane, `repae compare`).
#ifndef REPAE_CONFIG_KEYS_H
#define REPAE_CONFIG_KEYS_H
#include <stddef.h>
#include "base/config.h"

// Number of keys, and the dotted path of key i ("vae.ch"), in the order config_to_json writes.
int config_nkeys(void);
const char *config_key_path(int i);
// Key i's value as compact JSON text ("[8,16]", "\"linear\"", "0.0001", "true") into buf.
void config_key_value(const Config *c, int i, char *buf, size_t n);
// Index of a dotted path, or -1.
int config_key_find(const char *path);
// 1 if every key has the same value in a and b.
int config_equal(const Config *a, const Config *b);

#endif
