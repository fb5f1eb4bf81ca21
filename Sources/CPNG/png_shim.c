#include "CPNG.h"

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    jmp_buf jump;
    char *error;
    size_t error_capacity;
} failure_context;

static void record_error(png_structp png, png_const_charp message) {
    failure_context *context = (failure_context *)png_get_error_ptr(png);
    snprintf(context->error, context->error_capacity, "%s", message);
    longjmp(context->jump, 1);
}

static void ignore_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
} memory_reader;

static void read_from_memory(png_structp png, png_bytep out, png_size_t count) {
    memory_reader *reader = (memory_reader *)png_get_io_ptr(png);
    if (count > reader->size - reader->offset) png_error(png, "the PNG data ends early (truncated file)");
    memcpy(out, reader->data + reader->offset, count);
    reader->offset += count;
}

int kseg_png_decode(const uint8_t *data, size_t size, uint64_t max_pixels,
                    kseg_png_image *image, char *error, size_t error_capacity) {
    memset(image, 0, sizeof(*image));
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
        snprintf(error, error_capacity, "not a PNG file (wrong signature)");
        return -1;
    }
    failure_context context = {.error = error, .error_capacity = error_capacity};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &context, record_error, ignore_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        snprintf(error, error_capacity, "out of memory creating the PNG decoder");
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    memory_reader reader = {data, size, 0};
    // Volatile: these are written after setjmp and read after a longjmp back to it.
    uint16_t *volatile samples = NULL;
    png_bytep *volatile rows = NULL;
    png_bytep volatile pixels = NULL;
    if (setjmp(context.jump)) {
        free(samples);
        free(rows);
        free(pixels);
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    png_set_read_fn(png, &reader, read_from_memory);
    png_read_info(png, info);

    png_uint_32 width = png_get_image_width(png, info);
    png_uint_32 height = png_get_image_height(png, info);
    if ((uint64_t)width * height > max_pixels) {
        snprintf(error, error_capacity, "the PNG is %ux%u, over the limit of %llu pixels",
                 width, height, (unsigned long long)max_pixels);
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    png_set_expand(png);                 // palette -> RGB, grey < 8 bits -> 8 bits, tRNS -> alpha
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    int bit_depth = png_get_bit_depth(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    if (channels < 1 || channels > 4 || (bit_depth != 8 && bit_depth != 16)) {
        snprintf(error, error_capacity, "unsupported PNG layout: %d channels at %d bits", channels, bit_depth);
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    pixels = malloc(row_bytes * height);
    rows = malloc(sizeof(png_bytep) * height);
    samples = malloc(sizeof(uint16_t) * (size_t)width * height * channels);
    if (!pixels || !rows || !samples) png_error(png, "out of memory decoding the PNG");
    for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + y * row_bytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);

    size_t count = (size_t)width * height * channels;
    for (size_t i = 0; i < count; i++) {
        // PNG stores 16-bit samples big-endian.
        samples[i] = bit_depth == 16 ? (uint16_t)((pixels[2 * i] << 8) | pixels[2 * i + 1]) : pixels[i];
    }
    free(rows);
    free(pixels);
    png_destroy_read_struct(&png, &info, NULL);

    // An alpha channel is dropped when every pixel is opaque. A transparent pixel's grey says
    // nothing about the patient, so such a PNG is refused rather than read as if it were opaque.
    if (channels == 2 || channels == 4) {
        uint16_t opaque = bit_depth == 16 ? 65535 : 255;
        size_t transparent = 0, pixel_count = (size_t)width * height;
        for (size_t p = 0; p < pixel_count; p++) transparent += samples[p * channels + channels - 1] != opaque;
        if (transparent > 0) {
            snprintf(error, error_capacity, "%zu of its %zu pixels are transparent; a CT slice has no transparency, "
                     "so export it without an alpha channel", transparent, pixel_count);
            free(samples);
            return -1;
        }
        for (size_t p = 0; p < pixel_count; p++)
            for (int c = 0; c < channels - 1; c++) samples[p * (channels - 1) + c] = samples[p * channels + c];
        channels -= 1;
    }

    image->width = width;
    image->height = height;
    image->bit_depth = bit_depth;
    image->channels = channels;
    image->samples = samples;
    return 0;
}

void kseg_png_free(kseg_png_image *image) {
    free(image->samples);
    image->samples = NULL;
}

typedef struct {
    uint8_t *data;
    size_t size;
    size_t capacity;
} memory_writer;

static void write_to_memory(png_structp png, png_bytep bytes, png_size_t count) {
    memory_writer *writer = (memory_writer *)png_get_io_ptr(png);
    if (writer->size + count > writer->capacity) {
        size_t capacity = writer->capacity ? writer->capacity : 4096;
        while (capacity < writer->size + count) capacity *= 2;
        uint8_t *grown = realloc(writer->data, capacity);
        if (!grown) png_error(png, "out of memory encoding the PNG");
        writer->data = grown;
        writer->capacity = capacity;
    }
    memcpy(writer->data + writer->size, bytes, count);
    writer->size += count;
}

static void flush_nothing(png_structp png) { (void)png; }

int kseg_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                    uint8_t **output, size_t *output_size, char *error, size_t error_capacity) {
    *output = NULL;
    *output_size = 0;
    if (channels != 1 && channels != 3) {
        snprintf(error, error_capacity, "can only encode grey or RGB, not %d channels", channels);
        return -1;
    }
    failure_context context = {.error = error, .error_capacity = error_capacity};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &context, record_error, ignore_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        snprintf(error, error_capacity, "out of memory creating the PNG encoder");
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    memory_writer writer = {NULL, 0, 0};
    if (setjmp(context.jump)) {
        free(writer.data);
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_set_write_fn(png, &writer, write_to_memory, flush_nothing);
    png_set_IHDR(png, info, width, height, 8, channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (uint32_t y = 0; y < height; y++) {
        png_write_row(png, (png_const_bytep)(pixels + (size_t)y * width * channels));
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    *output = writer.data;
    *output_size = writer.size;
    return 0;
}
