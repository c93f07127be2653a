// test_png.c: PNG read/write round trips, input formats, grids and bad files.
#include <png.h>
#include <unistd.h>
#include "base/png_io.h"
#include "base/rng.h"
#include "test.h"

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

// Writes a PNG of any colour type and bit depth straight through libpng, to feed the reader
// the formats our writer never produces. data: rows of packed samples as libpng wants them.
static int write_raw_png(const char *path, int w, int h, int color_type, int depth, const uint8_t *data,
                         size_t rowbytes, const png_color *palette, int npal, const uint8_t *trns, int ntrns) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, depth, color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (palette) png_set_PLTE(png, info, palette, npal);
    if (trns) png_set_tRNS(png, info, trns, ntrns, NULL);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, (png_bytep)(data + (size_t)y * rowbytes));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return fclose(f);
}

TEST(rgb_and_gray_round_trip) {
    Rng r;
    rng_seed(&r, 1);
    for (int c = 1; c <= 3; c += 2) {
        int w = 13, h = 7;
        uint8_t pix[13 * 7 * 3], back[13 * 7 * 3];
        for (int i = 0; i < w * h * c; i++) pix[i] = (uint8_t)rng_below(&r, 256);
        pix[0] = 0;
        pix[1] = 255;
        char err[ERRLEN];
        const char *path = "/tmp/repae-test-png-rt.png";
        CHECK(png_write(path, pix, w, h, c, err) == 0, "%s", err);
        float *img;
        int ih, iw;
        CHECK(png_read(path, c, &img, &ih, &iw, err) == 0, "%s", err);
        CHECK(ih == h && iw == w, "read back %dx%d, wrote %dx%d", iw, ih, w, h);
        float lo = 1e9f, hi = -1e9f;
        for (int i = 0; i < w * h * c; i++) {
            lo = img[i] < lo ? img[i] : lo;
            hi = img[i] > hi ? img[i] : hi;
        }
        CHECK(lo == -1.0f && hi == 1.0f, "values span [%g, %g], want exactly [-1, 1]", lo, hi);
        // CHW plane order: pixel (0,0) green is the second interleaved byte.
        if (c == 3) CHECK(img[h * w] == 1.0f, "planes are not in CHW order");
        chw_to_u8(img, c, h, w, back);
        free(img);
        CHECK(memcmp(pix, back, (size_t)w * h * c) == 0, "%d-channel round trip changed pixels", c);
        remove(path);
    }
}

TEST(encode_to_memory_and_decode) {
    uint8_t pix[4 * 3 * 3];
    for (int i = 0; i < 36; i++) pix[i] = (uint8_t)(i * 7);
    uint8_t *buf;
    size_t len;
    char err[ERRLEN];
    CHECK(png_encode(pix, 4, 3, 3, &buf, &len, err) == 0, "%s", err);
    CHECK(len > 8 && buf[1] == 'P' && buf[2] == 'N' && buf[3] == 'G', "no PNG signature");
    float *img;
    int h, w;
    int rc = png_read_mem(buf, len, "mem", 3, &img, &h, &w, err);
    free(buf);
    CHECK(rc == 0, "%s", err);
    uint8_t back[36];
    chw_to_u8(img, 3, h, w, back);
    free(img);
    CHECK(h == 3 && w == 4 && memcmp(pix, back, 36) == 0, "memory round trip changed pixels");
    CHECK(png_encode(pix, 4, 3, 2, &buf, &len, err) != 0 && contains(err, "channels"), "2 channels accepted: %s", err);
}

