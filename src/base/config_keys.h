// config_keys.h: the config key table seen from outside config.c, for code that shows or
// compares configs key by key (`repae show` and `repae compare`, the dashboard's Compare
// screen). A run's stored JSON becomes a Config with config_defaults + config_parse, so every
// key has a value and two runs are compared key by key, whatever their JSON spelled out.
#ifndef REPAE_CONFIG_KEYS_H
#define REPAE_CONFIG_KEYS_H
#include <stddef.h>
#include "base/config.h"

// How config_key_value writes a value.
typedef enum {
    CFG_JSON, // compact JSON: "[8,16]", "\"linear\"", "0.0001", "true"; exact, for comparisons
    CFG_TEXT, // as `repae train --set key=value` takes it: strings bare (linear) but the empty
              // one ("", never a blank cell), the rest as JSON
} CfgValueStyle;

// Number of keys, and the dotted path of key i ("vae.ch"), in the order config_to_json writes.
int config_nkeys(void);
const char *config_key_path(int i);
// Key i's value into buf (n bytes; cut to fit).
void config_key_value(const Config *c, int i, CfgValueStyle style, char *buf, size_t n);
// Index of a dotted path, or -1.
int config_key_find(const char *path);
// 1 if every key has the same value in a and b.
int config_equal(const Config *a, const Config *b);
// Every key's own type and range (what parsing checks), for a Config built in code; the first
// violation into err. config_validate runs it before the checks across keys.
int config_check_keys(const Config *c, char *err);

#endif
