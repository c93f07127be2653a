// app.c: see app.h. Follows htop/tig: per-screen vtables and key tables, handlers returning
// flags, input polled with a short timeout (ncdu's input_handle) so training never freezes
// the UI, and a capped redraw rate.
#define _XOPEN_SOURCE_EXTENDED 1
#include "ui/app_priv.h"
#include <errno.h>
#include <locale.h>
#include <ncurses.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/run_status.h"
#include "base/util.h"

static void frame(App *a);

// ---- key tables ------------------------------------------------------------------------------
int keytable_lookup(const KeyBinding *t, int key) {
    for (; t && t->key; t++)
        if (t->key == key) return t->action;
    return 0;
}

const char *ui_key_name(int key, char *buf) {
    switch (key) {
    case ' ': return "space";
    case 10: case 13: case KEY_ENTER: return "enter";
    case 27: return "esc";
    case 127: case KEY_BACKSPACE: return "bksp";
    case '\t': return "tab";
    case KEY_BTAB: return "S-tab";
    case KEY_UP: return "up";
    case KEY_DOWN: return "down";
    case KEY_LEFT: return "left";
    case KEY_RIGHT: return "right";
    case KEY_PPAGE: return "pgup";
    case KEY_NPAGE: return "pgdn";
    case KEY_HOME: return "home";
    case KEY_END: return "end";
    case KEY_DC: return "del";
    case KEY_F(1): return "F1";
    }
    if (key > 0 && key < 32) { snprintf(buf, 16, "^%c", key + 64); return buf; }
    if (key < 128) { buf[0] = (char)key; buf[1] = 0; return buf; }
    snprintf(buf, 16, "#%d", key);
    return buf;
}

int keytable_status(const KeyBinding *t, char *out, int width) {
    int n = 0;
    out[0] = 0;
    for (; t && t->key; t++) {
        if (!t->label) continue;
        char kb[16], item[64];
        int l = snprintf(item, sizeof item, "%s%s %s", n ? "  " : "", ui_key_name(t->key, kb), t->label);
        if (n + l > width) break;
        memcpy(out + n, item, (size_t)l + 1);
        n += l;
    }
    return n;
}

// ---- colours ---------------------------------------------------------------------------------
int ui_run_color(int64_t run) {
    static const int pal[] = {C_CYAN, C_YELLOW, C_MAGENTA, C_GREEN, C_BLUE, C_RED, 208, 141};
    return pal[(uint64_t)run % 6]; // 6: the colours that exist in 8-colour terminals
}

int ui_status_color(const char *s) {
    static const int color[RUN_STATUS_COUNT] = {
        [RUN_QUEUED] = C_YELLOW, [RUN_RUNNING] = C_GREEN, [RUN_DONE] = C_CYAN,     [RUN_STOPPED] = C_YELLOW,
        [RUN_FAILED] = C_RED,    [RUN_DIVERGED] = C_RED,  [RUN_INTERRUPTED] = C_RED,
    };
    RunStatus st;
    return run_status_parse(s, &st, NULL) == 0 ? color[st] : CB_DEFAULT;
}

UiBackend *app_model(App *a) { return a->model; }
ImageOverlays *app_overlays(App *a) { return a->ov; }
ImageMode app_image_mode(App *a) { return a->imode; }
int app_colors(App *a) { return a->colors; }
int app_depth(App *a) { return a->depth; }
int app_quitting(App *a) { return a->quit; }
void app_dirty(App *a) { a->dirty = 1; }
void app_focus_run(App *a, int64_t id) { a->focus = id; }

void app_push(App *a, Screen *s) {
    if (!s) return;
    if (a->depth >= MAXSTACK) { s->vt->free(s); return; }
    a->stack[a->depth++] = s;
    a->dirty = a->full_repaint = 1;
}

void app_pop(App *a) {
    if (a->depth <= 1) { a->quit = 1; return; }
    Screen *s = a->stack[--a->depth];
    s->vt->free(s);
    a->dirty = a->full_repaint = 1;
}

void app_message(App *a, int is_error, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->msg, sizeof a->msg, fmt, ap);
    va_end(ap);
    a->msg_error = is_error;
    a->msg_until = now_seconds() + (is_error ? 1e9 : 4);
    a->dirty = 1;
}

