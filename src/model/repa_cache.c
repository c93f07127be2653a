// repa_cache.c: the dataset's REPA targets on disk, memory-mapped (repa_cache.h).
#include "model/repa_cache.h"
#include "base/util.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "REPAETGT"
#define CACHE_VERSION 1u

typedef struct {
    char magic[8];
    uint32_t version, n, T, F;
    uint64_t enc_hash, key_hash, checksum;
    uint8_t pad[16];
} CacheHeader; // 64 bytes

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}
#define FNV0 0xcbf29ce484222325ULL

static int file_hash(const char *path, uint64_t *h, char *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return seterr(err, "%s: %s", path, strerror(errno));
    unsigned char buf[65536];
    size_t k;
    *h = FNV0;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) *h = fnv(*h, buf, k);
    int bad = ferror(f);
    fclose(f);
    return bad ? seterr(err, "%s: read error", path) : 0;
}

static uint64_t key_hash(uint64_t enc, const DataConfig *dc, int n, const RepaTarget *t) {
    char k[1400];
    snprintf(k, sizeof k, "%016llx|%s|%s|%d|%d|%d|train|%d|%dx%d|stage%d/%d", (unsigned long long)enc, dc->dataset,
             dc->path, dc->image_size, dc->channels, dc->seed, n, t->gh, t->gw, t->stage, t->factor);
    return fnv(FNV0, k, strlen(k));
}

int repa_cache_path(const RepaTarget *t, const DataConfig *dc, const Dataset *ds, char *buf, size_t n, char *err) {
    if (!t->path[0]) return seterr(err, "target cache: the target encoder was not loaded from a file");
    uint64_t h;
    if (file_hash(t->path, &h, err)) return -1;
    char base[1024];
    snprintf(base, sizeof base, "%s", t->path);
    size_t L = strlen(base);
    if (L > 12 && strcmp(base + L - 12, ".safetensors") == 0) base[L - 12] = 0;
    snprintf(buf, n, "%s.targets-%016llx.bin", base, (unsigned long long)key_hash(h, dc, dataset_len(ds), t));
    return 0;
}

void repa_cache_close(RepaCache *c) {
    if (c->map) munmap(c->map, c->map_len);
    memset(c, 0, sizeof *c);
}

// Maps path and checks it against the expected header. 0: usable; 1: absent; -1: present but
// wrong (err says how).
static int try_map(RepaCache *c, const char *path, const CacheHeader *want, char *err) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return errno == ENOENT ? 1 : seterr(err, "%s: %s", path, strerror(errno));
    struct stat sb;
    size_t len = (size_t)want->n * want->T * want->F * sizeof(float) + sizeof(CacheHeader);
    if (fstat(fd, &sb) || (size_t)sb.st_size != len) {
        close(fd);
        return seterr(err, "%s: %lld bytes, want %zu (truncated or of other settings)", path,
                      (long long)sb.st_size, len);
    }
    void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return seterr(err, "%s: mmap: %s", path, strerror(errno));
    const CacheHeader *h = m;
    const float *data = (const float *)((const char *)m + sizeof(CacheHeader));
    const char *why = NULL;
    if (memcmp(h->magic, CACHE_MAGIC, 8) || h->version != CACHE_VERSION) why = "not a target cache of this version";
    else if (h->n != want->n || h->T != want->T || h->F != want->F || h->enc_hash != want->enc_hash ||
             h->key_hash != want->key_hash)
        why = "stale: written for another encoder file, dataset or token grid";
    else if (fnv(FNV0, data, len - sizeof(CacheHeader)) != h->checksum) why = "corrupt: the data checksum differs";
    if (why) {
        munmap(m, len);
        return seterr(err, "%s: %s", path, why);
    }
    c->map = m;
    c->map_len = len;
    c->data = data;
    c->n = (int)want->n;
    c->T = (int)want->T;
    c->F = (int)want->F;
    snprintf(c->path, sizeof c->path, "%s", path);
    return 0;
}

