// utf8.h: UTF-8 decoding and display width, one rule for the CLI tables and the dashboard.
//
// The display rule: a code point is shown as utf8_visible(cp) and takes that character's
// width. Tab, newline and carriage return show as a space; every other control character
// (C0 U+0000..U+001F, DEL, C1 U+0080..U+009F) shows as '?', so a run name or a note can never
// move the cursor or break a table; malformed bytes decode as U+FFFD. Printable characters
// take wcwidth() columns (combining marks 0, wide CJK 2), and 1 when the locale does not
// know them, which needs an LC_CTYPE with UTF-8 (the CLI and the dashboard set one).
#ifndef REPAE_UTF8_H
#define REPAE_UTF8_H
#include <stdint.h>

// Decodes one code point at *s and advances *s past it. A malformed sequence (a stray
// continuation byte, a truncated, overlong or surrogate sequence, or above U+10FFFF) gives
// U+FFFD and advances past the bytes examined, never past the string's end.
uint32_t utf8_next(const char **s);
// The character shown for cp (see the rule above).
uint32_t utf8_visible(uint32_t cp);
// Columns taken by cp when shown (the width of utf8_visible(cp)).
int utf8_cp_width(uint32_t cp);
// Display width of UTF-8 text in columns.
int utf8_width(const char *s);
// Encodes cp (at most U+10FFFF) into out; returns the number of bytes (1..4).
int utf8_encode(uint32_t cp, char out[4]);

#endif
