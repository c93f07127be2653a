// safetensors.c: see safetensors.h.
#include "base/safetensors.h"
#include "base/util.h"
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static void st_clear(SafeTensors *st) { memset(st, 0, sizeof *st); }

void st_free(SafeTensors *st) {
    for (int i = 0; i < st->n; i++) { free(st->t[i].name); free(st->t[i].data); }
    for (int i = 0; i < st->nmeta; i++) { free(st->meta_keys[i]); free(st->meta_vals[i]); }
    free(st->t); free(st->meta_keys); free(st->meta_vals);
    st_clear(st);
}

int st_read(SafeTensors *st, const char *path, char *err) {
    st_clear(st);
    size_t len;
    char *buf = read_file(path, &len, err);
    if (!buf) return -1;
    int rc = -1;
    cJSON *root = NULL;
    if (len < 8) { seterr(err, "%s: not a safetensors file (only %zu bytes)", path, len); goto done; }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | (unsigned char)buf[i];
    if (hlen > len - 8 || hlen > (100u << 20)) {
        seterr(err, "%s: not a safetensors file (header length %llu, file %zu bytes)", path,
               (unsigned long long)hlen, len);
        goto done;
    }
    root = cJSON_ParseWithLength(buf + 8, hlen);
    if (!root || !cJSON_IsObject(root)) {
        seterr(err, "%s: safetensors header is not a JSON object", path);
        goto done;
    }
    const char *data = buf + 8 + hlen;
    size_t dlen = len - 8 - hlen;
    int count = cJSON_GetArraySize(root);
    st->t = xcalloc(count, sizeof(StTensor));
    for (cJSON *it = root->child; it; it = it->next) {
        if (strcmp(it->string, "__metadata__") == 0) {
            int nm = cJSON_GetArraySize(it);
            st->meta_keys = xcalloc(nm, sizeof(char *));
            st->meta_vals = xcalloc(nm, sizeof(char *));
            for (cJSON *m = it->child; m; m = m->next) {
                if (!cJSON_IsString(m)) continue;
                st->meta_keys[st->nmeta] = xstrdup(m->string);
                st->meta_vals[st->nmeta++] = xstrdup(m->valuestring);
            }
            continue;
        }
        cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
        cJSON *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
        cJSON *off = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2) {
            seterr(err, "%s: tensor '%s': header entry lacks dtype/shape/data_offsets", path, it->string);
            goto done;
        }
        if (strcmp(dt->valuestring, "F32") != 0) {
            seterr(err, "%s: tensor '%s' has dtype %s; only F32 is supported (convert with torch: .float())",
                   path, it->string, dt->valuestring);
            goto done;
        }
        StTensor *t = &st->t[st->n];
        t->ndim = cJSON_GetArraySize(sh);
        if (t->ndim > ST_MAXDIM) { seterr(err, "%s: tensor '%s' has %d dims (max %d)", path, it->string, t->ndim, ST_MAXDIM); goto done; }
        t->numel = 1;
        int d = 0;
        for (cJSON *s = sh->child; s; s = s->next, d++) {
            if (!cJSON_IsNumber(s) || s->valuedouble < 0) { seterr(err, "%s: tensor '%s': bad shape", path, it->string); goto done; }
            t->shape[d] = (int64_t)s->valuedouble;
            t->numel *= (size_t)t->shape[d];
        }
        double b = cJSON_GetArrayItem(off, 0)->valuedouble, e = cJSON_GetArrayItem(off, 1)->valuedouble;
        if (b < 0 || e < b || e > (double)dlen || (size_t)(e - b) != t->numel * 4) {
            seterr(err, "%s: tensor '%s': data_offsets [%.0f, %.0f] do not fit shape or file (%zu data bytes)",
                   path, it->string, b, e, dlen);
            goto done;
        }
        t->name = xstrdup(it->string);
        if (posix_memalign((void **)&t->data, 64, t->numel * 4 + 4) != 0) { seterr(err, "out of memory"); goto done; }
        memcpy(t->data, data + (size_t)b, t->numel * 4);
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
