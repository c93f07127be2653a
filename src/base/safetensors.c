// safetensors.c: see safetensors.h.
#include "base/safetensors.h"
#include "base/util.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void st_clear(SafeTensors *st) { memset(st, 0, sizeof *st); }

void st_free(SafeTensors *st) {
    for (int i = 0; i < st->n; i++) { free(st->t[i].name); free(st->t[i].data); }
    for (int i = 0; i < st->nmeta; i++) { free(st->meta_keys[i]); free(st->meta_vals[i]); }
    free(st->t); free(st->meta_keys); free(st->meta_vals);
    st_clear(st);
}

// ---- the header, shared by st_read and st_check_file ------------------------------------------
#define ST_MAX_HEADER (100u << 20)

// The header length from the first 8 bytes of a file of size bytes, checked against the file.
static int header_length(const unsigned char *h8, uint64_t size, uint64_t *hlen, const char *who, char *err) {
    if (size < 8)
        return seterr(err, "%s: cut short or not a safetensors file (only %" PRIu64 " bytes)", who, size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | h8[i];
    if (n > size - 8 || n > ST_MAX_HEADER)
        return seterr(err, "%s: cut short or not a safetensors file (header length %" PRIu64 ", file %" PRIu64 " bytes)",
                      who, n, size);
    *hlen = n;
    return 0;
}

// Every tensor entry of a parsed header: F32, a shape of at most ST_MAXDIM dims, data_offsets
// matching the shape and within the dlen data bytes that follow the header (file_size names
// the file's length in the message). Returns the number of tensors, or -1 with err.
static int check_entries(const cJSON *root, uint64_t dlen, uint64_t file_size, const char *who, char *err) {
    if (!root || !cJSON_IsObject(root)) return seterr(err, "%s: its header is not a JSON object", who);
    double end = 0;
    int n = 0;
    for (const cJSON *it = root->child; it; it = it->next) {
        if (strcmp(it->string, "__metadata__") == 0) continue;
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
        const cJSON *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
        const cJSON *off = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
            return seterr(err, "%s: tensor '%s': header entry lacks dtype/shape/data_offsets", who, it->string);
        if (strcmp(dt->valuestring, "F32") != 0)
            return seterr(err, "%s: tensor '%s' has dtype %s; only F32 is supported (convert with torch: .float())", who,
                          it->string, dt->valuestring);
        int ndim = cJSON_GetArraySize(sh);
        if (ndim > ST_MAXDIM) return seterr(err, "%s: tensor '%s' has %d dims (max %d)", who, it->string, ndim, ST_MAXDIM);
        double numel = 1;
        for (const cJSON *d = sh->child; d; d = d->next) {
            if (!cJSON_IsNumber(d) || d->valuedouble < 0) return seterr(err, "%s: tensor '%s': bad shape", who, it->string);
            numel *= (double)(int64_t)d->valuedouble;
        }
        const cJSON *b = cJSON_GetArrayItem(off, 0), *e = cJSON_GetArrayItem(off, 1);
        if (!cJSON_IsNumber(b) || !cJSON_IsNumber(e) || b->valuedouble < 0 || e->valuedouble < b->valuedouble ||
            e->valuedouble - b->valuedouble != numel * 4)
            return seterr(err, "%s: tensor '%s': data_offsets [%.0f, %.0f] do not fit its shape (%.0f floats)", who,
                          it->string, cJSON_IsNumber(b) ? b->valuedouble : -1, cJSON_IsNumber(e) ? e->valuedouble : -1,
                          numel);
        if (e->valuedouble > end) end = e->valuedouble;
        n++;
    }
    if (end > (double)dlen)
        return seterr(err, "%s: cut short (%" PRIu64 " bytes; the header's data_offsets need %.0f)", who, file_size,
                      (double)(file_size - dlen) + end);
    return n;
}

int st_check_file(const char *path, const char *label, char *err) {
    const char *who = label ? label : path;
    FILE *f = fopen(path, "rb");
    if (!f) return seterr(err, "%s: %s", who, errno == ENOENT ? "missing" : strerror(errno));
    struct stat sb;
    unsigned char h8[8] = {0};
    char *hdr = NULL;
    cJSON *root = NULL;
    int rc = -1;
    uint64_t hlen = 0;
    if (fstat(fileno(f), &sb) != 0) { seterr(err, "%s: %s", who, strerror(errno)); goto done; }
    uint64_t size = (uint64_t)sb.st_size;
    if (size >= 8 && fread(h8, 1, 8, f) != 8) { seterr(err, "%s: read error: %s", who, strerror(errno)); goto done; }
    if (header_length(h8, size, &hlen, who, err)) goto done;
    hdr = xmalloc(hlen + 1);
    if (fread(hdr, 1, hlen, f) != hlen) { seterr(err, "%s: read error: %s", who, strerror(errno)); goto done; }
    root = cJSON_ParseWithLength(hdr, hlen);
    if (check_entries(root, size - 8 - hlen, size, who, err) < 0) goto done;
    rc = 0;
done:
    cJSON_Delete(root);
    free(hdr);
    fclose(f);
    return rc;
}

int st_read(SafeTensors *st, const char *path, char *err) {
    st_clear(st);
    size_t len;
    char *buf = read_file(path, &len, err);
    if (!buf) return -1;
    int rc = -1;
    cJSON *root = NULL;
    uint64_t hlen = 0;
    if (header_length((const unsigned char *)buf, len, &hlen, path, err)) goto done;
    root = cJSON_ParseWithLength(buf + 8, hlen);
    int count = check_entries(root, len - 8 - hlen, len, path, err);
    if (count < 0) goto done;
    // The header is sound: every entry below is F32 and its data lies inside the file.
    const char *data = buf + 8 + hlen;
    st->t = xcalloc(count ? count : 1, sizeof(StTensor));
    for (cJSON *it = root->child; it; it = it->next) {
        if (strcmp(it->string, "__metadata__") == 0) {
            int nm = cJSON_GetArraySize(it);
            st->meta_keys = xcalloc(nm ? nm : 1, sizeof(char *));
            st->meta_vals = xcalloc(nm ? nm : 1, sizeof(char *));
            for (cJSON *m = it->child; m; m = m->next) {
                if (!cJSON_IsString(m)) continue;
                st->meta_keys[st->nmeta] = xstrdup(m->string);
                st->meta_vals[st->nmeta++] = xstrdup(m->valuestring);
            }
            continue;
        }
        cJSON *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
        cJSON *off = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        StTensor *t = &st->t[st->n];
        t->ndim = cJSON_GetArraySize(sh);
        t->numel = 1;
        int d = 0;
        for (cJSON *x = sh->child; x; x = x->next, d++) {
            t->shape[d] = (int64_t)x->valuedouble;
            t->numel *= (size_t)t->shape[d];
        }
        size_t b = (size_t)cJSON_GetArrayItem(off, 0)->valuedouble;
        t->name = xstrdup(it->string);
        if (posix_memalign((void **)&t->data, 64, t->numel * 4 + 4) != 0) { seterr(err, "%s: out of memory", path); goto done; }
        memcpy(t->data, data + b, t->numel * 4);
        st->n++;
    }
    rc = 0;
done:
    cJSON_Delete(root);
    free(buf);
    if (rc != 0) st_free(st);
    return rc;
}

const StTensor *st_find(const SafeTensors *st, const char *name) {
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->t[i].name, name) == 0) return &st->t[i];
    return NULL;
}

