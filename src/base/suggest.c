// suggest.c: see suggest.h.
#include "base/suggest.h"
#include <string.h>

int edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return (int)(la > lb ? la : lb);
    int pp[64] = {0}, prev[64], cur[64]; // rows i-2, i-1 and i
    for (size_t j = 0; j <= lb; j++) prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            int d = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            // Two neighbours swapped ("rnus" for "runs") are one slip, not two.
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < d) d = pp[j - 2] + 1;
            cur[j] = d;
        }
        memcpy(pp, prev, (lb + 1) * sizeof(int));
        memcpy(prev, cur, (lb + 1) * sizeof(int));
    }
    return prev[lb];
}

const char *suggest_nearest(const char *word, const char *const *cands, int n, int max_dist) {
    const char *best = NULL;
    int bd = 1 << 30;
    for (int i = 0; i < n; i++) {
        int d = edit_distance(word, cands[i]);
        if (d < bd) { bd = d; best = cands[i]; }
    }
    return max_dist >= 0 && bd > max_dist ? NULL : best;
}

int suggest_max_dist(const char *word) {
    int d = (int)strlen(word) / 3;
    return d < 1 ? 1 : d > 3 ? 3 : d;
}