TEST(channel_conversion) {
    uint8_t rgb[2 * 3] = {255, 0, 0, 10, 10, 10};
    char err[ERRLEN];
    const char *path = "/tmp/repae-test-png-conv.png";
    CHECK(png_write(path, rgb, 2, 1, 3, err) == 0, "%s", err);
    float *img;
    int h, w;
    CHECK(png_read(path, 1, &img, &h, &w, err) == 0, "%s", err);
    float want0 = 2.0f * 0.299f - 1.0f, want1 = 2.0f * (10.0f / 255.0f) - 1.0f;
    int ok = fabsf(img[0] - want0) < 1e-5f && fabsf(img[1] - want1) < 1e-5f;
    free(img);
    CHECK(ok, "RGB read as gray is not its luma");
    uint8_t gray[3] = {0, 128, 255};
    CHECK(png_write(path, gray, 3, 1, 1, err) == 0, "%s", err);
    CHECK(png_read(path, 3, &img, &h, &w, err) == 0, "%s", err);
    ok = img[1] == img[3 + 1] && img[1] == img[6 + 1] && img[0] == -1.0f && img[2] == 1.0f;
    free(img);
    remove(path);
    CHECK(ok, "gray read as RGB is not replicated");
}

TEST(palette_alpha_and_16bit_inputs) {
    char err[ERRLEN];
    const char *path = "/tmp/repae-test-png-fmt.png";
    float *img;
    int h, w;
    // 2-bit palette with one transparent entry: transparent pixels composite to black.
    png_color pal[3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
    uint8_t trns[3] = {255, 0, 255};
    uint8_t idx[1] = {(0 << 6) | (1 << 4) | (2 << 2)}; // 3 pixels, 2 bits each
    CHECK(write_raw_png(path, 3, 1, PNG_COLOR_TYPE_PALETTE, 2, idx, 1, pal, 3, trns, 3) == 0, "cannot write palette PNG");
    CHECK(png_read(path, 3, &img, &h, &w, err) == 0, "palette: %s", err);
    int ok = img[0] == 1.0f && img[3] == -1.0f && img[1] == -1.0f && img[4] == -1.0f && img[8] == 1.0f;
    free(img);
    CHECK(ok, "palette/tRNS pixels decoded wrongly");
    // Gray + alpha, 8-bit: value 200 at alpha 51 (0.2).
    uint8_t ga[2] = {200, 51};
    CHECK(write_raw_png(path, 1, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, ga, 2, NULL, 0, NULL, 0) == 0, "cannot write GA PNG");
    CHECK(png_read(path, 1, &img, &h, &w, err) == 0, "gray+alpha: %s", err);
    ok = fabsf(img[0] - (2.0f * (200.0f / 255.0f) * 0.2f - 1.0f)) < 1e-5f;
    free(img);
    CHECK(ok, "gray+alpha not composited over black");
    // 16-bit RGB keeps its precision: 0x8000 is just above the middle.
    uint8_t rgb16[6] = {0x80, 0x00, 0x00, 0x01, 0xff, 0xff};
    CHECK(write_raw_png(path, 1, 1, PNG_COLOR_TYPE_RGB, 16, rgb16, 6, NULL, 0, NULL, 0) == 0, "cannot write 16-bit PNG");
    CHECK(png_read(path, 3, &img, &h, &w, err) == 0, "16-bit: %s", err);
    ok = fabsf(img[0] - (2.0f * 32768.0f / 65535.0f - 1.0f)) < 1e-6f && fabsf(img[1] - (2.0f / 65535.0f - 1.0f)) < 1e-6f &&
         img[2] == 1.0f;
    free(img);
    remove(path);
    CHECK(ok, "16-bit samples lost precision");
}

TEST(bad_pngs_give_clear_errors) {
    char err[ERRLEN];
    float *img = NULL;
    int h, w;
    CHECK(png_read("/tmp/repae-no-such.png", 3, &img, &h, &w, err) != 0 && contains(err, "repae-no-such.png"),
          "missing file: %s", err);
    const char *path = "/tmp/repae-test-png-bad.png";
    FILE *f = fopen(path, "wb");
    CHECK(f, "cannot write %s", path);
    fputs("this is not a png at all", f);
    fclose(f);
    CHECK(png_read(path, 3, &img, &h, &w, err) != 0 && contains(err, path) && contains(err, "not a PNG"), "text: %s", err);
    // A valid PNG cut in half, and one with a flipped byte in its image data.
    uint8_t pix[32 * 32 * 3];
    for (int i = 0; i < (int)sizeof pix; i++) pix[i] = (uint8_t)(i * 31 + (i >> 5));
    uint8_t *buf;
    size_t len;
    CHECK(png_encode(pix, 32, 32, 3, &buf, &len, err) == 0, "%s", err);
    int rc = png_read_mem(buf, len / 2, "half.png", 3, &img, &h, &w, err);
    CHECK(rc != 0 && contains(err, "half.png") && contains(err, "truncated"), "truncated: rc %d, %s", rc, err);
    buf[len / 2] ^= 0x55;
    rc = png_read_mem(buf, len, "flipped.png", 3, &img, &h, &w, err);
    free(buf);
    CHECK(rc != 0 && contains(err, "flipped.png") && contains(err, "bad PNG"), "corrupt: rc %d, %s", rc, err);
    CHECK(png_read_mem("\x89PNG", 4, "tiny.png", 3, &img, &h, &w, err) != 0, "4 bytes accepted");
    remove(path);
}

TEST(write_is_atomic_and_reports_bad_paths) {
    uint8_t pix[3] = {1, 2, 3};
    char err[ERRLEN];
    CHECK(png_write("/tmp/repae-no-such-dir/x.png", pix, 1, 1, 3, err) != 0 && contains(err, "repae-no-such-dir"),
          "bad directory: %s", err);
    const char *path = "/tmp/repae-test-png-atomic.png";
    CHECK(png_write(path, pix, 1, 1, 3, err) == 0, "%s", err);
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    CHECK(access(tmp, F_OK) != 0, "temporary file %s left behind", tmp);
    remove(path);
}

TEST(grid_layout) {
    // Three 2x3 (h x w) gray images with values -1, 0, 1, in 2 columns with a 1 px border.
    int n = 3, h = 2, w = 3, gw, gh;
    float imgs[3 * 2 * 3];
    for (int i = 0; i < n; i++)
        for (int k = 0; k < h * w; k++) imgs[i * h * w + k] = (float)(i - 1);
    uint8_t *g = image_grid(imgs, n, 1, h, w, 0, 1, &gw, &gh);
    CHECK(gw == 2 * 3 + 3 && gh == 2 * 2 + 3, "grid is %dx%d, want 9x7", gw, gh);
#define PX(x, y, k) g[((size_t)(y) * gw + (x)) * 3 + (k)]
    int ok = PX(0, 0, 0) == 40 && PX(1, 1, 0) == 0 && PX(3, 2, 2) == 0 && PX(4, 1, 0) == 40 && PX(5, 1, 1) == 128 &&
             PX(7, 2, 0) == 128 && PX(1, 4, 0) == 255 && PX(3, 5, 1) == 255 && PX(5, 4, 0) == 40 && PX(8, 6, 0) == 40;
    free(g);
    CHECK(ok, "grid pixels are not where they belong");
    // RGB: the red image shows red.
    float rgb[3 * 1 * 1] = {1, -1, -1};
    g = image_grid(rgb, 1, 3, 1, 1, 0, 2, &gw, &gh);
    ok = gw == 5 && gh == 5 && PX(2, 2, 0) == 255 && PX(2, 2, 1) == 0 && PX(2, 2, 2) == 0;
    free(g);
    CHECK(ok, "RGB grid wrong");
#undef PX
}

int main(void) {
    RUN(rgb_and_gray_round_trip);
    RUN(encode_to_memory_and_decode);
    RUN(channel_conversion);
    RUN(palette_alpha_and_16bit_inputs);
    RUN(bad_pngs_give_clear_errors);
    RUN(write_is_atomic_and_reports_bad_paths);
    RUN(grid_layout);
    return test_summary();
}