const char *st_meta(const SafeTensors *st, const char *key) {
    for (int i = 0; i < st->nmeta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_vals[i];
    return NULL;
}

void st_writer_init(StWriter *w) { memset(w, 0, sizeof *w); }

void st_writer_add(StWriter *w, const char *name, const float *data, int ndim, const int64_t *shape) {
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        w->e = xrealloc(w->e, w->cap * sizeof(StEntry));
    }
    StEntry *e = &w->e[w->n++];
    e->name = name;
    e->data = data;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
}

void st_writer_meta(StWriter *w, const char *key, const char *value) {
    w->meta_keys = xrealloc(w->meta_keys, (w->nmeta + 1) * sizeof(char *));
    w->meta_vals = xrealloc(w->meta_vals, (w->nmeta + 1) * sizeof(char *));
    w->meta_keys[w->nmeta] = xstrdup(key);
    w->meta_vals[w->nmeta++] = xstrdup(value);
}

int st_writer_save(StWriter *w, const char *path, char *err) {
    cJSON *root = cJSON_CreateObject();
    if (w->nmeta) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; i < w->nmeta; i++) cJSON_AddStringToObject(m, w->meta_keys[i], w->meta_vals[i]);
    }
    size_t off = 0;
    for (int i = 0; i < w->n; i++) {
        StEntry *e = &w->e[i];
        size_t numel = 1;
        cJSON *t = cJSON_AddObjectToObject(root, e->name);
        cJSON_AddStringToObject(t, "dtype", "F32");
        cJSON *sh = cJSON_AddArrayToObject(t, "shape");
        for (int d = 0; d < e->ndim; d++) {
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)e->shape[d]));
            numel *= (size_t)e->shape[d];
        }
        cJSON *o = cJSON_AddArrayToObject(t, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)(off + numel * 4)));
        off += numel * 4;
    }
    char *hdr = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    size_t hl = strlen(hdr), padded = (hl + 7) & ~(size_t)7;
    size_t total = 8 + padded + off;
    char *buf = xmalloc(total);
    for (int i = 0; i < 8; i++) buf[i] = (char)((padded >> (8 * i)) & 0xff);
    memcpy(buf + 8, hdr, hl);
    memset(buf + 8 + hl, ' ', padded - hl);
    free(hdr);
    char *p = buf + 8 + padded;
    for (int i = 0; i < w->n; i++) {
        size_t numel = 1;
        for (int d = 0; d < w->e[i].ndim; d++) numel *= (size_t)w->e[i].shape[d];
        memcpy(p, w->e[i].data, numel * 4);
        p += numel * 4;
    }
    int rc = write_file_atomic(path, buf, total, err);
    free(buf);
    return rc;
}

void st_writer_free(StWriter *w) {
    for (int i = 0; i < w->nmeta; i++) { free(w->meta_keys[i]); free(w->meta_vals[i]); }
    free(w->meta_keys); free(w->meta_vals); free(w->e);
    memset(w, 0, sizeof *w);
}
