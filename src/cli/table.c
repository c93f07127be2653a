// table.c: see table.h.
#include "cli/table.h"
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "base/utf8.h"

void table_setup_locale(void) {
    if (!setlocale(LC_CTYPE, "") || MB_CUR_MAX == 1) setlocale(LC_CTYPE, "C.UTF-8");
}

// Writes the code point shown for cp (a malformed byte as U+FFFD, a control as '?').
static void put_visible(uint32_t cp) {
    char b[4];
    fwrite(b, 1, (size_t)utf8_encode(utf8_visible(cp), b), stdout);
}

void table_cell(const char *s, int width, int right) {
    int w = utf8_width(s);
    if (right && w < width) printf("%*s", width - w, "");
    int used = 0;
    const char *p = s;
    while (*p) {
        uint32_t cp = utf8_next(&p);
        int cw = utf8_cp_width(cp);
        if (w > width && used + cw > width - 1) { fputs("…", stdout); used++; break; }
        put_visible(cp);
        used += cw;
    }
    if (!right && used < width) printf("%*s", width - used, "");
}

void table_text(const char *s) {
    while (*s) put_visible(utf8_next(&s));
}

void table_fit(int *w, const char *s, int max) {
    int x = utf8_width(s);
    if (x > max) x = max;
    if (x > *w) *w = x;
}

void table_num(char *buf, size_t n, double v) {
    if (isnan(v)) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.4g", v);
}
