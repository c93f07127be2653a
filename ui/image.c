// image.c: see image.h.
#include "ui/image.h"
#include <errno.h>
#include <math.h>
#include <png.h>
#include <poll.h>
#include <stdarg.h>
#include <sixel.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>
#include "base/util.h"

void image_free(Image *im) {
    free(im->rgb);
    im->rgb = NULL;
    im->w = im->h = 0;
}

int image_decode_png(const void *data, size_t len, Image *out, char *err) {
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&pi, data, len))
        return seterr(err, "sample image: not a readable PNG (%s)", pi.message);
    pi.format = PNG_FORMAT_RGB;
    out->w = (int)pi.width;
    out->h = (int)pi.height;
    out->rgb = xmalloc(PNG_IMAGE_SIZE(pi));
    if (!png_image_finish_read(&pi, NULL, out->rgb, 0, NULL)) {
        image_free(out);
        png_image_free(&pi);
        return seterr(err, "sample image: PNG decoding failed (%s)", pi.message);
    }
    return 0;
}

const char *image_mode_name(ImageMode m) {
    static const char *n[] = {"none", "half-blocks 8", "half-blocks 256", "half-blocks truecolor", "sixel"};
    return n[m];
}

// ---- terminal probe --------------------------------------------------------------------------
// One hex colour component of an OSC 11 reply (1 to 4 digits) as 0..1; advances *p.
static double osc_component(const char **p, const char *end) {
    unsigned v = 0;
    int nd = 0;
    while (*p < end && nd < 4) {
        char c = **p;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) break;
        v = v * 16 + (unsigned)d;
        nd++;
        (*p)++;
    }
    return nd ? v / (double)((1u << (4 * nd)) - 1) : -1;
}

// ESC ] 11 ; rgb:R/G/B: the terminal's background. Light when its luma is above half.
static void parse_osc11(const char *s, const char *end, TermCaps *caps) {
    static const char pre[] = "\033]11;rgb:";
    if (end - s < (long)sizeof pre - 1 || memcmp(s, pre, sizeof pre - 1)) return;
    const char *p = s + sizeof pre - 1;
    double c[3];
    for (int k = 0; k < 3; k++) {
        c[k] = osc_component(&p, end);
        if (c[k] < 0) return;
        if (k < 2) { if (p >= end || *p != '/') return; p++; }
    }
    caps->bg_light = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] > 0.5;
}

int image_parse_replies(const char *buf, size_t len, TermCaps *caps) {
    int da1 = 0;
    for (size_t i = 0; i + 2 < len; i++) {
        if (buf[i] == 0x1b && buf[i + 1] == ']') { parse_osc11(buf + i, buf + len, caps); continue; }
        if (buf[i] != 0x1b || buf[i + 1] != '[') continue;
        size_t j = i + 2;
        int priv = j < len && buf[j] == '?';
        if (priv) j++;
        int args[32], na = 0, cur = 0, have = 0;
        for (; j < len; j++) {
            char c = buf[j];
            if (c >= '0' && c <= '9') { cur = cur * 10 + (c - '0'); have = 1; }
            else if (c == ';') { if (na < 32) args[na++] = cur; cur = 0; have = 0; }
            else break;
        }
        if (j >= len) break;
        if (have && na < 32) args[na++] = cur;
        if (buf[j] == 'c' && priv) { // DA1: ESC [ ? 6x ; attr ; attr ... c
            da1 = 1;
            for (int k = 1; k < na; k++) if (args[k] == 4) caps->sixel = 1;
        } else if (buf[j] == 't' && na == 3 && args[0] == 6) { // CSI 6 ; height ; width t
            caps->cell_h = args[1];
            caps->cell_w = args[2];
        }
        i = j;
    }
    return da1;
}

