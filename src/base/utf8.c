// utf8.c: see utf8.h.
#include "base/utf8.h"
#include <wchar.h>

uint32_t utf8_next(const char **sp) {
    const unsigned char *s = (const unsigned char *)*sp;
    uint32_t c = s[0];
    int n;
    uint32_t min; // the smallest code point that needs this length: shorter forms are overlong
    if (c < 0x80) { *sp += 1; return c; }
    if ((c & 0xE0) == 0xC0) { c &= 0x1F; n = 1; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { c &= 0x0F; n = 2; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { c &= 0x07; n = 3; min = 0x10000; }
    else { *sp += 1; return 0xFFFD; }
    for (int i = 1; i <= n; i++) {
        // A NUL fails this test too, so a truncated sequence stops at the string's end.
        if ((s[i] & 0xC0) != 0x80) { *sp += i; return 0xFFFD; }
        c = (c << 6) | (s[i] & 0x3F);
    }
    *sp += n + 1;
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0xFFFD;
    return c;
}

uint32_t utf8_visible(uint32_t cp) {
    if (cp == '\t' || cp == '\n' || cp == '\r') return ' ';
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) return '?';
    return cp;
}

int utf8_cp_width(uint32_t cp) {
    cp = utf8_visible(cp);
    if (cp < 0x7F) return 1;
    int w = wcwidth((wchar_t)cp);
    return w < 0 ? 1 : w; // unknown to the locale: still takes a cell
}

int utf8_width(const char *s) {
    int w = 0;
    while (*s) w += utf8_cp_width(utf8_next(&s));
    return w;
}

int utf8_encode(uint32_t c, char out[4]) {
    if (c < 0x80) { out[0] = (char)c; return 1; }
    if (c < 0x800) { out[0] = (char)(0xC0 | (c >> 6)); out[1] = (char)(0x80 | (c & 0x3F)); return 2; }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}