void app_prompt(App *a, const char *label, const char *initial, PromptDone done) {
    a->prompt = 1;
    snprintf(a->plabel, sizeof a->plabel, "%s", label);
    snprintf(a->ptext, sizeof a->ptext, "%s", initial ? initial : "");
    a->plen = (int)strlen(a->ptext);
    a->pdone = done;
    a->pchange = NULL;
    a->phint[0] = 0;
    a->powner = a->depth ? a->stack[a->depth - 1] : NULL;
    a->dirty = 1;
}

static void prompt_changed(App *a, const char *text) {
    a->phint[0] = 0;
    if (a->pchange) a->pchange(a->powner, a, text, a->phint, (int)sizeof a->phint);
}

void app_prompt_live(App *a, const char *label, const char *initial, PromptDone done, PromptChange change) {
    app_prompt(a, label, initial, done);
    a->pchange = change;
    snprintf(a->pinit, sizeof a->pinit, "%s", a->ptext);
    prompt_changed(a, a->ptext);
}

void app_confirm(App *a, const char *question, ConfirmYes yes) {
    a->prompt = 2;
    snprintf(a->plabel, sizeof a->plabel, "%.100s [y/N]", question);
    a->pyes = yes;
    a->powner = a->depth ? a->stack[a->depth - 1] : NULL;
    a->dirty = 1;
}

// ---- keys ------------------------------------------------------------------------------------
static void stop_and_quit(Screen *s, App *a) {
    (void)s;
    app_message(a, 0, "stopping runs (writing checkpoints)...");
    if (!a->headless) frame(a); // stop_local blocks until the checkpoints are written: say why first
    a->model->ops->stop_local(a->model);
    a->quit = 1;
}

static void request_quit(App *a) {
    int n = a->model->ops->local_active(a->model);
    if (n > 0) {
        char q[128];
        snprintf(q, sizeof q, "%d run%s training in this dashboard: stop with a checkpoint and quit?", n, n > 1 ? "s are" : " is");
        app_confirm(a, q, stop_and_quit);
    } else a->quit = 1;
}

static int prompt_key(App *a, int key) {
    Screen *owner = a->powner;
    if (a->prompt == 2) {
        a->prompt = 0;
        if ((key == 'y' || key == 'Y') && a->pyes) a->pyes(owner, a);
        return UI_HANDLED | UI_REDRAW;
    }
    if (key == UI_KEY_ESC) {
        a->prompt = 0;
        if (a->pchange) { char init[256]; snprintf(init, sizeof init, "%s", a->pinit); prompt_changed(a, init); a->pchange = NULL; }
        return UI_HANDLED | UI_REDRAW;
    }
    if (key == 10 || key == 13 || key == KEY_ENTER) {
        a->prompt = 0;
        char text[256];
        snprintf(text, sizeof text, "%s", a->ptext);
        a->pchange = NULL;
        if (a->pdone) a->pdone(owner, a, text);
        return UI_HANDLED | UI_REDRAW;
    }
    if (key == KEY_BACKSPACE || key == 127 || key == 8) {
        // drop one UTF-8 character
        while (a->plen > 0 && ((unsigned char)a->ptext[a->plen - 1] & 0xC0) == 0x80) a->plen--;
        if (a->plen > 0) a->plen--;
        a->ptext[a->plen] = 0;
    } else if (key == 21) { // ^U
        a->plen = 0;
        a->ptext[0] = 0;
    } else if (key >= 32 && key < 0x110000 && key != 127 && key < KEY_MIN) {
        char u[5];
        int n = 0;
        if (key < 0x80) u[n++] = (char)key;
        else if (key < 0x800) { u[n++] = (char)(0xC0 | (key >> 6)); u[n++] = (char)(0x80 | (key & 0x3F)); }
        else { u[n++] = (char)(0xE0 | (key >> 12)); u[n++] = (char)(0x80 | ((key >> 6) & 0x3F)); u[n++] = (char)(0x80 | (key & 0x3F)); }
        if (a->plen + n < (int)sizeof a->ptext - 1) { memcpy(a->ptext + a->plen, u, (size_t)n); a->plen += n; a->ptext[a->plen] = 0; }
    } else if (key >= KEY_MIN && key != KEY_RESIZE) return UI_HANDLED; // swallow arrows etc.
    prompt_changed(a, a->ptext);
    return UI_HANDLED | UI_REDRAW;
}