void image_probe(int fd, int timeout_ms, TermCaps *caps) {
    memset(caps, 0, sizeof *caps);
    caps->bg_light = -1;
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row && ws.ws_xpixel && ws.ws_ypixel) {
        caps->cell_w = ws.ws_xpixel / ws.ws_col;
        caps->cell_h = ws.ws_ypixel / ws.ws_row;
    }
    if (!isatty(fd)) return;
    struct termios old, raw;
    if (tcgetattr(fd, &old) != 0) return;
    raw = old;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    tcsetattr(fd, TCSANOW, &raw);
    // The cell-size and background queries go first: every terminal answers DA1, and answers
    // in order, so its reply ends the wait. Terminals that do not know OSC 11 ignore it.
    static const char q[] = "\033[16t\033]11;?\033\\\033[c";
    if (write(fd, q, sizeof q - 1) < 0) { tcsetattr(fd, TCSANOW, &old); return; }
    char buf[512];
    size_t n = 0;
    double end = now_seconds() + timeout_ms / 1000.0;
    while (n < sizeof buf - 1) {
        int left = (int)((end - now_seconds()) * 1000);
        if (left <= 0) break;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, left) <= 0) break;
        ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
        if (r <= 0) { if (r < 0 && errno == EINTR) continue; break; }
        n += (size_t)r;
        TermCaps t = *caps;
        if (image_parse_replies(buf, n, &t)) break;
    }
    image_parse_replies(buf, n, caps);
    tcsetattr(fd, TCSAFLUSH, &old);
}

ImageMode image_pick_mode(const TermCaps *caps, int colors, int no_color) {
    const char *e = getenv("REPAE_IMAGES");
    if (e && *e) {
        if (!strcmp(e, "sixel")) return IMG_SIXEL;
        if (!strcmp(e, "truecolor")) return IMG_TRUECOLOR;
        if (!strcmp(e, "256")) return IMG_HALF256;
        if (!strcmp(e, "8")) return IMG_HALF8;
        if (!strcmp(e, "none")) return IMG_NONE;
    }
    if (caps && caps->sixel) return IMG_SIXEL;
    if (no_color || colors < 8) return IMG_NONE;
    const char *ct = getenv("COLORTERM");
    if (ct && (!strcmp(ct, "truecolor") || !strcmp(ct, "24bit"))) return IMG_TRUECOLOR;
    return colors >= 256 ? IMG_HALF256 : IMG_HALF8;
}

// ---- palettes --------------------------------------------------------------------------------
static const int cube_level[6] = {0, 95, 135, 175, 215, 255};

void xterm256_rgb(int idx, int *r, int *g, int *b) {
    static const unsigned char sys[16][3] = {{0, 0, 0}, {205, 0, 0}, {0, 205, 0}, {205, 205, 0}, {0, 0, 238},
        {205, 0, 205}, {0, 205, 205}, {229, 229, 229}, {127, 127, 127}, {255, 0, 0}, {0, 255, 0},
        {255, 255, 0}, {92, 92, 255}, {255, 0, 255}, {0, 255, 255}, {255, 255, 255}};
    if (idx < 16) { *r = sys[idx][0]; *g = sys[idx][1]; *b = sys[idx][2]; }
    else if (idx < 232) { idx -= 16; *r = cube_level[idx / 36]; *g = cube_level[idx / 6 % 6]; *b = cube_level[idx % 6]; }
    else { *r = *g = *b = 8 + 10 * (idx - 232); }
}

static int cube_index(int v) {
    int best = 0;
    for (int i = 1; i < 6; i++) if (abs(cube_level[i] - v) < abs(cube_level[best] - v)) best = i;
    return best;
}

static int dist2(int r, int g, int b, int r2, int g2, int b2) {
    return (r - r2) * (r - r2) + (g - g2) * (g - g2) + (b - b2) * (b - b2);
}

int rgb_to_256(int r, int g, int b) {
    int ci = 16 + 36 * cube_index(r) + 6 * cube_index(g) + cube_index(b);
    int gray = (r + g + b) / 3;
    int gi = gray < 8 ? 0 : gray > 238 ? 23 : (gray - 8 + 5) / 10;
    if (gi > 23) gi = 23;
    gi += 232;
    int cr, cg, cb, gr, gg, gb;
    xterm256_rgb(ci, &cr, &cg, &cb);
    xterm256_rgb(gi, &gr, &gg, &gb);
    return dist2(r, g, b, gr, gg, gb) < dist2(r, g, b, cr, cg, cb) ? gi : ci;
}

int rgb_to_8(int r, int g, int b) {
    int best = 0, bd = 1 << 30;
    for (int i = 0; i < 8; i++) {
        int cr, cg, cb;
        xterm256_rgb(i, &cr, &cg, &cb);
        int d = dist2(r, g, b, cr, cg, cb);
        if (d < bd) { bd = d; best = i; }
    }
    return best;
}

