// params.c: see params.h.
#include "model/params.h"
#include "base/safetensors.h"
#include "base/util.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ALIGN_FLOATS 16 // 64 bytes: every tensor starts on a cache line
#define HUGE_PAGE ((size_t)2 << 20)

static size_t align_up(size_t n) { return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS; }

static float *alloc_floats(size_t n) {
    size_t bytes = align_up(n ? n : 1) * sizeof(float);
    float *p = xaligned_alloc(64, bytes);
    memset(p, 0, bytes);
    return p;
}

void params_init(ParamTable *t) { memset(t, 0, sizeof *t); }

void params_add(ParamTable *t, float **slot, int trainable, const char *name, int ndim, ...) {
    // A programming error in a model definition, not a user error.
    REPAE_ASSERT(ndim >= 1 && ndim <= PARAM_MAXDIM && strlen(name) < PARAM_NAMELEN, "params_add: bad tensor '%s' (ndim %d)",
                 name, ndim);
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->p = xrealloc(t->p, t->cap * sizeof(ParamInfo));
    }
    ParamInfo *p = &t->p[t->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->numel = 1;
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = va_arg(ap, int);
        p->numel *= (size_t)p->shape[i];
    }
    va_end(ap);
    p->trainable = trainable;
    p->slot = slot;
}

void params_alloc(ParamTable *t, int mode) {
    size_t off = 0;
    // Trainable tensors first, in table order, then buffers: gradients cover [0, ntrain).
    for (int pass = 1; pass >= 0; pass--)
        for (int i = 0; i < t->n; i++) {
            if (t->p[i].trainable != pass) continue;
            t->p[i].offset = off;
            off += align_up(t->p[i].numel);
            if (pass == 1) t->ntrain = off;
        }
    t->total = off;
    t->ngrad = mode & ALLOC_GRAD ? t->ntrain : 0;
    if (mode & ALLOC_COUNT) return;
    t->data = alloc_floats(t->total);
    t->grad = mode & ALLOC_GRAD ? alloc_floats(t->ntrain) : NULL;
    for (int i = 0; i < t->n; i++)
        if (t->p[i].slot) *t->p[i].slot = t->data + t->p[i].offset;
}

void params_free(ParamTable *t) {
    free(t->p);
    free(t->data);
    free(t->grad);
    memset(t, 0, sizeof *t);
}

const ParamInfo *params_find(const ParamTable *t, const char *name) {
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->p[i].name, name) == 0) return &t->p[i];
    return NULL;
}

void params_zero_grad(ParamTable *t) {
    if (t->grad) memset(t->grad, 0, t->ntrain * sizeof(float));
}

int params_save(const ParamGroup *g, int ng, const char *path, char *err) {
    StWriter w;
    st_writer_init(&w);
    int total = 0;
    for (int k = 0; k < ng; k++) total += g[k].t->n;
    char **names = xcalloc(total ? total : 1, sizeof(char *));
    int m = 0;
    for (int k = 0; k < ng; k++) {
        const ParamTable *t = g[k].t;
        for (int i = 0; i < t->n; i++) {
            const ParamInfo *p = &t->p[i];
            size_t len = strlen(g[k].prefix) + strlen(p->name) + 1;
            names[m] = xmalloc(len);
            snprintf(names[m], len, "%s%s", g[k].prefix, p->name);
            st_writer_add(&w, names[m], t->data + p->offset, p->ndim, p->shape);
            m++;
        }
    }
    st_writer_meta(&w, "format", "pt");
    int rc = st_writer_save(&w, path, err);
    st_writer_free(&w);
    for (int i = 0; i < m; i++) free(names[i]);
    free(names);
    return rc;
}

// Appends to a bounded message; text that does not fit is dropped whole.
static void msg_add(char *buf, size_t cap, const char *fmt, ...) {
    size_t n = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
    if (w < 0 || n + (size_t)w >= cap) buf[n] = 0;
}

// A list of names kept short enough that all three lists fit one error message.
typedef struct {
    char s[170];
    int n, shown;
} NameList;

