// fake_app.c: see fake_app.h.
#include "fake_app.h"
#include "fake_backend.h"
#include <string.h>

App *fake_app(int nruns) {
    App *a = app_headless_new(fake_backend_new(nruns, 2000));
    app_push(a, screen_runs_new(a));
    return a;
}

void free_app(App *a) {
    UiBackend *m = app_model(a);
    app_headless_free(a);
    m->ops->close(m);
}

const char *screen_text(App *a, int w, int h) {
    static char screen[64 * 1024]; // tests only: one frame at a time
    CellBuf b;
    cb_init(&b, w, h);
    app_render(a, &b);
    char row[4096];
    screen[0] = 0;
    for (int y = 0; y < h; y++) { cb_row_text(&b, y, row); strcat(screen, row); strcat(screen, "\n"); }
    cb_free(&b);
    return screen;
}

void type(App *a, const char *s) { for (; *s; s++) app_feed_key(a, (unsigned char)*s); }