int app_feed_key(App *a, int key) {
    if (key == KEY_RESIZE) { a->dirty = a->full_repaint = 1; return UI_HANDLED | UI_REDRAW; }
    if (a->prompt) { int r = prompt_key(a, key); a->dirty = 1; return r; }
    if (a->help) {
        int step = key == 'j' || key == KEY_DOWN ? 1 : key == 'k' || key == KEY_UP ? -1
                 : key == KEY_NPAGE ? 10 : key == KEY_PPAGE ? -10 : 0;
        if (step) { a->help_top += step; a->dirty = 1; return UI_HANDLED | UI_REDRAW; } // clamped when drawn
        a->help = 0;
        a->dirty = a->full_repaint = 1;
        return UI_HANDLED | UI_REDRAW;
    }
    if (a->msg_error) { a->msg[0] = 0; a->msg_error = 0; a->dirty = 1; }
    Screen *s = a->depth ? a->stack[a->depth - 1] : NULL;
    int r = 0;
    if (s) {
        int act = keytable_lookup(s->vt->keys, key);
        if (act && s->vt->action) r = s->vt->action(s, a, act, key);
        else if (s->vt->key) r = s->vt->key(s, a, key);
    }
    if (!(r & UI_HANDLED)) {
        if (key == '?' || key == KEY_F(1)) { a->help = 1; a->help_top = 0; r = UI_HANDLED | UI_REDRAW; }
        else if (key == 'q' || key == UI_KEY_ESC || key == KEY_LEFT) {
            if (a->depth <= 1) { if (key == 'q') request_quit(a); }
            else app_pop(a);
            r = UI_HANDLED | UI_REDRAW;
        } else if (key == 'Q') { request_quit(a); r = UI_HANDLED | UI_REDRAW; }
        else if (key == 12) { a->full_repaint = 1; r = UI_HANDLED | UI_REDRAW; } // ^L
    }
    if (r & UI_QUIT) request_quit(a);
    if (r & UI_REDRAW) a->dirty = 1;
    return r;
}

// What the model has to say: a training thread's warning once, and a lasting problem with
// the store for as long as it lasts.
static void poll_model(App *a) {
    const UiBackendOps *o = a->model->ops;
    char m[1024];
    if (o->take_notice && o->take_notice(a->model, m, sizeof m)) app_message(a, 1, "%s", m);
    if (o->launch_poll) {
        char what[200], line[sizeof a->starting];
        double el = 0;
        int64_t settled = 0;
        int k = o->launch_poll(a->model, what, sizeof what, &el, &settled);
        if (settled) {
            app_message(a, 0, "run %lld is up on its processes (mpirun; it goes on if you quit)", (long long)settled);
            app_focus_run(a, settled);
        }
        line[0] = 0;
        if (k) snprintf(line, sizeof line, "mpirun is starting %s: %.0f s%s", what, el, k > 1 ? " (and more)" : "");
        if (strcmp(line, a->starting)) { snprintf(a->starting, sizeof a->starting, "%s", line); a->dirty = 1; }
    }
    if (!o->check) return;
    if (!o->check(a->model, m, sizeof m)) m[0] = 0;
    if (strcmp(m, a->stale) != 0) {
        snprintf(a->stale, sizeof a->stale, "%s", m);
        a->dirty = 1;
    }
}

void app_tick(App *a) {
    poll_model(a);
    Screen *s = a->depth ? a->stack[a->depth - 1] : NULL;
    if (s && s->vt->tick && (s->vt->tick(s, a) & UI_REDRAW)) a->dirty = 1;
    if (a->msg[0] && now_seconds() > a->msg_until) { a->msg[0] = 0; a->dirty = 1; }
}