static int build_file(RepaTarget *t, const Dataset *ds, const char *path, CacheHeader *h, RepaCacheLog log, void *ctx,
                      char *err) {
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return seterr(err, "target cache %s: %s (the directory of the encoder must be writable)", tmp,
                          strerror(errno));
    Encoder *e = &t->enc;
    int B = e->max_batch, n = (int)h->n, TF = t->T * t->F;
    size_t per = (size_t)e->L.channels * e->L.size * e->L.size;
    float *x = xmalloc((size_t)B * per * sizeof(float)), *out = xmalloc((size_t)B * TF * sizeof(float));
    h->checksum = FNV0;
    int rc = fwrite(h, sizeof *h, 1, f) == 1 ? 0 : -1;
    double t0 = now_seconds(), last = t0;
    for (int i0 = 0; i0 < n && !rc; i0 += B) {
        int nb = n - i0 < B ? n - i0 : B;
#pragma omp parallel for
        for (int b = 0; b < nb; b++) dataset_get(ds, i0 + b, x + (size_t)b * per, NULL);
        repa_targets(t, x, nb, out);
        h->checksum = fnv(h->checksum, out, (size_t)nb * TF * sizeof(float));
        if (fwrite(out, sizeof(float), (size_t)nb * TF, f) != (size_t)nb * TF) rc = -1;
        if (log && (now_seconds() - last > 10 || i0 + nb == n)) {
            last = now_seconds();
            char line[1400];
            snprintf(line, sizeof line, "repa targets: %d/%d images cached (%.0f s) -> %s", i0 + nb, n, last - t0, path);
            log(ctx, line);
        }
    }
    free(x);
    free(out);
    if (!rc && (fseek(f, 0, SEEK_SET) || fwrite(h, sizeof *h, 1, f) != 1)) rc = -1;
    if (fclose(f)) rc = -1;
    if (!rc && rename(tmp, path)) rc = -1;
    if (rc) {
        unlink(tmp);
        return seterr(err, "target cache %s: write failed: %s (disk full?)", path, strerror(errno));
    }
    return 0;
}

int repa_cache_open(RepaCache *c, RepaTarget *t, const DataConfig *dc, const Dataset *ds, int build, RepaCacheLog log,
                    void *ctx, char *err) {
    memset(c, 0, sizeof *c);
    char path[1100];
    uint64_t eh;
    if (repa_cache_path(t, dc, ds, path, sizeof path, err) || file_hash(t->path, &eh, err)) return -1;
    CacheHeader h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CACHE_MAGIC, 8);
    h.version = CACHE_VERSION;
    h.n = (uint32_t)dataset_len(ds);
    h.T = (uint32_t)t->T;
    h.F = (uint32_t)t->F;
    h.enc_hash = eh;
    h.key_hash = key_hash(eh, dc, dataset_len(ds), t);
    char why[ERRLEN];
    int r = try_map(c, path, &h, why);
    if (r == 0) return 0;
    if (!build)
        return r > 0 ? seterr(err, "target cache %s does not exist", path)
                     : seterr(err, "target cache %s; delete it to rebuild", why);
    if (r < 0 && log) {
        char line[ERRLEN + 64];
        snprintf(line, sizeof line, "repa targets: rebuilding the cache: %s", why);
        log(ctx, line);
    }
    if (build_file(t, ds, path, &h, log, ctx, err)) return -1;
    r = try_map(c, path, &h, why);
    return r == 0 ? 0 : seterr(err, "target cache just written does not read back: %s", why);
}

void repa_cache_lookup(const RepaCache *c, const int *idx, int B, float *out) {
    size_t TF = (size_t)c->T * c->F;
    for (int b = 0; b < B; b++) {
        REPAE_ASSERT(idx[b] >= 0 && idx[b] < c->n, "repa_cache_lookup: index %d outside the %d cached images",
                     idx[b], c->n);
        memcpy(out + b * TF, c->data + (size_t)idx[b] * TF, TF * sizeof(float));
    }
}

void repa_targets_cached(RepaTarget *t, const RepaCache *c, const int *idx, const float *x, int B, float *out) {
    if (c && c->data && idx) repa_cache_lookup(c, idx, B, out);
    else repa_targets(t, x, B, out);
}

int repa_batch_indices(const Loader *l, LoaderState before, int off, int cnt, int *idx) {
    int n = dataset_len(l->ds);
    int64_t start = before.cursor, epoch = before.epoch;
    if (start >= n) {
        start = 0;
        epoch++;
    }
    // The loader drew the whole global batch from one epoch's order iff it is still in that epoch.
    if (l->st.epoch != epoch || l->perm_epoch != epoch || start + off + cnt > n) return -1;
    for (int b = 0; b < cnt; b++) idx[b] = l->perm[start + off + b];
    return 0;
}
