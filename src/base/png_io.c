// png_io.c: libpng behind a small API. libpng reports errors by longjmp; every entry point sets
// its own jump target so a bad file becomes a message, and everything allocated between the
// setjmp and the error is reachable through volatile locals to be freed afterwards.
#include "base/png_io.h"
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include "base/util.h"

#define PNG_MAXDIM 8192

typedef struct {
    char msg[200];
} PngErr;

static void on_error(png_structp png, png_const_charp msg) {
    PngErr *e = png_get_error_ptr(png);
    if (e) snprintf(e->msg, sizeof e->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg; // warnings (odd chunks, bad gamma) do not stop an image from being usable
}

// ---- reading --------------------------------------------------------------------------------

typedef struct {
    const uint8_t *p;
    size_t len, pos;
} MemReader;

static void mem_read(png_structp png, png_bytep out, size_t n) {
    MemReader *r = png_get_io_ptr(png);
    if (n > r->len - r->pos) png_error(png, "the file ends early (truncated PNG)");
    memcpy(out, r->p + r->pos, n);
    r->pos += n;
}

int png_read_mem(const void *buf, size_t len, const char *name, int channels, float **chw, int *h, int *w, char *err) {
    if (channels != 1 && channels != 3) return seterr(err, "%s: cannot read into %d channels (1 or 3)", name, channels);
    if (len < 8 || png_sig_cmp((png_const_bytep)buf, 0, 8) != 0)
        return seterr(err, "%s: not a PNG file (bad signature)", name);
    PngErr pe = {{0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &pe, on_error, on_warning);
    if (!png) return seterr(err, "%s: out of memory creating the PNG reader", name);
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return seterr(err, "%s: out of memory creating the PNG reader", name);
    }
    MemReader rd = {buf, len, 0};
    uint8_t *volatile pix = NULL;
    png_bytep *volatile rows = NULL;
    float *volatile img = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(pix);
        free(rows);
        free(img);
        png_destroy_read_struct(&png, &info, NULL);
        return seterr(err, "%s: bad PNG: %s", name, pe.msg[0] ? pe.msg : "unknown libpng error");
    }
    png_set_user_limits(png, PNG_MAXDIM, PNG_MAXDIM);
    png_set_read_fn(png, &rd, mem_read);
    png_read_info(png, info);
    // Everything becomes 16-bit gray/GA/RGB/RGBA: palettes and low bit depths expand, tRNS
    // becomes alpha, and 16-bit inputs keep their precision.
    png_set_expand(png);
    png_set_expand_16(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int W = (int)png_get_image_width(png, info), H = (int)png_get_image_height(png, info);
    int nc = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (png_get_bit_depth(png, info) != 16 || nc < 1 || nc > 4 || rowbytes != (size_t)W * nc * 2)
        png_error(png, "unsupported pixel layout after expansion");
    pix = xmalloc(rowbytes * H);
    rows = xmalloc(sizeof(png_bytep) * H);
    for (int y = 0; y < H; y++) rows[y] = pix + rowbytes * y;
    png_read_image(png, rows);
    png_read_end(png, NULL);

    img = xmalloc(sizeof(float) * channels * H * W);
    int has_alpha = nc == 2 || nc == 4, color = nc >= 3;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const uint8_t *p = pix + rowbytes * y + (size_t)x * nc * 2;
            float v[4];
            for (int k = 0; k < nc; k++) v[k] = (float)((p[2 * k] << 8) | p[2 * k + 1]) / 65535.0f;
            float a = has_alpha ? v[nc - 1] : 1.0f;
            float r = v[0] * a, g = (color ? v[1] : v[0]) * a, b = (color ? v[2] : v[0]) * a;
            size_t o = (size_t)y * W + x, plane = (size_t)H * W;
            if (channels == 1) {
                // ITU-R 601 luma, as PIL's convert("L") does.
                float l = color ? 0.299f * r + 0.587f * g + 0.114f * b : r;
                img[o] = 2.0f * l - 1.0f;
            } else {
                img[o] = 2.0f * r - 1.0f;
                img[plane + o] = 2.0f * g - 1.0f;
                img[2 * plane + o] = 2.0f * b - 1.0f;
            }
        }
    free(pix);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    *chw = img;
    *h = H;
    *w = W;
    return 0;
}