// ---- drawing into cell buffers ---------------------------------------------------------------
static void draw_main(App *a, CellBuf *b) {
    cb_clear(b);
    if (b->w < MIN_W || b->h + 1 < MIN_H) {
        char m[96];
        snprintf(m, sizeof m, "terminal too small (%dx%d): need %dx%d", b->w, b->h + 1, MIN_W, MIN_H);
        int l = (int)strlen(m), y = b->h / 2;
        cb_text(b, (b->w - l) / 2 > 0 ? (b->w - l) / 2 : 0, y, b->w, m, C_YELLOW, CB_BOLD);
        cb_text(b, (b->w - 10) / 2 > 0 ? (b->w - 10) / 2 : 0, y + 1, b->w, a->depth > 1 ? "q: back" : "q: quit", CB_DEFAULT, CB_DIM);
        return;
    }
    Screen *s = a->stack[a->depth - 1];
    s->vt->draw(s, a, b);
    // title bar over row 0: where we are and the store
    char t[256];
    const char *where = a->model->ops->where ? a->model->ops->where(a->model) : "";
    snprintf(t, sizeof t, " repae  %s", s->vt->name);
    for (int i = 1; i < a->depth - 1 && i < 4; i++) (void)0;
    cb_fill(b, 0, 0, b->w, 1, ' ', CB_DEFAULT, a->colors ? C_BLUE : CB_DEFAULT, a->colors ? CB_BOLD : CB_REVERSE);
    int n = cb_text(b, 0, 0, b->w, t, a->colors ? C_WHITE : CB_DEFAULT, CB_BOLD | (a->colors ? 0 : CB_REVERSE));
    int wl = utf8_width(where);
    if (wl + n + 2 < b->w) cb_text(b, b->w - wl - 1, 0, wl, where, a->colors ? C_WHITE : CB_DEFAULT, a->colors ? 0 : CB_REVERSE);
    cb_set_bg(b, 0, 0, b->w, a->colors ? C_BLUE : CB_DEFAULT, a->colors ? 0 : CB_REVERSE);
}

static void draw_status(App *a, CellBuf *b) {
    cb_clear(b);
    if (a->prompt) {
        int n = cb_text(b, 0, 0, b->w, a->plabel, C_YELLOW, CB_BOLD);
        if (a->prompt == 1) {
            n += cb_text(b, n, 0, 2, ": ", CB_DEFAULT, 0);
            int hw = a->phint[0] ? utf8_width(a->phint) + 2 : 0;
            if (hw > b->w / 2) hw = b->w / 2;
            int tw = utf8_width(a->ptext), avail = b->w - n - 1 - hw;
            const char *t = a->ptext;
            while (tw > avail && *t) { utf8_next(&t); tw = utf8_width(t); } // keep the end in view
            n += cb_text(b, n, 0, avail, t, CB_DEFAULT, 0);
            cb_put(b, n, 0, ' ', CB_DEFAULT, CB_REVERSE); // the cursor
            // a hint that starts with '!' is a problem (a name taken), others just inform (matches)
            int bad = a->phint[0] == '!';
            if (hw) cb_text(b, b->w - hw + 1, 0, hw - 1, a->phint + bad, bad ? C_RED : CB_DEFAULT, bad ? CB_BOLD : CB_DIM);
        }
        return;
    }
    if (a->msg[0]) {
        cb_text(b, 0, 0, b->w, a->msg, a->msg_error ? C_RED : C_GREEN, CB_BOLD);
        return;
    }
    if (a->stale[0]) { // in place of the keys until it is over: everything above may be wrong
        cb_text(b, 0, 0, b->w, a->stale, a->colors ? C_YELLOW : CB_DEFAULT, CB_BOLD | (a->colors ? 0 : CB_REVERSE));
        return;
    }
    if (a->starting[0]) { // in place of the keys while mpirun starts a run: the screen stays live
        cb_text_fit(b, 0, 0, b->w, a->starting, a->colors ? C_CYAN : CB_DEFAULT, CB_BOLD);
        return;
    }
    char line[512], all[512];
    if (b->w < MIN_W || a->depth == 0) {
        cb_text(b, 0, 0, b->w, a->depth > 1 ? "q back" : "q quit", CB_DEFAULT, CB_DIM);
        return;
    }
    Screen *s = a->stack[a->depth - 1];
    // q and ? always show at the right; the screen's keys take what is left, and an ellipsis
    // says when some did not fit (the help overlay has them all).
    const char *right = a->depth > 1 ? "q back  ? help" : "q quit  ? help";
    int rw = (int)strlen(right);
    int n = keytable_status(s->vt->keys, line, b->w - rw - 4);
    int cut = keytable_status(s->vt->keys, all, (int)sizeof all - 1) > n;
    // key names bold, labels plain: split on the pairs again
    int x = 0;
    const char *p = line;
    while (*p && x < n) {
        const char *sp = strchr(p, ' ');
        if (!sp) break;
        x += cb_text(b, x, 0, (int)(sp - p), p, a->colors ? C_CYAN : CB_DEFAULT, CB_BOLD);
        const char *end = strstr(sp + 1, "  ");
        int l = end ? (int)(end - sp) : (int)strlen(sp);
        char tmp[128];
        snprintf(tmp, sizeof tmp, "%.*s", l, sp);
        x += cb_text(b, x, 0, l, tmp, CB_DEFAULT, 0);
        if (!end) break;
        x += 2;
        p = end + 2;
    }
    if (cut) cb_put(b, x + 1, 0, 0x2026, CB_DEFAULT, CB_DIM);
    int rx = b->w - rw - 1;
    cb_text(b, rx, 0, 1, right, a->colors ? C_CYAN : CB_DEFAULT, CB_BOLD);
    cb_text(b, rx + 1, 0, 6, right + 1, CB_DEFAULT, 0);
    cb_text(b, rx + 8, 0, 1, right + 8, a->colors ? C_CYAN : CB_DEFAULT, CB_BOLD);
    cb_text(b, rx + 9, 0, 5, right + 9, CB_DEFAULT, 0);
}

