// blas_setup.c: see blas_setup.h.
#include "base/blas.h"
#include "base/cpu.h"
#include "base/util.h"
#include <cblas.h>

int blas_setup(char *err) {
    // Links cpu.c (and so its start-up check) into every program that sets BLAS up.
    const char *missing;
    if (cpu_check(&missing)) return seterr(err, "this CPU lacks %s, which this build of repae needs", missing);
    int par = openblas_get_parallel();
    if (par != 2)
        return seterr(err, "the loaded OpenBLAS is not the OpenMP build (openblas_get_parallel() = %d, want 2); "
                           "install libopenblas0-openmp and rebuild with `make` (it links with an rpath to "
                           "/usr/lib/x86_64-linux-gnu/openblas-openmp)", par);
    return 0;
}
