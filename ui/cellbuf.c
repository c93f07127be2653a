// cellbuf.c: see cellbuf.h.
#include "ui/cellbuf.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int cb_text(CellBuf *b, int x, int y, int maxw, const char *s, int fg, int attr) {
    int col = 0;
    if (maxw < 0) maxw = 0;
    while (*s) {
        uint32_t c = utf8_visible(utf8_next(&s));
        int w = utf8_cp_width(c);
        if (w == 0) continue;
        if (col + w > maxw || x + col + w > b->w) break;
        Cell *cell = cb_at(b, x + col, y);
        if (cell) { cell->ch = c; cell->fg = (int16_t)fg; cell->attr = (uint16_t)attr; }
        if (w == 2 && (cell = cb_at(b, x + col + 1, y))) { cell->ch = 0; cell->fg = (int16_t)fg; cell->attr = (uint16_t)attr; }
        col += w;
    }
    return col;
}

int cb_text_fit(CellBuf *b, int x, int y, int maxw, const char *s, int fg, int attr) {
    if (maxw <= 0) return 0;
    if (utf8_width(s) <= maxw) return cb_text(b, x, y, maxw, s, fg, attr);
    int n = cb_text(b, x, y, maxw - 1, s, fg, attr);
    cb_put(b, x + n, y, 0x2026, fg, attr);
    return n + 1;
}

// The bytes of the next row of s at w columns: up to the last space that fits (the space
// consumed), else as many characters as fit; *adv is how far the text moves on.
static int wrap_row(const char *s, int w, int *adv) {
    const char *p = s, *brk = NULL;
    int col = 0;
    while (*p) {
        const char *q = p;
        uint32_t c = utf8_visible(utf8_next(&q));
        int cw = utf8_cp_width(c);
        if (col + cw > w) break;
        if (c == ' ') brk = p;
        col += cw;
        p = q;
    }
    if (!*p) { *adv = (int)(p - s); return *adv; }
    if (*p == ' ') { *adv = (int)(p - s) + 1; return (int)(p - s); }
    if (brk && brk > s) { *adv = (int)(brk - s) + 1; return (int)(brk - s); }
    if (p == s) { const char *q = p; utf8_next(&q); p = q; } // w narrower than one character
    *adv = (int)(p - s);
    return *adv;
}

int cb_wrap(CellBuf *b, int x, int y, int w, int h, const char *s, int fg, int attr) {
    int rows = 0;
    if (w <= 0) return 0;
    while (*s == ' ') s++;
    while (*s && rows < h) {
        int adv, len = wrap_row(s, w, &adv);
        char row[1024];
        snprintf(row, sizeof row, "%.*s", len < 1023 ? len : 1023, s);
        s += adv;
        while (*s == ' ') s++;
        if (*s && rows == h - 1) { // the last row and more to say
            char rest[2048];
            snprintf(rest, sizeof rest, "%s %s", row, s);
            cb_text_fit(b, x, y + rows, w, rest, fg, attr);
        } else cb_text(b, x, y + rows, w, row, fg, attr);
        rows++;
    }
    return rows;
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
        o += utf8_encode(c, o);
    }
    *o = 0;
}
