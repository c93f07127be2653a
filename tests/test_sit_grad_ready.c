// test_sit_grad_ready.c: the SiT's grad_ready hook (sit.h), which a data-parallel trainer uses
// to start reducing each piece of the SiT's gradient while the backward goes on
// (train/trainer_dist.h). For every kind of backward the trainer makes: the pieces come once
// each, in the order final layer, blocks from the last to the first, embedders, and cover the
// gradient table exactly; every piece, when reported, already holds its final gradient (a copy
// taken then equals the gradient after the backward); a backward without parameter gradients
// reports nothing; and the hook changes no gradient.
#include "test.h"
#include "testutil.h"
#include "model/sit.h"

#define B 2
#define MAXP 64

typedef struct {
    Sit *s;
    int n;
    size_t off[MAXP], len[MAXP];
    float *copy[MAXP]; // the piece as it was when reported
} Pieces;

static void record(void *ctx, float *g, size_t n) {
    Pieces *p = ctx;
    if (p->n == MAXP) return;
    p->off[p->n] = (size_t)(g - p->s->params.grad);
    p->len[p->n] = n;
    p->copy[p->n] = xmalloc(n * sizeof(float));
    memcpy(p->copy[p->n], g, n * sizeof(float));
    p->n++;
}

static void pieces_free(Pieces *p) {
    for (int i = 0; i < p->n; i++) free(p->copy[i]);
    p->n = 0;
}

static SitConfig cfg3(void) {
    SitConfig c;
    memset(&c, 0, sizeof c);
    c.hidden = 32; c.depth = 3; c.heads = 2; c.patch = 2; c.mlp_ratio = 4.0f;
    c.num_classes = 3; c.class_dropout = 0.1f;
    return c;
}

// The inputs of one forward, and the upstream gradients.
typedef struct { float x[B * 4 * 8 * 8], t[B], gout[B * 4 * 8 * 8], gtok[B * 16 * 32]; int y[B]; } Inputs;

static void inputs(Inputs *in) {
    uint64_t st = 11;
    test_fill(in->x, sizeof in->x / sizeof(float), &st, 1.0f, 0.0f);
    test_fill(in->gout, sizeof in->gout / sizeof(float), &st, 1.0f, 0.0f);
    test_fill(in->gtok, sizeof in->gtok / sizeof(float), &st, 0.1f, 0.0f);
    in->t[0] = 0.3f; in->t[1] = 0.8f;
    in->y[0] = 1; in->y[1] = 3; // 3: the null class
}

// The pieces as they must come: final layer, blocks depth-1..0, embedders.
static int check_pieces(const Sit *s, const Pieces *p, char *why, size_t len) {
    int depth = s->cfg.depth;
    if (p->n != depth + 2) return snprintf(why, len, "%d pieces, want %d", p->n, depth + 2), -1;
    size_t end = s->params.ntrain;
    for (int i = 0; i < p->n; i++) {
        const float *w = i == 0 ? s->fl_w : i <= depth ? s->blocks[depth - i].qkv_w : s->params.data;
        size_t from = (size_t)(w - s->params.data);
        if (p->off[i] != from || p->off[i] + p->len[i] != end)
            return snprintf(why, len, "piece %d is [%zu, %zu), want [%zu, %zu)", i, p->off[i], p->off[i] + p->len[i],
                            from, end), -1;
        if (memcmp(p->copy[i], s->params.grad + p->off[i], p->len[i] * sizeof(float)) != 0)
            return snprintf(why, len, "piece %d changed after it was reported final", i), -1;
        end = from;
    }
    return 0;
}

// kind 0: dout and dtok (the diffusion pass with REPA's SiT side); 1: dout only (score
// alignment); 2: a dout backward without the hook, then dtok through blocks 1..k with it (the
// diffusion route to the VAE with REPA: the hook is armed for the last backward only).
static void run_kind(int kind) {
    Sit s, ref;
    char err[ERRLEN], why[200];
    SitConfig c = cfg3();
    CHECK(sit_build(&s, &c, 4, 8, 8, B, ALLOC_GRAD, err) == 0 && sit_build(&ref, &c, 4, 8, 8, B, ALLOC_GRAD, err) == 0,
          "build: %s", err);
    Rng r;
    rng_seed(&r, 5);
    sit_init(&s, &r);
    memcpy(ref.params.data, s.params.data, s.params.total * sizeof(float));
    // adaLN and the final layer start at zero (DiT's init): give them values, so that every
    // gradient flows.
    uint64_t st = 3;
    test_fill(s.params.data, s.params.ntrain, &st, 0.05f, 0.0f);
    memcpy(ref.params.data, s.params.data, s.params.ntrain * sizeof(float));
    Inputs *in = xmalloc(sizeof *in);
    inputs(in);
    Pieces p = {.s = &s};
    for (int k = 0; k < 2; k++) {
        Sit *m = k ? &s : &ref; // ref: the same backward without the hook
        params_zero_grad(&m->params);
        sit_forward(m, in->x, in->t, in->y, B);
        if (kind == 2) sit_backward(m, NULL, in->gout, NULL, 0, 1);
        if (k) { s.grad_ready = record; s.grad_ready_ctx = &p; }
        if (kind == 0) sit_backward(m, NULL, in->gout, in->gtok, 1, 1);
        if (kind == 1) sit_backward(m, NULL, in->gout, NULL, 0, 1);
        if (kind == 2) sit_backward(m, NULL, NULL, in->gtok, 1, 1);
    }
    int rc = check_pieces(&s, &p, why, sizeof why);
    int same = memcmp(s.params.grad, ref.params.grad, s.params.ntrain * sizeof(float)) == 0;
    pieces_free(&p);
    // No parameter gradients (REPA-E's VAE-side pass): nothing to report.
    sit_forward(&s, in->x, in->t, in->y, B);
    sit_backward(&s, NULL, NULL, in->gtok, 1, 0);
    int quiet = p.n == 0;
    pieces_free(&p);
    free(in);
    sit_free(&s);
    sit_free(&ref);
    CHECK(rc == 0, "kind %d: %s", kind, why);
    CHECK(same, "kind %d: the gradients differ with the hook", kind);
    CHECK(quiet, "kind %d: a backward without parameter gradients reported pieces", kind);
}

TEST(pieces_with_diffusion_and_repa) { run_kind(0); }
TEST(pieces_with_score_alignment) { run_kind(1); }
TEST(pieces_of_a_second_tokens_only_backward) { run_kind(2); }

int main(void) {
    RUN(pieces_with_diffusion_and_repa);
    RUN(pieces_with_score_alignment);
    RUN(pieces_of_a_second_tokens_only_backward);
    return test_summary();
}