void app_render(App *a, CellBuf *full) {
    int w = full->w, h = full->h;
    cb_resize(&a->bmain, w, h - 1);
    cb_resize(&a->bstatus, w, 1);
    if (a->ov) overlays_begin(a->ov);
    draw_main(a, &a->bmain);
    draw_status(a, &a->bstatus);
    app_fold_theme(a, &a->bmain);
    app_fold_theme(a, &a->bstatus);
    cb_clear(full);
    memcpy(full->c, a->bmain.c, sizeof(Cell) * (size_t)w * (h - 1));
    memcpy(full->c + (long)w * (h - 1), a->bstatus.c, sizeof(Cell) * (size_t)w);
    if (a->help && w >= MIN_W && h >= MIN_H) {
        int ox, oy;
        app_draw_help(a, &a->bhelp, w, h, &ox, &oy);
        app_fold_theme(a, &a->bhelp);
        for (int y = 0; y < a->bhelp.h; y++)
            for (int x = 0; x < a->bhelp.w; x++) {
                Cell *c = cb_at(full, ox + x, oy + y);
                if (c) *c = a->bhelp.c[y * a->bhelp.w + x];
            }
    }
}

// ---- headless (tests) ------------------------------------------------------------------------
App *app_headless_new(UiBackend *m) {
    App *a = xcalloc(1, sizeof *a);
    a->model = m;
    a->headless = 1;
    a->colors = 256;
    a->imode = IMG_HALF256;
    a->theme = -1;
    cb_init(&a->bmain, 0, 0);
    cb_init(&a->bstatus, 0, 0);
    cb_init(&a->bhelp, 0, 0);
    return a;
}

void app_headless_free(App *a) {
    while (a->depth) { Screen *s = a->stack[--a->depth]; s->vt->free(s); }
    cb_free(&a->bmain); cb_free(&a->bstatus); cb_free(&a->bhelp);
    overlays_free(a->ov);
    free(a);
}

// ---- ncurses ---------------------------------------------------------------------------------
static void init_colors(App *a) {
    a->colors = 0;
    if (getenv("NO_COLOR") && *getenv("NO_COLOR")) return;
    if (!has_colors()) return;
    start_color();
    use_default_colors();
    a->colors = COLORS >= 256 ? 256 : COLORS >= 8 ? 8 : 0;
    for (int i = 0; i < 256; i++) {
        if (a->colors == 256 || i < 8) a->cmap[i] = (short)i;
        else if (i < 16) a->cmap[i] = (short)(i - 8);
        else { int r, g, b; xterm256_rgb(i, &r, &g, &b); a->cmap[i] = (short)rgb_to_8(r, g, b); }
    }
}

static int pair_for(App *a, int fg, int bg) {
    if (!a->colors) return 0;
    int f = fg < 0 ? -1 : a->cmap[fg & 255], g = bg < 0 ? -1 : a->cmap[bg & 255];
    if (f < 0 && g < 0) return 0;
    int p = alloc_pair(f, g); // ncurses 6.1+: cached, recycled when the table fills
    return p < 0 ? 0 : p;
}

