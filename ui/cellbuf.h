// cellbuf.h: a grid of terminal cells (code point, colours, attributes) that widgets draw into.
// Widgets never touch ncurses: they render into a CellBuf, which the app blits into a window.
// That keeps chart and image rendering testable without a terminal.
#ifndef REPAE_UI_CELLBUF_H
#define REPAE_UI_CELLBUF_H
#include <stdint.h>
#include "base/utf8.h" // utf8_next, utf8_width: the one display rule, shared with the CLI

enum { CB_BOLD = 1, CB_DIM = 2, CB_REVERSE = 4, CB_UNDERLINE = 8 };
#define CB_DEFAULT (-1) // the terminal's default colour

typedef struct {
    uint32_t ch;     // Unicode code point; 0 = the right half of a double-width character
    int16_t fg, bg;  // colour index 0..255 or CB_DEFAULT
    uint16_t attr;   // CB_* flags
} Cell;

typedef struct {
    int w, h;
    Cell *c; // h rows of w cells
} CellBuf;

void cb_init(CellBuf *b, int w, int h);
void cb_free(CellBuf *b);
void cb_resize(CellBuf *b, int w, int h); // contents cleared
void cb_clear(CellBuf *b);
static inline Cell *cb_at(CellBuf *b, int x, int y) {
    return (x >= 0 && y >= 0 && x < b->w && y < b->h) ? &b->c[(long)y * b->w + x] : 0;
}
void cb_put(CellBuf *b, int x, int y, uint32_t ch, int fg, int attr);
void cb_fill(CellBuf *b, int x, int y, int w, int h, uint32_t ch, int fg, int bg, int attr);
// Writes UTF-8 text from (x, y), clipped to maxw columns (and the buffer edge), each code
// point as utf8_visible shows it (controls as '?', tab and newline as a space); zero-width
// characters (combining marks) are left out, a cell holding one character. Returns the
// number of columns written.
int cb_text(CellBuf *b, int x, int y, int maxw, const char *utf8, int fg, int attr);
int cb_printf(CellBuf *b, int x, int y, int maxw, int fg, int attr, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
// cb_text that shows when it cut: text wider than maxw ends in '…' at the last column.
int cb_text_fit(CellBuf *b, int x, int y, int maxw, const char *utf8, int fg, int attr);
// Word-wraps text into the box (x, y, w columns, at most h rows), breaking at spaces (a word
// wider than w is split); text that needs more than h rows ends in '…'. Returns the rows used.
int cb_wrap(CellBuf *b, int x, int y, int w, int h, const char *utf8, int fg, int attr);
// Sets the background of a range of cells (a selection bar) without changing their text.
void cb_set_bg(CellBuf *b, int x, int y, int w, int bg, int attr_or);

// Row y as UTF-8 text with trailing spaces kept (tests compare screens with it); out has
// room for 4*w+1 bytes.
void cb_row_text(const CellBuf *b, int y, char *out);

#endif
