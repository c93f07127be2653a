// app_help.c: the help overlay (app_priv.h): built from the current screen's key table, so
// the keys, the status line and the help never disagree.
#include "ui/app_priv.h"
#include <stdio.h>
#include <string.h>

// The help overlay: the current screen's keys, one row per action (keys that do the same
// thing share the row: "k/up"), then the keys that work everywhere, which always stay in view
// at the bottom; the screen's part scrolls (j/k, arrows, pgup/pgdn) when the box is too short.
#define HELP_MAXROWS 64
typedef struct { char keys[40]; const char *help; } HelpRow;

static int help_rows(const KeyBinding *t, HelpRow *rows) {
    int n = 0, act[HELP_MAXROWS];
    for (; t && t->key; t++) {
        char kb[16];
        const char *name = ui_key_name(t->key, kb);
        int i = 0;
        while (i < n && act[i] != t->action) i++;
        if (i == n) {
            if (n == HELP_MAXROWS) continue;
            act[n] = t->action;
            rows[n].keys[0] = 0;
            rows[n].help = t->help ? t->help : t->label;
            n++;
        } else if (t->label && t->help) rows[i].help = t->help; // the labelled binding says it best
        // "enter" three times (10, 13, KEY_ENTER) is one key to the user
        char *k = rows[i].keys, pat[24];
        snprintf(pat, sizeof pat, "/%s/", name);
        char have[48];
        snprintf(have, sizeof have, "/%s/", k);
        if (strstr(have, pat)) continue;
        size_t l = strlen(k);
        if (l + strlen(name) + 2 < sizeof rows[i].keys) snprintf(k + l, sizeof rows[i].keys - l, "%s%s", l ? "/" : "", name);
    }
    return n;
}

static const HelpRow help_global[] = {
    {"?/F1", "this help; j/k scroll it, any other key closes it"},
    {"q", "back; on the Runs screen: quit"},
    {"esc/left", "back"},
    {"Q", "quit from any screen (asks if runs train here)"},
    {"^L", "repaint the whole screen (clears leftover images)"},
};
#define NGLOBAL (int)(sizeof help_global / sizeof help_global[0])

static void help_line(App *a, CellBuf *b, int y, int kw, const HelpRow *r) {
    cb_text(b, 2, y, kw, r->keys, a->colors ? C_CYAN : CB_DEFAULT, CB_BOLD);
    cb_text_fit(b, 3 + kw, y, b->w - kw - 5, r->help, CB_DEFAULT, 0); // '…' where cut: wider shows all
}

void app_draw_help(App *a, CellBuf *b, int sw, int sh, int *ox, int *oy) {
    Screen *s = a->stack[a->depth - 1];
    HelpRow rows[HELP_MAXROWS];
    int n = help_rows(s->vt->keys, rows), kw = 8;
    for (int i = 0; i < n; i++) if ((int)strlen(rows[i].keys) > kw) kw = (int)strlen(rows[i].keys);
    if (kw > 14) kw = 14;
    int w = sw - 4 < 100 ? sw - 4 : 100; // 100: the longest entry whole from 104 columns
    int fixed = 2 + 2 + NGLOBAL; // the frame, a blank and "everywhere", the global keys
    int h = fixed + n;
    if (h > sh - 2) h = sh - 2;
    int view = h - fixed; // rows for the screen's keys
    if (view < 1) view = 1;
    int maxtop = n - view > 0 ? n - view : 0;
    if (a->help_top > maxtop) a->help_top = maxtop;
    if (a->help_top < 0) a->help_top = 0;
    cb_resize(b, w, h);
    cb_fill(b, 0, 0, w, h, ' ', CB_DEFAULT, CB_DEFAULT, 0);
    for (int x = 1; x < w - 1; x++) { cb_put(b, x, 0, 0x2500, CB_DEFAULT, 0); cb_put(b, x, h - 1, 0x2500, CB_DEFAULT, 0); }
    for (int y = 1; y < h - 1; y++) { cb_put(b, 0, y, 0x2502, CB_DEFAULT, 0); cb_put(b, w - 1, y, 0x2502, CB_DEFAULT, 0); }
    cb_put(b, 0, 0, 0x250C, CB_DEFAULT, 0); cb_put(b, w - 1, 0, 0x2510, CB_DEFAULT, 0);
    cb_put(b, 0, h - 1, 0x2514, CB_DEFAULT, 0); cb_put(b, w - 1, h - 1, 0x2518, CB_DEFAULT, 0);
    char title[96];
    snprintf(title, sizeof title, " Help: %s ", s->vt->name);
    cb_text(b, 2, 0, w - 4, title, CB_DEFAULT, CB_BOLD);
    int y = 1;
    for (int i = a->help_top; i < n && i < a->help_top + view; i++) help_line(a, b, y++, kw, &rows[i]);
    if (maxtop) { // say that there is more, and where
        char more[64];
        snprintf(more, sizeof more, " %s%s j/k scroll (%d-%d of %d) ", a->help_top ? "\u2191" : "",
                 a->help_top < maxtop ? "\u2193" : "", a->help_top + 1, a->help_top + view, n);
        cb_text(b, w - 2 - utf8_width(more), h - 1, utf8_width(more), more, CB_DEFAULT, CB_BOLD);
    }
    y = 1 + view + 1;
    cb_text(b, 2, y++, w - 4, "everywhere", CB_DEFAULT, CB_BOLD | CB_UNDERLINE);
    for (int i = 0; i < NGLOBAL && y < h - 1; i++) help_line(a, b, y++, kw, &help_global[i]);
    *ox = (sw - w) / 2;
    *oy = (sh - h) / 2;
}