static void blit(App *a, WINDOW *w, const CellBuf *b) {
    for (int y = 0; y < b->h; y++) {
        wmove(w, y, 0);
        for (int x = 0; x < b->w; x++) {
            const Cell *c = &b->c[y * b->w + x];
            if (c->ch == 0) continue; // right half of a wide character
            attr_t at = 0;
            if (c->attr & CB_BOLD) at |= A_BOLD;
            if (c->attr & CB_DIM) at |= A_DIM;
            if (c->attr & CB_REVERSE) at |= A_REVERSE;
            if (c->attr & CB_UNDERLINE) at |= A_UNDERLINE;
            int fg = c->fg, bg = c->bg;
            // Without colour, a coloured background (selection, half-block pixels) becomes reverse.
            if (!a->colors && bg >= 0) at |= A_REVERSE;
            wchar_t wc[2] = {(wchar_t)c->ch, 0};
            cchar_t cc;
            setcchar(&cc, wc, at, 0, NULL);
            int pr = pair_for(a, fg, bg);
            if (pr) setcchar(&cc, wc, at, (short)(pr < 32767 ? pr : 0), &pr);
            // the last cell of the last row scrolls some terminals: ncurses handles it via insert
            if (y == b->h - 1 && x == b->w - 1 && w == a->wstatus) { wins_wch(w, &cc); continue; }
            wadd_wch(w, &cc);
        }
    }
}

static void frame(App *a) {
    int h = LINES, w = COLS;
    if (!a->wmain || getmaxy(a->wmain) != h - 1 || getmaxx(a->wmain) != w) {
        if (a->wmain) delwin(a->wmain);
        if (a->wstatus) delwin(a->wstatus);
        a->wmain = newwin(h - 1 > 0 ? h - 1 : 1, w, 0, 0);
        a->wstatus = newwin(1, w, h - 1 > 0 ? h - 1 : 0, 0);
        // Keys are read through wmain: wget_wch on stdscr would refresh the blank stdscr over
        // everything, and wmain is never left touched after a frame.
        keypad(a->wmain, TRUE);
        wtimeout(a->wmain, 50);
        a->full_repaint = 1;
    }
    if (a->ov) overlays_begin(a->ov);
    cb_resize(&a->bmain, w, h - 1);
    cb_resize(&a->bstatus, w, 1);
    draw_main(a, &a->bmain);
    draw_status(a, &a->bstatus);
    app_fold_theme(a, &a->bmain);
    app_fold_theme(a, &a->bstatus);
    int help = a->help && w >= MIN_W && h >= MIN_H;
    if (help && a->ov) overlays_begin(a->ov); // nothing may draw over the help box
    // An image that is not drawn again where it was (another pane, another view, the help
    // box) is still on the glass: only a cleared screen removes it. While a prompt is open
    // the images are left as they are and not written again.
    if (a->ov && !a->prompt && overlays_stale(a->ov)) a->full_repaint = 1;
    if (a->full_repaint) { clearok(curscr, TRUE); a->full_repaint = 0; }
    blit(a, a->wmain, &a->bmain);
    blit(a, a->wstatus, &a->bstatus);
    wnoutrefresh(a->wmain);
    wnoutrefresh(a->wstatus);
    if (help) {
        int ox, oy;
        app_draw_help(a, &a->bhelp, w, h, &ox, &oy);
        app_fold_theme(a, &a->bhelp);
        if (a->whelp) delwin(a->whelp);
        a->whelp = newwin(a->bhelp.h, a->bhelp.w, oy, ox);
        if (a->whelp) { blit(a, a->whelp, &a->bhelp); wnoutrefresh(a->whelp); }
    }
    doupdate();
    // After ncurses has written its cells: images it does not know about.
    if (a->ov && !a->prompt) overlays_flush(a->ov, stdout);
}

// SIGHUP (the terminal closed), SIGTERM and SIGINT: the runs training in this dashboard are
// threads of it, so the loop stops them with checkpoints before exiting, as `repae train`
// does on the same signals. The flag is process-wide because signals are; one dashboard runs
// per process.
static volatile sig_atomic_t quit_signal;

static void on_quit_signal(int sig) { quit_signal = sig; }

static void install_quit_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_quit_signal;
    sigemptyset(&sa.sa_mask);
    // Installed before initscr, so ncurses leaves them ours.
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    // Drawing on a terminal that is gone must not kill us before the checkpoints.
    signal(SIGPIPE, SIG_IGN);
}

