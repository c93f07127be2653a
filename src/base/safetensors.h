// safetensors.h: read and write the safetensors format (8-byte little-endian header
// length, JSON header, raw little-endian data). Used for checkpoints, exports and the
// PyTorch reference files of the tests. Only F32 tensors are read or written.
#ifndef REPAE_SAFETENSORS_H
#define REPAE_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>

#define ST_MAXDIM 8

typedef struct {
    char *name;
    int ndim;
    int64_t shape[ST_MAXDIM];
    size_t numel;
    float *data; // owned copy, 64-byte aligned
} StTensor;

typedef struct {
    StTensor *t;
    int n;
    char **meta_keys, **meta_vals; // the "__metadata__" string map
    int nmeta;
} SafeTensors;

// Reads a whole file. Returns 0, or -1 with a message naming the file and what is wrong.
int st_read(SafeTensors *st, const char *path, char *err);
// Whether path is a whole safetensors file that st_read would accept, reading only its header
// (a checkpoint's files are ~100 MB): present, a header that parses with every tensor F32 and
// data_offsets that fit its shape, and data reaching as far as the header says. Returns 0, or
// -1 with err saying "missing", "cut short (...)" or what is wrong, after label (NULL: path).
int st_check_file(const char *path, const char *label, char *err);
const StTensor *st_find(const SafeTensors *st, const char *name);
const char *st_meta(const SafeTensors *st, const char *key);
void st_free(SafeTensors *st);

typedef struct {
    const char *name;
    const float *data; // borrowed until save
    int ndim;
    int64_t shape[ST_MAXDIM];
} StEntry;

typedef struct {
    StEntry *e;
    int n, cap;
    char **meta_keys, **meta_vals;
    int nmeta;
} StWriter;

void st_writer_init(StWriter *w);
// name and data are borrowed: they must live until st_writer_save.
void st_writer_add(StWriter *w, const char *name, const float *data, int ndim, const int64_t *shape);
void st_writer_meta(StWriter *w, const char *key, const char *value); // copied
// Writes atomically (temporary file, then rename).
int st_writer_save(StWriter *w, const char *path, char *err);
void st_writer_free(StWriter *w);

#endif
