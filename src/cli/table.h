// table.h: text tables on stdout for the run commands (runs, show, compare): cells padded or
// cut to a width in terminal columns, with base/utf8.h's display rule, so that names in any
// script line up and a control character in a name can never break a row.
#ifndef REPAE_CLI_TABLE_H
#define REPAE_CLI_TABLE_H
#include <stddef.h>

// The user's LC_CTYPE, or C.UTF-8 when it has no multibyte characters: wcwidth needs one.
void table_setup_locale(void);
// s in a cell of `width` columns, left- or right-aligned, cut with "…" when longer.
void table_cell(const char *s, int width, int right);
// s at its own width (a name outside a table), control characters shown as the rule says.
void table_text(const char *s);
// Grows *w to s's display width, but not beyond max.
void table_fit(int *w, const char *s, int max);
// A metric value: "%.4g", "-" for NaN (not logged).
void table_num(char *buf, size_t n, double v);

#endif
