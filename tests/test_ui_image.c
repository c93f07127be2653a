// test_ui_image.c: terminal image output: palettes, half blocks, sixel and truecolor payloads,
// the DA1 reply parser, PNG decoding.
#include <png.h>
#include "test.h"
#include "ui/cellbuf.h"
#include "ui/image.h"

TEST(palette_nearest) {
    CHECK(rgb_to_256(255, 0, 0) == 196, "red -> %d", rgb_to_256(255, 0, 0));
    CHECK(rgb_to_256(0, 0, 0) == 16, "black -> %d", rgb_to_256(0, 0, 0));
    CHECK(rgb_to_256(128, 128, 128) == 244, "gray 128 -> %d", rgb_to_256(128, 128, 128));
    CHECK(rgb_to_256(95, 135, 175) == 16 + 36 * 1 + 6 * 2 + 3, "cube colour -> %d", rgb_to_256(95, 135, 175));
    CHECK(rgb_to_8(250, 10, 10) == 1, "red -> %d in 8 colours", rgb_to_8(250, 10, 10));
    CHECK(rgb_to_8(10, 10, 240) == 4, "blue -> %d", rgb_to_8(10, 10, 240));
    CHECK(rgb_to_8(240, 240, 240) == 7, "white -> %d", rgb_to_8(240, 240, 240));
    int r, g, b;
    xterm256_rgb(231, &r, &g, &b);
    CHECK(r == 255 && g == 255 && b == 255, "231 is %d,%d,%d", r, g, b);
}

static Image two_by_two(void) {
    // top row red, bottom row blue
    Image im = {2, 2, malloc(12)};
    const uint8_t px[12] = {255, 0, 0, 255, 0, 0, 0, 0, 255, 0, 0, 255};
    memcpy(im.rgb, px, 12);
    return im;
}

TEST(halfblock_top_and_bottom) {
    Image im = two_by_two();
    CellBuf b;
    cb_init(&b, 10, 5);
    int uw, uh;
    image_fit_cells(&im, 4, 4, &uw, &uh);
    CHECK(uw == 4 && uh == 2, "a 2x2 image in 4x4 cells scales x2 to 4x2 cells, got %dx%d", uw, uh);
    image_halfblock(&b, 1, 1, 4, 4, &im, IMG_HALF256);
    Cell *c = cb_at(&b, 1, 1);
    CHECK(c->ch == 0x2580 && c->fg == 196 && c->bg == 196, "row 0: U+%04X fg %d bg %d (scaled x2: red over red)", c->ch, c->fg, c->bg);
    c = cb_at(&b, 4, 2);
    CHECK(c->ch == 0x2580 && c->fg == 21 && c->bg == 21, "row 1: fg %d bg %d, want blue 21", c->fg, c->bg);
    CHECK(cb_at(&b, 5, 1)->ch == ' ' && cb_at(&b, 1, 3)->ch == ' ', "drew outside the fitted box");
    cb_clear(&b);
    image_halfblock(&b, 0, 0, 2, 1, &im, IMG_HALF8);
    c = cb_at(&b, 0, 0);
    CHECK(c->ch == 0x2580 && c->fg == 1 && c->bg == 4, "one cell: fg %d bg %d, want red 1 over blue 4", c->fg, c->bg);
    cb_free(&b);
    image_free(&im);
}

// Without colours: shade characters by luma; black is blank, white is a full block.
TEST(shades_without_colour) {
    Image im = {0};
    im.w = 1;
    im.h = 4;
    im.rgb = xcalloc(12, 1);
    memset(im.rgb + 6, 255, 6); // two black pixels over two white ones: one cell row each
    CellBuf b;
    cb_init(&b, 4, 4);
    image_shades(&b, 0, 0, 1, 2, &im);
    Cell *top = cb_at(&b, 0, 0), *bot = cb_at(&b, 0, 1);
    CHECK(top->ch == ' ' && bot->ch == 0x2588, "black row U+%04X, white row U+%04X", top->ch, bot->ch);
    CHECK(top->fg == CB_DEFAULT && bot->bg == CB_DEFAULT, "shades must not use colours");
    cb_free(&b);
    image_free(&im);
}