// The runs of this dashboard stop with checkpoints; nothing is drawn if the terminal is gone.
static void quit_on_signal(App *a, int sig, int terminal_alive) {
    if (terminal_alive && a->model->ops->local_active(a->model) > 0) {
        app_message(a, 0, "%s: stopping runs (writing checkpoints)...", sig == SIGHUP ? "hangup" : strsignal(sig));
        frame(a);
    }
    a->model->ops->stop_local(a->model);
    a->quit = 1;
}

// $REPAE_THEME, else the terminal's OSC 11 answer, else $COLORFGBG ("fg;bg", rxvt and others:
// backgrounds 7 and 15 are light), else unknown.
static int pick_theme(const TermCaps *caps) {
    const char *e = getenv("REPAE_THEME");
    if (e && !strcmp(e, "light")) return 1;
    if (e && !strcmp(e, "dark")) return 0;
    if (caps->bg_light >= 0) return caps->bg_light;
    const char *fb = getenv("COLORFGBG"), *semi = fb ? strrchr(fb, ';') : NULL;
    if (semi && semi[1]) { int bg = atoi(semi + 1); return bg == 7 || bg == 15; }
    return -1;
}

int app_run(UiBackend *m, Screen *home_unused) {
    (void)home_unused;
    setlocale(LC_ALL, "");
    quit_signal = 0;
    install_quit_signals();
    App *a = app_headless_new(m);
    a->headless = 0;
    image_probe(STDIN_FILENO, 300, &a->caps);
    if (!initscr()) { fprintf(stderr, "repae: cannot initialise the terminal (TERM=%s)\n", getenv("TERM")); return 1; }
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    curs_set(0);
    set_escdelay(25);
    const char *mouse = getenv("REPAE_MOUSE");
    if (!mouse || strcmp(mouse, "0")) { // clicks and the wheel; shift+drag still selects text in most terminals
        mousemask(BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
        mouseinterval(0);
    }
    init_colors(a);
    a->theme = pick_theme(&a->caps);
    a->imode = image_pick_mode(&a->caps, a->colors, a->colors == 0);
    a->ov = overlays_new(a->imode, &a->caps);
    app_push(a, screen_runs_new(a));
    double last_frame = 0, last_tick = 0;
    frame(a);
    int read_errors = 0;
    while (!a->quit) {
        if (quit_signal) { quit_on_signal(a, quit_signal, quit_signal != SIGHUP); break; }
        double t = now_seconds();
        if (t - last_tick >= TICK_SECONDS) { app_tick(a); last_tick = t; }
        if (a->dirty && t - last_frame >= FRAME_SECONDS) {
            a->dirty = 0;
            frame(a);
            last_frame = now_seconds();
        }
        wint_t ch;
        errno = 0;
        int r = wget_wch(a->wmain, &ch);
        if (r == ERR) {
            // A timeout is ERR with no error; a terminal that went away without a SIGHUP (the
            // pty closed under us) reads as EIO on every call.
            if (errno == EIO && ++read_errors >= 20) { quit_on_signal(a, SIGHUP, 0); break; }
            continue;
        }
        read_errors = 0;
        if (r == KEY_CODE_YES && (int)ch == KEY_RESIZE) { a->full_repaint = 1; }
        if (r == KEY_CODE_YES && (int)ch == KEY_MOUSE) {
            MEVENT ev;
            if (getmouse(&ev) != OK) continue;
            int button = ev.bstate & BUTTON4_PRESSED ? UI_MOUSE_WHEEL_UP
                       : ev.bstate & BUTTON5_PRESSED ? UI_MOUSE_WHEEL_DOWN
                       : ev.bstate & BUTTON1_PRESSED ? UI_MOUSE_CLICK : 0;
            if (button) app_feed_mouse(a, ev.x, ev.y, button);
            continue;
        }
        app_feed_key(a, (int)ch);
        if (a->focus) app_tick(a); // a launched run: list it now, not at the next tick
        // drain keys already typed before drawing again (fast typing, pasted text)
    }
    endwin();
    if (a->wmain) delwin(a->wmain);
    if (a->wstatus) delwin(a->wstatus);
    if (a->whelp) delwin(a->whelp);
    app_headless_free(a);
    return 0;
}