// ---- half blocks -----------------------------------------------------------------------------
// Eight colours are the corners of the RGB cube: thresholding each channel against a 4x4 Bayer
// matrix (ordered dithering) keeps greys and muted colours as mixtures, where the nearest of
// the 8 would turn most of a grey-purple sample magenta or white.
static int rgb_to_8_dither(int r, int g, int b, int x, int y) {
    static const unsigned char bayer[4][4] = {{0, 8, 2, 10}, {12, 4, 14, 6}, {3, 11, 1, 9}, {15, 7, 13, 5}};
    int t = bayer[y & 3][x & 3] * 16 + 8; // 8..248
    return (r > t) | (g > t) << 1 | (b > t) << 2;
}

void image_fit_cells(const Image *img, int cw, int ch, int *uw, int *uh) {
    *uw = *uh = 0;
    if (!img || img->w <= 0 || img->h <= 0 || cw <= 0 || ch <= 0) return;
    double s = fmin((double)cw / img->w, 2.0 * ch / img->h);
    if (s >= 1) s = floor(s); // whole-pixel scaling keeps small samples crisp
    *uw = (int)fmax(1, floor(img->w * s));
    *uh = (int)fmax(1, ceil(img->h * s / 2));
    if (*uw > cw) *uw = cw;
    if (*uh > ch) *uh = ch;
}

// The source pixel under half-pixel (px, py) of a uw x (2*uh) target.
static const uint8_t *sample_px(const Image *img, int px, int py, int uw, int uh2) {
    int sx = (int)((long)px * img->w / uw), sy = (int)((long)py * img->h / uh2);
    if (sx >= img->w) sx = img->w - 1;
    if (sy >= img->h) sy = img->h - 1;
    return img->rgb + ((long)sy * img->w + sx) * 3;
}

static int fit_h2(const Image *img, int uw) {
    // The exact pixel rows of the scaled image; may be odd, leaving the last bottom half empty.
    double s = (double)uw / img->w;
    int h2 = (int)lround(img->h * s);
    return h2 < 1 ? 1 : h2;
}

void image_halfblock(CellBuf *b, int x, int y, int cw, int ch, const Image *img, ImageMode mode) {
    int uw, uh;
    image_fit_cells(img, cw, ch, &uw, &uh);
    if (!uw) return;
    int h2 = fit_h2(img, uw);
    if (h2 > 2 * uh) h2 = 2 * uh;
    for (int r = 0; r < uh; r++)
        for (int c = 0; c < uw; c++) {
            const uint8_t *t = sample_px(img, c, 2 * r, uw, h2);
            int fg = mode == IMG_HALF8 ? rgb_to_8_dither(t[0], t[1], t[2], c, 2 * r) : rgb_to_256(t[0], t[1], t[2]);
            int bg = CB_DEFAULT;
            if (2 * r + 1 < h2) {
                const uint8_t *u = sample_px(img, c, 2 * r + 1, uw, h2);
                bg = mode == IMG_HALF8 ? rgb_to_8_dither(u[0], u[1], u[2], c, 2 * r + 1) : rgb_to_256(u[0], u[1], u[2]);
            }
            Cell *cell = cb_at(b, x + c, y + r);
            if (cell) *cell = (Cell){0x2580, (int16_t)fg, (int16_t)bg, 0};
        }
}

// Without colours (NO_COLOR, IMG_NONE): one shade character per cell from the mean luma of
// the two pixels a half block would show, so the samples still read as pictures.
void image_shades(CellBuf *b, int x, int y, int cw, int ch, const Image *img) {
    static const uint32_t shade[5] = {' ', 0x2591, 0x2592, 0x2593, 0x2588}; // ░ ▒ ▓ █
    int uw, uh;
    image_fit_cells(img, cw, ch, &uw, &uh);
    if (!uw) return;
    int h2 = fit_h2(img, uw);
    if (h2 > 2 * uh) h2 = 2 * uh;
    for (int r = 0; r < uh; r++)
        for (int c = 0; c < uw; c++) {
            int n = 0, sum = 0;
            for (int k = 0; k < 2 && 2 * r + k < h2; k++, n++) {
                const uint8_t *p = sample_px(img, c, 2 * r + k, uw, h2);
                sum += (299 * p[0] + 587 * p[1] + 114 * p[2]) / 1000;
            }
            int lvl = n ? (sum / n * 5) / 256 : 0;
            Cell *cell = cb_at(b, x + c, y + r);
            if (cell) *cell = (Cell){shade[lvl > 4 ? 4 : lvl], CB_DEFAULT, CB_DEFAULT, 0};
        }
}

