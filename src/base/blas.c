// blas_setup.c: see blas_setup.h.
#include "base/blas.h"
#include "base/util.h"
#include <cblas.h>

int blas_setup(char *err) {
    int par = openblas_get_parallel();
    if (par != 2)
        return seterr(err, "the loaded OpenBLAS is not the OpenMP build (openblas_get_parallel() = %d, want 2); "
                           "install libopenblas0-openmp and rebuild with `make` (it links with an rpath to "
                           "/usr/lib/x86_64-linux-gnu/openblas-openmp)", par);
    return 0;
}