int png_read(const char *path, int channels, float **chw, int *h, int *w, char *err) {
    size_t len;
    char e[ERRLEN];
    char *buf = read_file(path, &len, e);
    if (!buf) return seterr(err, "%s", e);
    int rc = png_read_mem(buf, len, path, channels, chw, h, w, err);
    free(buf);
    return rc;
}

// ---- writing --------------------------------------------------------------------------------

typedef struct {
    uint8_t *p;
    size_t len, cap;
} MemWriter;

static void mem_write(png_structp png, png_bytep data, size_t n) {
    MemWriter *m = png_get_io_ptr(png);
    if (m->len + n > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap < m->len + n) cap *= 2;
        m->p = xrealloc(m->p, cap);
        m->cap = cap;
    }
    memcpy(m->p + m->len, data, n);
    m->len += n;
}

static void mem_flush(png_structp png) { (void)png; }

int png_encode(const uint8_t *pix, int w, int h, int channels, uint8_t **out, size_t *len, char *err) {
    if (channels != 1 && channels != 3) return seterr(err, "PNG encode: %d channels; only 1 (gray) or 3 (RGB)", channels);
    if (w <= 0 || h <= 0 || w > PNG_MAXDIM || h > PNG_MAXDIM)
        return seterr(err, "PNG encode: bad size %dx%d (1..%d per side)", w, h, PNG_MAXDIM);
    PngErr pe = {{0}};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &pe, on_error, on_warning);
    if (!png) return seterr(err, "PNG encode: out of memory");
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return seterr(err, "PNG encode: out of memory");
    }
    // On the heap behind a volatile pointer: mem_write changes it between setjmp and longjmp.
    MemWriter *volatile m = xcalloc(1, sizeof(MemWriter));
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        free(m->p);
        free(m);
        png_destroy_write_struct(&png, &info);
        return seterr(err, "PNG encode: %s", pe.msg[0] ? pe.msg : "unknown libpng error");
    }
    png_set_write_fn(png, m, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    rows = xmalloc(sizeof(png_bytep) * h);
    for (int y = 0; y < h; y++) rows[y] = (png_bytep)(pix + (size_t)y * w * channels);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    free(rows);
    png_destroy_write_struct(&png, &info);
    *out = m->p;
    *len = m->len;
    free(m);
    return 0;
}

int png_write(const char *path, const uint8_t *pix, int w, int h, int channels, char *err) {
    uint8_t *buf;
    size_t len;
    char e[ERRLEN];
    if (png_encode(pix, w, h, channels, &buf, &len, e)) return seterr(err, "%s: %s", path, e);
    int rc = write_file_atomic(path, buf, len, err);
    free(buf);
    return rc;
}

// ---- conversions and grids ------------------------------------------------------------------

static inline uint8_t to_u8(float v) {
    float u = (v + 1.0f) * 127.5f;
    if (!(u > 0.0f)) return 0; // also NaN: a diverged sample shows black, not garbage
    if (u >= 255.0f) return 255;
    return (uint8_t)lrintf(u);
}

void chw_to_u8(const float *chw, int c, int h, int w, uint8_t *out) {
    size_t plane = (size_t)h * w;
    for (size_t i = 0; i < plane; i++)
        for (int k = 0; k < c; k++) out[i * c + k] = to_u8(chw[k * plane + i]);
}

uint8_t *image_grid(const float *imgs, int n, int c, int h, int w, int cols, int border, int *gw, int *gh) {
    if (n < 1) n = 1;
    if (cols <= 0) {
        cols = (int)ceil(sqrt((double)n));
        if (cols < 1) cols = 1;
    }
    if (cols > n) cols = n;
    int rows = (n + cols - 1) / cols;
    int W = cols * w + (cols + 1) * border, H = rows * h + (rows + 1) * border;
    uint8_t *g = xmalloc((size_t)W * H * 3);
    memset(g, 40, (size_t)W * H * 3); // dark gray frame, distinct from black (-1) pixels
    size_t plane = (size_t)h * w;
    for (int i = 0; i < n; i++) {
        const float *im = imgs + (size_t)i * c * plane;
        int x0 = border + (i % cols) * (w + border), y0 = border + (i / cols) * (h + border);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                uint8_t *p = g + ((size_t)(y0 + y) * W + x0 + x) * 3;
                size_t o = (size_t)y * w + x;
                for (int k = 0; k < 3; k++) p[k] = to_u8(im[(c == 3 ? k : 0) * plane + o]);
            }
    }
    *gw = W;
    *gh = H;
    return g;
}
