// fake_app.h: a headless dashboard on the fake backend, for the scripted-key UI tests.
#ifndef REPAE_TESTS_FAKE_APP_H
#define REPAE_TESTS_FAKE_APP_H
#include "ui/app.h"

// A headless App on fake_backend_new(nruns, 2000), on the Runs screen.
App *fake_app(int nruns);
// Frees the App and then its backend.
void free_app(App *a);
// The w x h frame as text, one line per row; the buffer is reused by the next call.
const char *screen_text(App *a, int w, int h);
// Feeds the characters of s as keys.
void type(App *a, const char *s);

#endif