TEST(probe_reply_parsing) {
    TermCaps t = {0};
    const char *r1 = "\033[6;20;10t\033[?63;1;2;4;6;9;15;22c";
    CHECK(image_parse_replies(r1, strlen(r1), &t) == 1, "DA1 not recognised");
    CHECK(t.sixel == 1 && t.cell_w == 10 && t.cell_h == 20, "sixel %d cell %dx%d", t.sixel, t.cell_w, t.cell_h);
    TermCaps u = {0};
    const char *r2 = "\033[?1;2c";
    CHECK(image_parse_replies(r2, strlen(r2), &u) == 1 && u.sixel == 0, "plain VT100 reply read as sixel");
    TermCaps v = {0};
    const char *r3 = "\033[?64;1;2;6;";
    CHECK(image_parse_replies(r3, strlen(r3), &v) == 0, "a partial reply counted as complete");
    CHECK(image_pick_mode(&t, 256, 0) == IMG_SIXEL || getenv("REPAE_IMAGES"), "sixel not picked");
    setenv("REPAE_IMAGES", "8", 1);
    CHECK(image_pick_mode(&t, 256, 0) == IMG_HALF8, "REPAE_IMAGES ignored");
    unsetenv("REPAE_IMAGES");
    unsetenv("COLORTERM");
    CHECK(image_pick_mode(&u, 256, 0) == IMG_HALF256, "256 colours");
    CHECK(image_pick_mode(&u, 8, 0) == IMG_HALF8, "8 colours");
    CHECK(image_pick_mode(&u, 256, 1) == IMG_NONE, "NO_COLOR");
    setenv("COLORTERM", "truecolor", 1);
    CHECK(image_pick_mode(&u, 256, 0) == IMG_TRUECOLOR, "COLORTERM=truecolor");
}

TEST(sixel_and_truecolor_payloads) {
    Image im = two_by_two();
    size_t n = 0;
    char err[ERRLEN];
    char *s = image_encode_sixel(&im, 3, 2, 10, 20, &n, err);
    CHECK(s, "sixel: %s", err);
    // DCS introducer (ESC P or 8-bit 0x90), sixel data, string terminator
    CHECK(n > 10 && (s[0] == 0x1b || (unsigned char)s[0] == 0x90), "no DCS at the start");
    CHECK(strchr(s, 'q') && strstr(s, "#") && (strstr(s, "\033\\") || memchr(s, 0x9c, n)), "not sixel: %.40s", s);
    free(s);
    char *t = image_encode_truecolor(&im, 5, 7, 2, 1, &n);
    CHECK(strstr(t, "\033[5;7H") && strstr(t, "38;2;255;0;0") && strstr(t, "48;2;0;0;255") && strstr(t, "\xe2\x96\x80"),
          "truecolor payload: %s", t);
    free(t);
    image_free(&im);
}

TEST(png_decodes) {
    uint8_t px[3 * 4 * 3];
    for (int i = 0; i < 36; i++) px[i] = (uint8_t)(i * 7);
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = 4; pi.height = 3; pi.format = PNG_FORMAT_RGB;
    png_alloc_size_t len = 0;
    CHECK(png_image_write_to_memory(&pi, NULL, &len, 0, px, 0, NULL), "size query");
    void *mem = malloc(len);
    CHECK(png_image_write_to_memory(&pi, mem, &len, 0, px, 0, NULL), "encode");
    Image im = {0};
    char err[ERRLEN];
    CHECK(image_decode_png(mem, len, &im, err) == 0, "%s", err);
    CHECK(im.w == 4 && im.h == 3 && !memcmp(im.rgb, px, 36), "round trip differs");
    image_free(&im);
    CHECK(image_decode_png("nope", 4, &im, err) != 0 && strstr(err, "PNG"), "garbage accepted");
    free(mem);
}

TEST(overlays_cache_payloads) {
    Image im = two_by_two();
    ImageOverlays *o = overlays_new(IMG_TRUECOLOR, NULL);
    overlays_begin(o);
    overlays_add(o, 3, 4, 2, 1, &im, 42);
    CHECK(overlays_count(o) == 1, "not queued");
    char *mem = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&mem, &n);
    overlays_flush(o, f);
    fclose(f);
    CHECK(mem && strstr(mem, "\033[5;4H") && strstr(mem, "\0337") && strstr(mem, "\0338"), "flush wrote: %s", mem ? mem : "");
    free(mem);
    overlays_free(o);
    image_free(&im);
}

