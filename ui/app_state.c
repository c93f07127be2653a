// app_state.c: what the App keeps for the screens between keys: the mouse event being handled
// and the pinned baseline run (read from, and written to, the store's prefs).
#include "ui/app_priv.h"
#include <stdio.h>
#include <stdlib.h>

int app_mouse(App *a, int *x, int *y, int *button) {
    if (!a->mouse_button) return 0;
    *x = a->mouse_x; *y = a->mouse_y; *button = a->mouse_button;
    return 1;
}

int app_feed_mouse(App *a, int x, int y, int button) {
    a->mouse_x = x; a->mouse_y = y; a->mouse_button = button;
    int r = app_feed_key(a, KEY_MOUSE);
    a->mouse_button = 0;
    return r;
}

int64_t app_baseline(App *a) {
    if (!a->baseline_read) {
        char v[32];
        a->baseline_read = 1;
        if (ui_pref_get(a->model, "baseline", v, sizeof v)) a->baseline = atoll(v);
    }
    return a->baseline;
}

void app_set_baseline(App *a, int64_t run) {
    a->baseline = run;
    a->baseline_read = 1;
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)run);
    ui_pref_set(a->model, "baseline", v);
    a->dirty = 1;
}
int64_t app_take_focus(App *a) { int64_t f = a->focus; a->focus = 0; return f; }

