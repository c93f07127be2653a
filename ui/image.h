// image.h: sample images in the terminal. Sixel (through libsixel) when the terminal answers
// DA1 with attribute 4, else Unicode upper half blocks (U+2580: fg = top pixel, bg = bottom
// pixel) in truecolor, 256 or 8 colours.
//
// ncurses does not know about sixel (nor about raw truecolor escapes), so those images are
// "overlays": the screen reserves blank cells for them, and after each doupdate the app moves
// the cursor there and writes the bytes itself (ImageOverlays). 256- and 8-colour half blocks
// go through ncurses as ordinary cells (image_halfblock), so they need no overlay.
#ifndef REPAE_UI_IMAGE_H
#define REPAE_UI_IMAGE_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "ui/cellbuf.h"

typedef struct {
    int w, h;
    uint8_t *rgb; // w*h*3, row-major
} Image;

void image_free(Image *im);
// PNG bytes (as stored with samples) to RGB8. Returns 0 or -1 with err (ERRLEN).
int image_decode_png(const void *data, size_t len, Image *out, char *err);

typedef enum { IMG_NONE, IMG_HALF8, IMG_HALF256, IMG_TRUECOLOR, IMG_SIXEL } ImageMode;
const char *image_mode_name(ImageMode m);

typedef struct {
    int sixel;            // DA1 reply carried attribute 4
    int cell_w, cell_h;   // pixels per cell (CSI 16 t or TIOCGWINSZ; 0 = unknown)
    int bg_light;         // the background colour's reply to OSC 11: 1 light, 0 dark, -1 no reply
} TermCaps;

// Sends DA1 (ESC [ c), the cell-size query (CSI 16 t) and the background colour query
// (OSC 11 ; ?) on the terminal at fd (in raw mode for the duration) and reads the replies for
// at most timeout_ms. Call before initscr.
void image_probe(int fd, int timeout_ms, TermCaps *caps);
// Parses a reply stream; exposed for tests. Returns 1 once the DA1 reply was seen. An OSC 11
// reply (ESC ] 11 ; rgb:RRRR/GGGG/BBBB, ended by ST or BEL) sets bg_light by its luma.
int image_parse_replies(const char *buf, size_t len, TermCaps *caps);
// The mode to draw with: $REPAE_IMAGES (sixel|truecolor|256|8|none) wins; else sixel if
// probed, truecolor if $COLORTERM says so, else by the number of colours (0 = no colour).
ImageMode image_pick_mode(const TermCaps *caps, int colors, int no_color);

// Nearest colours in the xterm palettes.
int rgb_to_256(int r, int g, int b);
int rgb_to_8(int r, int g, int b);
void xterm256_rgb(int idx, int *r, int *g, int *b);

// Fits img into cw x ch cells (2 pixel rows per cell) keeping its aspect, nearest neighbour.
// Returns the cells used in *uw, *uh.
void image_fit_cells(const Image *img, int cw, int ch, int *uw, int *uh);
// Draws img as half blocks into b at (x, y) in at most cw x ch cells with HALF8 or HALF256
// colour indices.
void image_halfblock(CellBuf *b, int x, int y, int cw, int ch, const Image *img, ImageMode mode);
// The colourless fallback: shade characters (space, light, medium, dark, full) by luma.
void image_shades(CellBuf *b, int x, int y, int cw, int ch, const Image *img);

// Overlays: requests collected while drawing a frame, written after doupdate.
typedef struct ImageOverlays ImageOverlays;
ImageOverlays *overlays_new(ImageMode mode, const TermCaps *caps);
void overlays_free(ImageOverlays *o);
ImageMode overlays_mode(const ImageOverlays *o);
// Starts a frame: forgets the previous requests (keeps the encoded cache).
void overlays_begin(ImageOverlays *o);
// Asks for img at cell (x, y) within cw x ch cells. key identifies the pixels (run, step):
// the encoded bytes are cached under it.
void overlays_add(ImageOverlays *o, int x, int y, int cw, int ch, const Image *img, uint64_t key);
// Writes every requested image (cursor moves + payload) to f and flushes it, and remembers
// where they went: that is what the terminal shows until the screen is cleared.
void overlays_flush(ImageOverlays *o, FILE *f);
// 1 when an image written by the last flush is not requested again at the same place and
// size in this frame: ncurses does not know those pixels are there (it believes the cells
// blank), so only clearing the screen removes them. The app then repaints the whole screen.
int overlays_stale(const ImageOverlays *o);
int overlays_count(const ImageOverlays *o);

// The payload for one image, malloc'd, *len bytes: sixel (DCS ... ST) scaled to fit
// cw*cell_w x ch*cell_h pixels, or truecolor half blocks with absolute cursor moves from
// the 1-based terminal position (row, col).
char *image_encode_sixel(const Image *img, int cw, int ch, int cell_w, int cell_h, size_t *len, char *err);
char *image_encode_truecolor(const Image *img, int row, int col, int cw, int ch, size_t *len);

#endif