typedef struct { char *p; size_t n, cap; } Buf;
static void buf_add(Buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) { b->cap = (b->n + n + 1) * 2; b->p = xrealloc(b->p, b->cap); }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void buf_fmt(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_fmt(Buf *b, const char *fmt, ...) {
    char t[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t, sizeof t, fmt, ap);
    va_end(ap);
    buf_add(b, t, (size_t)n);
}

char *image_encode_truecolor(const Image *img, int row, int col, int cw, int ch, size_t *len) {
    int uw, uh;
    Buf b = {0};
    image_fit_cells(img, cw, ch, &uw, &uh);
    int h2 = uw ? fit_h2(img, uw) : 0;
    if (h2 > 2 * uh) h2 = 2 * uh;
    for (int r = 0; r < uh; r++) {
        buf_fmt(&b, "\033[%d;%dH", row + r, col);
        for (int c = 0; c < uw; c++) {
            const uint8_t *t = sample_px(img, c, 2 * r, uw, h2);
            buf_fmt(&b, "\033[38;2;%d;%d;%dm", t[0], t[1], t[2]);
            if (2 * r + 1 < h2) {
                const uint8_t *u = sample_px(img, c, 2 * r + 1, uw, h2);
                buf_fmt(&b, "\033[48;2;%d;%d;%dm", u[0], u[1], u[2]);
            } else buf_fmt(&b, "\033[49m");
            buf_add(&b, "\xe2\x96\x80", 3);
        }
        buf_add(&b, "\033[0m", 4);
    }
    *len = b.n;
    return b.p ? b.p : xstrdup("");
}

// ---- sixel -----------------------------------------------------------------------------------
static int sixel_sink(char *data, int size, void *priv) {
    buf_add(priv, data, (size_t)size);
    return 0;
}

// The pixel size of img as a sixel image in cw x ch cells: whole-pixel scaling when it grows.
static void sixel_fit(const Image *img, int cw, int ch, int cell_w, int cell_h, int *w, int *h) {
    int bw = cw * cell_w, bh = ch * cell_h;
    double s = fmin((double)bw / img->w, (double)bh / img->h);
    if (s >= 1) s = floor(s);
    *w = (int)fmax(1, floor(img->w * s));
    *h = (int)fmax(1, floor(img->h * s));
    // Sixel bands are 6 pixels tall; a partial last band would overhang into the next cell row.
    if (*h > 6) *h -= *h % 6;
}

char *image_encode_sixel(const Image *img, int cw, int ch, int cell_w, int cell_h, size_t *len, char *err) {
    if (cell_w <= 0) cell_w = 10;
    if (cell_h <= 0) cell_h = 20;
    int w, h;
    sixel_fit(img, cw, ch, cell_w, cell_h, &w, &h);
    uint8_t *px = xmalloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int sx = (int)((long)x * img->w / w), sy = (int)((long)y * img->h / h);
            memcpy(px + ((long)y * w + x) * 3, img->rgb + ((long)sy * img->w + sx) * 3, 3);
        }
    Buf b = {0};
    sixel_output_t *out = NULL;
    sixel_dither_t *dither = NULL;
    SIXELSTATUS st = sixel_output_new(&out, sixel_sink, &b, NULL);
    if (SIXEL_SUCCEEDED(st)) st = sixel_dither_new(&dither, 256, NULL);
    if (SIXEL_SUCCEEDED(st))
        st = sixel_dither_initialize(dither, px, w, h, SIXEL_PIXELFORMAT_RGB888, SIXEL_LARGE_AUTO, SIXEL_REP_AUTO,
                                     SIXEL_QUALITY_AUTO);
    if (SIXEL_SUCCEEDED(st)) st = sixel_encode(px, w, h, 3, dither, out);
    if (dither) sixel_dither_unref(dither);
    if (out) sixel_output_unref(out);
    free(px);
    if (SIXEL_FAILED(st)) {
        free(b.p);
        seterr(err, "sixel encoding of a %dx%d image failed (libsixel status %#x)", w, h, (unsigned)st);
        return NULL;
    }
    *len = b.n;
    return b.p ? b.p : xstrdup("");
}

// ---- overlays --------------------------------------------------------------------------------
#define OV_CACHE 16
#define OV_MAX 32
typedef struct {
    uint64_t key;
    int x, y, cw, ch; // position matters for truecolor (absolute moves in the payload)
    char *data;
    size_t len;
    unsigned long used;
} OvCached;

struct ImageOverlays {
    ImageMode mode;
    TermCaps caps;
    struct { int x, y, cw, ch; const Image *img; uint64_t key; } req[OV_MAX];
    int nreq;
    OvCached cache[OV_CACHE];
    unsigned long clock;
    struct { int x, y, cw, ch; } shown[OV_MAX]; // where the last flush put images
    int nshown;
};

