#ifndef KIDNEYSEG_CPNG_H
#define KIDNEYSEG_CPNG_H

#include <stddef.h>
#include <stdint.h>

// libpng reports errors with longjmp, which Swift cannot catch. These two functions keep every
// setjmp inside C and report failure as a return code plus a message.

typedef struct {
    uint32_t width;
    uint32_t height;
    int bit_depth;          // 8 or 16: palette and low-bit images are expanded to 8 bits
    int channels;           // 1 (grey) or 3 (RGB); alpha is dropped
    uint16_t *samples;      // width * height * channels samples, row-major; free with kseg_png_free
} kseg_png_image;

/// Decodes a PNG held in memory. Images with more than `max_pixels` pixels are refused before
/// their pixels are allocated. Returns 0 on success; otherwise writes a message into `error`.
int kseg_png_decode(const uint8_t *data, size_t size, uint64_t max_pixels,
                    kseg_png_image *image, char *error, size_t error_capacity);

void kseg_png_free(kseg_png_image *image);

/// Encodes 8-bit pixels (`channels` 1 = grey, 3 = RGB) as a PNG in memory. On success `*output`
/// holds `*output_size` bytes that the caller frees with free().
int kseg_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                    uint8_t **output, size_t *output_size, char *error, size_t error_capacity);

#endif
