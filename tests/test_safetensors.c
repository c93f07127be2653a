// test_safetensors.c: the safetensors reader and writer, and their error messages.
#include "test.h"
#include <sys/stat.h>
#include <unistd.h>

TEST(reads_file_written_by_python) {
    SafeTensors st;
    LOAD_REF(st, "tests/ref/safetensors_torch.safetensors");
    const StTensor *t = st_find(&st, "encoder.conv_in.weight");
    CHECK(t && t->ndim == 4 && t->shape[0] == 2 && t->shape[3] == 3, "conv weight shape");
    for (size_t i = 0; i < t->numel; i++) CHECK(t->data[i] == (float)i, "value %zu is %g", i, t->data[i]);
    t = st_find(&st, "pos_embed");
    CHECK(t && t->ndim == 3 && t->numel == 32, "pos_embed shape");
    CHECK(st_find(&st, "missing") == NULL, "found a missing tensor");
    st_free(&st);
}

TEST(roundtrip_with_metadata) {
    float a[6] = {1, 2, 3, 4, 5, 6}, b[1] = {-7};
    int64_t sa[2] = {2, 3}, sb[1] = {1};
    StWriter w;
    st_writer_init(&w);
    st_writer_add(&w, "a", a, 2, sa);
    st_writer_add(&w, "b.c", b, 1, sb);
    st_writer_meta(&w, "format", "pt");
    char err[ERRLEN], path[] = "/tmp/repae_st_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    CHECK(st_writer_save(&w, path, err) == 0, "save: %s", err);
    st_writer_free(&w);
    SafeTensors st;
    CHECK(st_read(&st, path, err) == 0, "read: %s", err);
    unlink(path);
    const StTensor *t = st_find(&st, "a");
    CHECK(t && t->shape[1] == 3 && t->data[5] == 6, "tensor a");
    t = st_find(&st, "b.c");
    CHECK(t && t->data[0] == -7, "tensor b.c");
    CHECK(st_meta(&st, "format") && strcmp(st_meta(&st, "format"), "pt") == 0, "metadata");
    st_free(&st);
}

static int write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fwrite(p, 1, n, f);
    return fclose(f);
}

TEST(bad_files_give_clear_errors) {
    char err[ERRLEN], path[] = "/tmp/repae_st_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    SafeTensors st;
    write_bytes(path, "abc", 3);
    CHECK(st_read(&st, path, err) != 0 && strstr(err, "not a safetensors file"), "short file: %s", err);
    const char huge[16] = {0x10, 0x27, 0, 0, 0, 0, 0, 0, '{', '}'};
    write_bytes(path, huge, sizeof huge);
    CHECK(st_read(&st, path, err) != 0 && strstr(err, "header length"), "huge header: %s", err);
    const char *bad = "\x11\0\0\0\0\0\0\0{\"a\":{\"dtype\":1}}";
    write_bytes(path, bad, 8 + 17);
    CHECK(st_read(&st, path, err) != 0 && strstr(err, "'a'"), "bad entry: %s", err);
    char f16[128];
    const char *h = "{\"x\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}}";
    size_t hl = strlen(h);
    memset(f16, 0, sizeof f16);
    f16[0] = (char)hl;
    memcpy(f16 + 8, h, hl);
    write_bytes(path, f16, 8 + hl + 2);
    CHECK(st_read(&st, path, err) != 0 && strstr(err, "F16"), "f16: %s", err);
    h = "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
    hl = strlen(h);
    f16[0] = (char)hl;
    memcpy(f16 + 8, h, hl);
    write_bytes(path, f16, 8 + hl + 8); // truncated data
    CHECK(st_read(&st, path, err) != 0 && strstr(err, "data_offsets"), "truncated: %s", err);
    unlink(path);
    CHECK(st_read(&st, path, err) != 0 && strstr(err, "cannot open"), "missing: %s", err);
}


// st_check_file: the header-only check of whole files (checkpoint integrity), with st_read's
// entry rules and a message naming the file by its label.
TEST(check_file_reads_headers_only) {
    char err[ERRLEN], path[] = "/tmp/repae_st_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    float a[4] = {1, 2, 3, 4};
    int64_t sa[1] = {4};
    StWriter w;
    st_writer_init(&w);
    st_writer_add(&w, "a", a, 1, sa);
    CHECK(st_writer_save(&w, path, err) == 0, "save: %s", err);
    st_writer_free(&w);
    CHECK(st_check_file(path, "x.safetensors", err) == 0, "a whole file: %s", err);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && truncate(path, sb.st_size - 4) == 0, "truncate");
    CHECK(st_check_file(path, "x.safetensors", err) != 0 && strstr(err, "x.safetensors: cut short"), "short data: %s", err);
    SafeTensors st;
    CHECK(st_read(&st, path, err) != 0 && strstr(err, "cut short"), "st_read agrees: %s", err);
    CHECK(truncate(path, 5) == 0, "truncate");
    CHECK(st_check_file(path, NULL, err) != 0 && strstr(err, path) && strstr(err, "cut short"), "no header: %s", err);
    const char *h = "{\"x\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}}";
    char f16[128] = {0};
    size_t hl = strlen(h);
    f16[0] = (char)hl;
    memcpy(f16 + 8, h, hl);
    write_bytes(path, f16, 8 + hl + 2);
    CHECK(st_check_file(path, NULL, err) != 0 && strstr(err, "F16"), "a dtype st_read refuses: %s", err);
    write_bytes(path, "\x02\0\0\0\0\0\0\0{x", 10);
    CHECK(st_check_file(path, NULL, err) != 0 && strstr(err, "not a JSON object"), "bad JSON: %s", err);
    unlink(path);
    CHECK(st_check_file(path, "gone.safetensors", err) != 0 && strcmp(err, "gone.safetensors: missing") == 0, "missing: %s",
          err);
}

int main(void) {
    RUN(reads_file_written_by_python);
    RUN(roundtrip_with_metadata);
    RUN(bad_files_give_clear_errors);
    RUN(check_file_reads_headers_only);
    return test_summary();
}