static void list_add(NameList *l, const char *fmt, ...) {
    char item[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(item, sizeof item, fmt, ap);
    va_end(ap);
    l->n++;
    if (l->shown == l->n - 1 && strlen(l->s) + strlen(item) + 3 < sizeof l->s) {
        msg_add(l->s, sizeof l->s, "%s%s", l->shown ? ", " : "", item);
        l->shown++;
    }
}

static void list_report(char *e, const NameList *l, const char *what) {
    if (!l->n) return;
    msg_add(e, ERRLEN, " %d %s%s [%s%s];", l->n, what, l->n > 1 ? "s" : "", l->s,
            l->shown < l->n ? ", ..." : "");
}

static void shape_str(char *s, size_t cap, int ndim, const int64_t *shape) {
    size_t n = 0;
    n += snprintf(s + n, cap - n, "(");
    for (int i = 0; i < ndim && n < cap; i++)
        n += snprintf(s + n, cap - n, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (n < cap) snprintf(s + n, cap - n, ")");
}

static int starts_with(const char *s, const char *pre) { return strncmp(s, pre, strlen(pre)) == 0; }

// The group and entry that a file tensor name belongs to, or 0.
static int claim(const ParamGroup *g, int ng, const char *name, int *gk, int *pi) {
    for (int k = 0; k < ng; k++) {
        if (!starts_with(name, g[k].prefix)) continue;
        const char *rest = name + strlen(g[k].prefix);
        for (int i = 0; i < g[k].t->n; i++)
            if (strcmp(g[k].t->p[i].name, rest) == 0) { *gk = k; *pi = i; return 1; }
    }
    return 0;
}

int params_load(const ParamGroup *g, int ng, const char *path, int allow_unexpected, char *err) {
    SafeTensors st;
    if (st_read(&st, path, err) != 0) return -1;
    NameList missing = {0}, shapes = {0}, unexpected = {0};
    char full[2 * PARAM_NAMELEN + 64], a[96], b[96];
    for (int k = 0; k < ng; k++) {
        const ParamTable *t = g[k].t;
        for (int i = 0; i < t->n; i++) {
            const ParamInfo *p = &t->p[i];
            snprintf(full, sizeof full, "%s%s", g[k].prefix, p->name);
            const StTensor *x = st_find(&st, full);
            if (!x) { list_add(&missing, "%s", full); continue; }
            int same = x->ndim == p->ndim;
            for (int d = 0; same && d < p->ndim; d++) same = x->shape[d] == p->shape[d];
            if (!same) {
                shape_str(a, sizeof a, x->ndim, x->shape);
                shape_str(b, sizeof b, p->ndim, p->shape);
                list_add(&shapes, "%s is %s, want %s", full, a, b);
            }
        }
    }
    if (!allow_unexpected)
        for (int i = 0; i < st.n; i++) {
            int gk, pi;
            if (!claim(g, ng, st.t[i].name, &gk, &pi)) list_add(&unexpected, "%s", st.t[i].name);
        }
    if (missing.n || shapes.n || unexpected.n) {
        char *e = err ? err : (char[ERRLEN]){0};
        snprintf(e, ERRLEN, "%s: checkpoint does not match the model:", path);
        list_report(e, &missing, "missing tensor");
        list_report(e, &shapes, "wrong shape");
        list_report(e, &unexpected, "unexpected tensor");
        msg_add(e, ERRLEN, " check that the config (sizes, vae.mid_attn, sit.num_classes) matches the one that wrote it");
        st_free(&st);
        return -1;
    }
    for (int k = 0; k < ng; k++) {
        ParamTable *t = g[k].t;
        for (int i = 0; i < t->n; i++) {
            snprintf(full, sizeof full, "%s%s", g[k].prefix, t->p[i].name);
            const StTensor *x = st_find(&st, full);
            memcpy(t->data + t->p[i].offset, x->data, t->p[i].numel * sizeof(float));
        }
    }
    st_free(&st);
    return 0;
}

// ---- activations ---------------------------------------------------------------------------
void buf_init(BufTable *b) { memset(b, 0, sizeof *b); }

void buf_add(BufTable *b, float **slot, size_t n) {
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        b->e = xrealloc(b->e, b->cap * sizeof(BufEntry));
    }
    b->e[b->n].slot = slot;
    b->e[b->n].n = n;
    b->n++;
}

// ALLOC_HUGE is for the VAE's activations: buf_alloc's memset of them (~0.5 GB at fm32-small)
// faulted in every 4 KB page before the first step, ~3.7 CPU-s of start-up, most of it in the
// page-fault path of this VM. Left unzeroed they fault in during the first step instead, as
// transparent huge pages where the kernel allows it (THP "madvise" mode): 512x fewer faults.
void buf_alloc(BufTable *b, int mode) {
    size_t off = 0;
    for (int i = 0; i < b->n; i++) off += align_up(b->e[i].n);
    b->total = off;
    if (mode & ALLOC_COUNT) return;
    if (mode & ALLOC_HUGE) {
        size_t bytes = (off * sizeof(float) + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
        b->mem = xaligned_alloc(HUGE_PAGE, bytes ? bytes : HUGE_PAGE);
        madvise(b->mem, bytes ? bytes : HUGE_PAGE, MADV_HUGEPAGE); // advice only: a no-op failure without THP
    } else {
        b->mem = alloc_floats(off);
    }
    off = 0;
    for (int i = 0; i < b->n; i++) {
        *b->e[i].slot = b->mem + off;
        off += align_up(b->e[i].n);
    }
}

double buf_floats(const BufTable *b) {
    double f = 0;
    for (int i = 0; i < b->n; i++) f += (double)align_up(b->e[i].n);
    return f;
}

void buf_free(BufTable *b) {
    free(b->e);
    free(b->mem);
    memset(b, 0, sizeof *b);
}
