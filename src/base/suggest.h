// suggest.h: "did you mean ...?" for a mistyped name: config keys, commands, options.
#ifndef REPAE_SUGGEST_H
#define REPAE_SUGGEST_H

// Edit distance: insertions, deletions, substitutions and swaps of two neighbours each count
// one. Strings longer than 63 bytes count as the longer length.
int edit_distance(const char *a, const char *b);
// The candidate nearest to word (the first of equals), or NULL if even that one needs more
// than max_dist edits. n candidates; max_dist < 0: no limit.
const char *suggest_nearest(const char *word, const char *const *cands, int n, int max_dist);
// A limit that catches one or two slips in a short name without suggesting something
// unrelated: a third of the word's length, at least 1 and at most 3.
int suggest_max_dist(const char *word);

#endif
