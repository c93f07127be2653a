// run_console.c: see run_console.h.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ui/run_console.h"
#include "ui/app.h"
#include "base/util.h"

int run_console_poll(RunConsole *c, UiBackend *m, const UiRun *r) {
    int changed = 0;
    char err[ERRLEN];
    if (m->ops->console) {
        UiConsoleLine *l = NULL;
        int k = 0;
        int64_t after = c->n ? c->lines[c->n - 1].id : 0;
        if (m->ops->console(m, r->id, after, &l, &k, err) == 0 && k > 0) {
            if (c->n + k > c->cap) {
                c->cap = (c->n + k) * 2;
                c->lines = xrealloc(c->lines, sizeof *c->lines * (size_t)c->cap);
            }
            memcpy(c->lines + c->n, l, sizeof *l * (size_t)k);
            for (int i = 0; i < k; i++) {
                c->nwarn += !strcmp(l[i].level, "warn");
                c->nerr += !strcmp(l[i].level, "error");
            }
            c->n += k;
            if (c->scroll) c->scroll += k; // scrolled back: stay on the same lines
            changed = 1;
        }
        free(l);
    }
    if (m->ops->proc) {
        UiProc p;
        if (m->ops->proc(m, r, &p, err) == 0) {
            // A reading of another process (a resume, another dashboard) starts the share afresh.
            int same = c->have_cur && c->cur.kind == p.kind && !strcmp(c->cur.what, p.what);
            if (same) { c->prev = c->cur; c->have_prev = 1; }
            else c->have_prev = 0;
            double was = c->cpu_pct;
            c->cur = p;
            c->have_cur = 1;
            c->cpu_pct = -1;
            if (c->have_prev && p.wall > c->prev.wall + 0.05 && p.cpu_s >= c->prev.cpu_s)
                c->cpu_pct = 100.0 * (p.cpu_s - c->prev.cpu_s) / (p.wall - c->prev.wall);
            if (!same || (int)was != (int)c->cpu_pct) changed = 1;
        }
    }
    return changed;
}

void run_console_proc_text(const RunConsole *c, char *out, int n, int compact) {
    out[0] = 0;
    if (!c->have_cur) return;
    const UiProc *p = &c->cur;
    int l = snprintf(out, (size_t)n, "%s", p->what);
    if (p->kind != UI_PROC_PID && p->kind != UI_PROC_SHARED) return;
    char cpu[16] = "cpu -";
    if (c->cpu_pct >= 0) snprintf(cpu, sizeof cpu, compact ? "%.0f%%" : "cpu %.0f%%", c->cpu_pct);
    if (compact && l < n) snprintf(out + l, (size_t)(n - l), " %s %.0fMB", cpu, p->rss_bytes / 1e6);
    else if (l < n) snprintf(out + l, (size_t)(n - l), "  %s  mem %.0f MB  %d threads", cpu, p->rss_bytes / 1e6, p->threads);
}

static int level_color(const char *lv) {
    return !strcmp(lv, "error") ? C_RED : !strcmp(lv, "warn") ? C_YELLOW : CB_DEFAULT;
}

// The length of the next row of text p (len bytes left) at tw columns: up to the last space
// that fits, else tw bytes (a long path), never splitting a UTF-8 sequence.
static int seg_len(const char *p, int len, int tw) {
    if (len <= tw) return len;
    int k = tw;
    while (k > tw / 2 && p[k] != ' ') k--;
    if (p[k] == ' ') return k + 1;
    k = tw;
    while (k > 1 && ((unsigned char)p[k] & 0xC0) == 0x80) k--;
    return k;
}

static int text_w(int w) { return w - 15 < 10 ? 10 : w - 15; }

// Rows a line takes at pane width w (its prefix "HH:MM:SS warn " then the text, wrapped).
static int rows_of(const UiConsoleLine *l, int w) {
    int tw = text_w(w), len = (int)strlen(l->text), rows = 0;
    for (int off = 0; off < len || !rows; rows++) off += len ? seg_len(l->text + off, len - off, tw) : 1;
    return rows;
}

void run_console_draw(RunConsole *c, CellBuf *b, int x, int y, int w, int h) {
    char pt[200];
    run_console_proc_text(c, pt, sizeof pt, 0);
    if (c->scroll > c->n - 1) c->scroll = c->n - 1;
    if (c->scroll < 0) c->scroll = 0;
    if (c->scroll) { size_t l = strlen(pt); snprintf(pt + l, sizeof pt - l, "%s%d newer (j)", l ? "  " : "", c->scroll); }
    // A narrow pane wraps the process line (three rows at most) rather than cutting it.
    if (pt[0]) { int k = cb_wrap(b, x, y, w, h < 3 ? h : 3, pt, CB_DEFAULT, 0); y += k; h -= k; }
    if (h <= 0) return;
    if (!c->n) { cb_wrap(b, x, y + 1, w, h - 1, "no console lines: nothing to report so far", CB_DEFAULT, CB_DIM); return; }
    // From the newest line shown upwards, as many lines as fit.
    int last = c->n - 1 - c->scroll, first = last, used = 0;
    while (first >= 0 && used + rows_of(&c->lines[first], w) <= h) used += rows_of(&c->lines[first--], w);
    first++;
    if (first > last) first = last; // one line taller than the pane: its start
    int tw = text_w(w);
    for (int i = first; i <= last && h > 0; i++) {
        const UiConsoleLine *l = &c->lines[i];
        time_t t = (time_t)l->wall;
        struct tm tm;
        localtime_r(&t, &tm);
        char ts[16];
        strftime(ts, sizeof ts, "%H:%M:%S", &tm);
        cb_text(b, x, y, 9, ts, CB_DEFAULT, CB_DIM);
        int col = level_color(l->level);
        cb_text(b, x + 9, y, 6, l->level, col, CB_BOLD);
        const char *p = l->text;
        int len = (int)strlen(p), off = 0;
        do {
            int k = len ? seg_len(p + off, len - off, tw) : 0;
            char seg[256];
            snprintf(seg, sizeof seg, "%.*s", k < 255 ? k : 255, p + off);
            cb_text(b, x + 15, y++, w - 15, seg, col == C_RED ? C_RED : CB_DEFAULT, 0);
            h--;
            off += k;
        } while (off < len && h > 0);
    }
}

void run_console_free(RunConsole *c) {
    free(c->lines);
    memset(c, 0, sizeof *c);
}