// The background colour reply (OSC 11), ended by ST or BEL, in 4 or 2 hex digits a component.
TEST(probe_background_reply) {
    TermCaps t = {.bg_light = -1};
    const char *light = "\033]11;rgb:ffff/ffff/ffff\033\\\033[?63;4c";
    CHECK(image_parse_replies(light, strlen(light), &t) == 1 && t.bg_light == 1 && t.sixel, "white read as %d", t.bg_light);
    TermCaps d = {.bg_light = -1};
    const char *dark = "\033]11;rgb:00/00/00\007\033[?1;2c";
    CHECK(image_parse_replies(dark, strlen(dark), &d) == 1 && d.bg_light == 0, "black read as %d", d.bg_light);
    TermCaps n = {.bg_light = -1};
    const char *none = "\033[?1;2c";
    CHECK(image_parse_replies(none, strlen(none), &n) == 1 && n.bg_light == -1, "no reply read as %d", n.bg_light);
    TermCaps g = {.bg_light = -1};
    const char *solarized = "\033]11;rgb:fdfd/f6f6/e3e3\033\\";
    image_parse_replies(solarized, strlen(solarized), &g);
    CHECK(g.bg_light == 1, "solarized light read as %d", g.bg_light);
}

// An image the terminal shows but the next frame does not draw again at the same place is
// stale (ncurses cannot erase it): the app then clears the screen.
TEST(overlays_stale_when_image_goes) {
    Image im = two_by_two();
    ImageOverlays *o = overlays_new(IMG_TRUECOLOR, NULL);
    FILE *f = fopen("/dev/null", "w");
    overlays_begin(o);
    CHECK(!overlays_stale(o), "nothing shown yet, nothing stale");
    overlays_add(o, 3, 4, 2, 1, &im, 42);
    CHECK(!overlays_stale(o), "a new image is not stale");
    overlays_flush(o, f);
    overlays_begin(o);
    overlays_add(o, 3, 4, 2, 1, &im, 43); // the next sample, same place
    CHECK(!overlays_stale(o), "the same place again is not stale");
    overlays_flush(o, f);
    overlays_begin(o); // the config pane: no image
    CHECK(overlays_stale(o), "an image that went away is stale");
    overlays_begin(o);
    overlays_add(o, 5, 4, 2, 1, &im, 43); // moved
    CHECK(overlays_stale(o), "a moved image leaves the old one stale");
    overlays_flush(o, f);
    overlays_begin(o);
    overlays_add(o, 5, 4, 2, 1, &im, 43);
    CHECK(!overlays_stale(o), "after a flush the new place is what is shown");
    fclose(f);
    overlays_free(o);
    image_free(&im);
}

// 8 colours: a mid grey is dithered into black and white (about half each), not one flat colour.
TEST(eight_colours_dither_grey) {
    Image im = {8, 8, xmalloc(8 * 8 * 3)};
    memset(im.rgb, 128, 8 * 8 * 3);
    CellBuf b;
    cb_init(&b, 8, 4);
    image_halfblock(&b, 0, 0, 8, 4, &im, IMG_HALF8);
    int white = 0, black = 0, other = 0;
    for (int i = 0; i < 32; i++) {
        int f = b.c[i].fg, g = b.c[i].bg;
        white += (f == 7) + (g == 7);
        black += (f == 0) + (g == 0);
        other += (f != 0 && f != 7) + (g != 0 && g != 7);
    }
    CHECK(other == 0 && white >= 24 && white <= 40 && black >= 24 && black <= 40,
          "grey 128 in 8 colours: %d white, %d black, %d other pixels of 64", white, black, other);
    cb_free(&b);
    image_free(&im);
}

int main(void) {
    RUN(palette_nearest);
    RUN(halfblock_top_and_bottom);
    RUN(shades_without_colour);
    RUN(probe_reply_parsing);
    RUN(sixel_and_truecolor_payloads);
    RUN(png_decodes);
    RUN(overlays_cache_payloads);
    RUN(eight_colours_dither_grey);
    RUN(probe_background_reply);
    RUN(overlays_stale_when_image_goes);
    return test_summary();
}
