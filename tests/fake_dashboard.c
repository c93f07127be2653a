// fake_dashboard.c: the dashboard on generated runs (tests/fake_backend.c), for developing the
// screens and for the tmux tests: `build/tests/fake_dashboard NRUNS`.
#include <stdio.h>
#include <stdlib.h>
#include "app/dashboard.h"
#include "fake_backend.h"

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 6;
    int rc = dashboard_check_terminal();
    if (rc) return rc;
    return dashboard_run(fake_backend_new(n, 20000));
}
