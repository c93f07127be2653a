// png_io.h: PNG files and buffers <-> images, and sample grids. Images inside repae are float
// CHW in [-1, 1]; PNGs on disk and in the store are 8-bit gray or RGB. Bad input (not a PNG,
// truncated, corrupt) is an error message, never a crash: libpng's longjmp is caught here.
#ifndef REPAE_PNG_IO_H
#define REPAE_PNG_IO_H
#include <stddef.h>
#include <stdint.h>

// Decodes a PNG file into a malloc'd float CHW image in [-1, 1] with `channels` planes
// (1: gray, luminance of colour inputs; 3: RGB, gray inputs replicated). Palette, 16-bit and
// low bit depths are expanded; alpha is composited over black. *h, *w get the size.
// Returns 0, or -1 with err (ERRLEN) naming the file.
int png_read(const char *path, int channels, float **chw, int *h, int *w, char *err);
// The same from a PNG in memory; `name` is used in messages.
int png_read_mem(const void *buf, size_t len, const char *name, int channels, float **chw, int *h, int *w, char *err);

// Encodes 8-bit pixels (row-major, interleaved, channels 1 or 3) as a malloc'd PNG in *out.
int png_encode(const uint8_t *pix, int w, int h, int channels, uint8_t **out, size_t *len, char *err);
// Writes 8-bit pixels as a PNG file atomically (temporary file, then rename).
int png_write(const char *path, const uint8_t *pix, int w, int h, int channels, char *err);

// Float CHW in [-1, 1] (channels 1 or 3) -> interleaved 8-bit, clamped and rounded.
void chw_to_u8(const float *chw, int c, int h, int w, uint8_t *out);

// Lays n images (each float CHW in [-1, 1], c = 1 or 3, h x w, back to back) out in a grid of
// `cols` columns (0: about square) with `border` px of dark gray between and around them.
// Returns malloc'd 8-bit RGB (gray replicated), *gw x *gh pixels.
uint8_t *image_grid(const float *imgs, int n, int c, int h, int w, int cols, int border, int *gw, int *gh);

#endif
