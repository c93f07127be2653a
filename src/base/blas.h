// blas_setup.h: checks at start-up that the OpenMP build of OpenBLAS is the one loaded
// (openblas_get_parallel() == 2); the pthread build fights our OpenMP loops for the cores.
#ifndef REPAE_BLAS_SETUP_H
#define REPAE_BLAS_SETUP_H
int blas_setup(char *err);
#endif