ImageOverlays *overlays_new(ImageMode mode, const TermCaps *caps) {
    ImageOverlays *o = xcalloc(1, sizeof *o);
    o->mode = mode;
    if (caps) o->caps = *caps;
    return o;
}

void overlays_free(ImageOverlays *o) {
    if (!o) return;
    for (int i = 0; i < OV_CACHE; i++) free(o->cache[i].data);
    free(o);
}

ImageMode overlays_mode(const ImageOverlays *o) { return o->mode; }
void overlays_begin(ImageOverlays *o) { o->nreq = 0; }
int overlays_count(const ImageOverlays *o) { return o->nreq; }

void overlays_add(ImageOverlays *o, int x, int y, int cw, int ch, const Image *img, uint64_t key) {
    if (o->nreq >= OV_MAX || !img || !img->rgb || cw <= 0 || ch <= 0) return;
    o->req[o->nreq].x = x; o->req[o->nreq].y = y; o->req[o->nreq].cw = cw; o->req[o->nreq].ch = ch;
    o->req[o->nreq].img = img; o->req[o->nreq].key = key;
    o->nreq++;
}

static OvCached *encoded(ImageOverlays *o, int i) {
    int sixel = o->mode == IMG_SIXEL;
    int x = sixel ? 0 : o->req[i].x, y = sixel ? 0 : o->req[i].y;
    OvCached *victim = &o->cache[0];
    for (int k = 0; k < OV_CACHE; k++) {
        OvCached *c = &o->cache[k];
        if (c->data && c->key == o->req[i].key && c->x == x && c->y == y && c->cw == o->req[i].cw && c->ch == o->req[i].ch) {
            c->used = ++o->clock;
            return c;
        }
        if (!c->data || c->used < victim->used) victim = c;
    }
    free(victim->data);
    memset(victim, 0, sizeof *victim);
    char err[ERRLEN];
    size_t len = 0;
    char *d = sixel ? image_encode_sixel(o->req[i].img, o->req[i].cw, o->req[i].ch, o->caps.cell_w, o->caps.cell_h, &len, err)
                    : image_encode_truecolor(o->req[i].img, o->req[i].y + 1, o->req[i].x + 1, o->req[i].cw, o->req[i].ch, &len);
    if (!d) return NULL;
    *victim = (OvCached){o->req[i].key, x, y, o->req[i].cw, o->req[i].ch, d, len, ++o->clock};
    return victim;
}

int overlays_stale(const ImageOverlays *o) {
    for (int i = 0; i < o->nshown; i++) {
        int again = 0;
        for (int j = 0; j < o->nreq && !again; j++)
            again = o->req[j].x == o->shown[i].x && o->req[j].y == o->shown[i].y && o->req[j].cw == o->shown[i].cw &&
                    o->req[j].ch == o->shown[i].ch;
        if (!again) return 1;
    }
    return 0;
}

void overlays_flush(ImageOverlays *o, FILE *f) {
    o->nshown = 0;
    if (!o->nreq || (o->mode != IMG_SIXEL && o->mode != IMG_TRUECOLOR)) return;
    for (int i = 0; i < o->nreq; i++) {
        o->shown[i].x = o->req[i].x; o->shown[i].y = o->req[i].y;
        o->shown[i].cw = o->req[i].cw; o->shown[i].ch = o->req[i].ch;
    }
    o->nshown = o->nreq;
    fflush(f);
    for (int i = 0; i < o->nreq; i++) {
        OvCached *c = encoded(o, i);
        if (!c) continue;
        if (o->mode == IMG_SIXEL) {
            // centred in its box, as the half blocks are (a sixel starts at a cell's corner)
            int cwp = o->caps.cell_w > 0 ? o->caps.cell_w : 10, chp = o->caps.cell_h > 0 ? o->caps.cell_h : 20, w, h;
            sixel_fit(o->req[i].img, o->req[i].cw, o->req[i].ch, cwp, chp, &w, &h);
            int dx = (o->req[i].cw * cwp - w) / 2 / cwp;
            fprintf(f, "\0337\033[%d;%dH", o->req[i].y + 1, o->req[i].x + 1 + (dx > 0 ? dx : 0));
        }
        else fputs("\0337", f);
        fwrite(c->data, 1, c->len, f);
        fputs("\0338", f); // back to where ncurses believes the cursor is
    }
    fflush(f);
}
