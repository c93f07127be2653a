// app_theme.c: run colours that never collide, the terminal's background (light or dark), the
// selection bar and the text colours that follow from it. See app.h.
#include <stdint.h>
#include "ui/app_priv.h"

// Readable on white and on black (medium luma, apart in hue), in the order they are handed
// out; in 8 colours the six that exist, yellow last (it is faint on white).
static const int run_pal256[NRUNCOLORS] = {33, 208, 34, 163, 37, 160, 99, 136};
static const int run_pal8[6] = {C_BLUE, C_RED, C_GREEN, C_MAGENTA, C_CYAN, C_YELLOW};

static int slot_color(const App *a, int i) { return a->colors == 256 ? run_pal256[i] : run_pal8[i % 6]; }

int app_run_color(App *a, int64_t run) {
    for (int i = 0; i < NRUNCOLORS; i++)
        if (a->color_run[i] == run && run) return slot_color(a, i);
    return ui_run_color(run);
}

int app_claim_color(App *a, int64_t run) {
    int nslots = a->colors == 256 ? NRUNCOLORS : 6, free_slot = -1;
    for (int i = 0; i < NRUNCOLORS; i++) {
        if (a->color_run[i] == run) return slot_color(a, i);
        if (!a->color_run[i] && free_slot < 0 && i < nslots) free_slot = i;
    }
    if (free_slot < 0) // more runs than colours (8-colour terminals): share the least recent slot
        for (int i = nslots; i < NRUNCOLORS && free_slot < 0; i++) if (!a->color_run[i]) free_slot = i;
    if (free_slot < 0) return ui_run_color(run);
    a->color_run[free_slot] = run;
    return slot_color(a, free_slot);
}

void app_release_color(App *a, int64_t run) {
    for (int i = 0; i < NRUNCOLORS; i++) if (a->color_run[i] == run) a->color_run[i] = 0;
}

void app_keep_colors(App *a, const int64_t *runs, int n) {
    for (int i = 0; i < NRUNCOLORS; i++) {
        int keep = 0;
        for (int j = 0; j < n && !keep; j++) keep = runs[j] == a->color_run[i];
        if (!keep) a->color_run[i] = 0;
    }
}

int app_theme(App *a) { return a->theme; }
void app_set_theme(App *a, int theme) { a->theme = theme; a->dirty = 1; }

void app_select_row(App *a, CellBuf *b, int x, int y, int w) {
    if (a->colors == 256 && a->theme >= 0) {
        cb_set_bg(b, x, y, w, a->theme ? 254 : 236, 0);
        // The bar and the default foreground are the pair chosen for contrast; a coloured word
        // (a status in cyan) on the light bar was not: the row's text takes the foreground.
        for (int i = x; i < x + w && i < b->w; i++) {
            Cell *c = &b->c[(long)y * b->w + i];
            if (c->fg != CB_DEFAULT && !(c->ch >= 0x2580 && c->ch <= 0x259F)) c->fg = CB_DEFAULT;
        }
    } else {
        cb_set_bg(b, x, y, w, CB_DEFAULT, CB_REVERSE);
        // A coloured full block (a progress bar's filled cells) is its colour already; reversed,
        // the terminal draws it in the default background and the bar vanishes from the row.
        // Coloured text, reversed, becomes the default background on a coloured patch: white on
        // cyan or yellow in a light terminal, hard to read; the row's text takes the bar's colours
        // instead (the other block elements of the bar keep theirs).
        for (int i = x; i < x + w && i < b->w; i++) {
            Cell *c = &b->c[(long)y * b->w + i];
            if (c->ch == 0x2588 && c->fg != CB_DEFAULT) c->attr &= (uint16_t)~CB_REVERSE;
            else if (c->fg != CB_DEFAULT && !(c->ch >= 0x2580 && c->ch <= 0x259F)) c->fg = CB_DEFAULT;
        }
    }
}

// Light backgrounds: yellow and white text on the default background become a dark yellow
// (the default foreground in 8 colours) and the default foreground. Done on the finished frame, so no screen has to know.
void app_fold_theme(const App *a, CellBuf *b) {
    if (a->theme != 1 || !a->colors) return;
    for (long i = 0; i < (long)b->w * b->h; i++) {
        Cell *c = &b->c[i];
        if (c->bg >= 0 && c->bg != 254) continue;
        // 8 colours have no dark yellow: the foreground then (the colour said little on white)
        if (c->fg == C_YELLOW || c->fg == 11) c->fg = a->colors == 256 ? 136 : CB_DEFAULT;
        else if (c->fg == C_WHITE || c->fg == 15) c->fg = CB_DEFAULT;
    }
}

