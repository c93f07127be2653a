// cellbuf.c: see cellbuf.h.
#include "ui/cellbuf.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include "base/util.h"

void cb_init(CellBuf *b, int w, int h) {
    b->w = b->h = 0;
    b->c = NULL;
    cb_resize(b, w, h);
}

void cb_free(CellBuf *b) {
    free(b->c);
    b->c = NULL;
    b->w = b->h = 0;
}

void cb_resize(CellBuf *b, int w, int h) {
    if (w < 0) w = 0;
    if (h < 0) h = 0;
    if ((long)w * h > (long)b->w * b->h || !b->c) b->c = xrealloc(b->c, sizeof(Cell) * ((size_t)w * h + 1));
    b->w = w;
    b->h = h;
    cb_clear(b);
}

void cb_clear(CellBuf *b) {
    for (long i = 0; i < (long)b->w * b->h; i++) b->c[i] = (Cell){' ', CB_DEFAULT, CB_DEFAULT, 0};
}

void cb_put(CellBuf *b, int x, int y, uint32_t ch, int fg, int attr) {
    Cell *c = cb_at(b, x, y);
    if (c) { c->ch = ch; c->fg = (int16_t)fg; c->attr = (uint16_t)attr; }
}

void cb_fill(CellBuf *b, int x, int y, int w, int h, uint32_t ch, int fg, int bg, int attr) {
    for (int j = y; j < y + h; j++)
        for (int i = x; i < x + w; i++) {
            Cell *c = cb_at(b, i, j);
            if (c) *c = (Cell){ch, (int16_t)fg, (int16_t)bg, (uint16_t)attr};
        }
}

uint32_t utf8_next(const char **sp) {
    const unsigned char *s = (const unsigned char *)*sp;
    uint32_t c = s[0];
    int n = 0;
    if (c < 0x80) n = 0;
    else if ((c & 0xE0) == 0xC0) { c &= 0x1F; n = 1; }
    else if ((c & 0xF0) == 0xE0) { c &= 0x0F; n = 2; }
    else if ((c & 0xF8) == 0xF0) { c &= 0x07; n = 3; }
    else { *sp += 1; return 0xFFFD; }
    for (int i = 1; i <= n; i++) {
        if ((s[i] & 0xC0) != 0x80) { *sp += i; return 0xFFFD; }
        c = (c << 6) | (s[i] & 0x3F);
    }
    *sp += n + 1;
    return c;
}

static int cp_width(uint32_t c) {
    if (c < 0x20 || c == 0x7F) return 0;
    int w = wcwidth((wchar_t)c);
    return w < 0 ? 1 : w; // an unknown width (no UTF-8 locale) still takes a cell
}

int utf8_width(const char *s) {
    int w = 0;
    while (*s) w += cp_width(utf8_next(&s));
    return w;
}

int cb_text(CellBuf *b, int x, int y, int maxw, const char *s, int fg, int attr) {
    int col = 0;
    if (maxw < 0) maxw = 0;
    while (*s) {
        uint32_t c = utf8_next(&s);
        if (c == '\n' || c == '\t') c = ' ';
        int w = cp_width(c);
        if (w == 0) continue;
        if (col + w > maxw || x + col + w > b->w) break;
        Cell *cell = cb_at(b, x + col, y);
        if (cell) { cell->ch = c; cell->fg = (int16_t)fg; cell->attr = (uint16_t)attr; }
        if (w == 2 && (cell = cb_at(b, x + col + 1, y))) { cell->ch = 0; cell->fg = (int16_t)fg; cell->attr = (uint16_t)attr; }
        col += w;
    }
    return col;
}

int cb_printf(CellBuf *b, int x, int y, int maxw, int fg, int attr, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return cb_text(b, x, y, maxw, buf, fg, attr);
}

void cb_set_bg(CellBuf *b, int x, int y, int w, int bg, int attr_or) {
    for (int i = x; i < x + w; i++) {
        Cell *c = cb_at(b, i, y);
        if (c) { c->bg = (int16_t)bg; c->attr |= (uint16_t)attr_or; }
    }
}

void cb_row_text(const CellBuf *b, int y, char *out) {
    char *o = out;
    for (int x = 0; x < b->w && y >= 0 && y < b->h; x++) {
        uint32_t c = b->c[(long)y * b->w + x].ch;
        if (c == 0) continue;
        if (c < 0x80) *o++ = (char)c;
        else if (c < 0x800) { *o++ = (char)(0xC0 | (c >> 6)); *o++ = (char)(0x80 | (c & 0x3F)); }
        else if (c < 0x10000) { *o++ = (char)(0xE0 | (c >> 12)); *o++ = (char)(0x80 | ((c >> 6) & 0x3F)); *o++ = (char)(0x80 | (c & 0x3F)); }
        else { *o++ = (char)(0xF0 | (c >> 18)); *o++ = (char)(0x80 | ((c >> 12) & 0x3F)); *o++ = (char)(0x80 | ((c >> 6) & 0x3F)); *o++ = (char)(0x80 | (c & 0x3F)); }
    }
    *o = 0;
}
