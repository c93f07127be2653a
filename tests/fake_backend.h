// fake_backend.h: a dashboard backend on generated data, for developing and testing the screens.
#ifndef REPAE_TESTS_FAKE_BACKEND_H
#define REPAE_TESTS_FAKE_BACKEND_H
#include "ui/backend.h"

// Generated runs (nruns of total steps each, half finished); launch adds runs that advance
// with wall time.
UiBackend *fake_backend_new(int nruns, long steps);

#endif
