#include "CCompute.h"

#include <cblas-openblas.h>
#include <stdlib.h>
#include <string.h>

// Winograd F(4x4, 3x3) (Lavin & Gray, 2016): each 4x4 output tile comes from a 6x6 input tile with
// 36 multiplications per channel pair instead of 144. The three transforms below bracket 36
// independent GEMMs, one per position ξ of the 6x6 transformed tile:
//   U[ξ] = (G g Gᵀ)[ξ]   weights, K x C      V[ξ] = (Bᵀ d B)[ξ]   input tiles, C x P
//   M[ξ] = U[ξ] · V[ξ]   K x P               y = Aᵀ m A            4x4 output per tile

static void weight_tile(const float g[9], float u[36]) {
    // G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
    static const float G[6][3] = {
        {1.0f / 4, 0, 0}, {-1.0f / 6, -1.0f / 6, -1.0f / 6}, {-1.0f / 6, 1.0f / 6, -1.0f / 6},
        {1.0f / 24, 1.0f / 12, 1.0f / 6}, {1.0f / 24, -1.0f / 12, 1.0f / 6}, {0, 0, 1},
    };
    float t[6][3];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 3; j++) t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) u[i * 6 + j] = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
}

void kseg_winograd_weights(const float *weights, int out_channels, int in_channels, float *transformed) {
    float u[36];
    for (int k = 0; k < out_channels; k++) {
        for (int c = 0; c < in_channels; c++) {
            weight_tile(weights + ((size_t)k * in_channels + c) * 9, u);
            for (int xi = 0; xi < 36; xi++) transformed[((size_t)xi * out_channels + k) * in_channels + c] = u[xi];
        }
    }
}

// The transforms are built for three instruction sets and the best the CPU has is picked at load
// time: the package compiles for baseline x86-64, which vectorises only four floats wide.
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define KSEG_VECTORISED __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef KSEG_VECTORISED
#define KSEG_VECTORISED
#endif
#define KSEG_INLINE static inline __attribute__((always_inline))

// Bᵀ d B with Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//
// One row of tiles of one channel at a time. Tile tx reads padded columns u = 4·tx + k, k = 0..5.
// Each padded row is stored split by phase, p[m][q] = row[4·q + m], so that column u = 4·tx + k
// is p[k][tx] for k < 4 and p[k − 4][tx + 1] otherwise: the column pass t = Bᵀ d and the row
// pass t B then both run along contiguous memory, across the tiles. Position ξ of tile tx goes
// to destination[ξ · stride + tx]. `rows` and `t` hold 24 · (tiles_x + 1) floats each.
KSEG_INLINE void input_tile_row(const float *plane, int height, int width, int pad, int ty, int tiles_x,
                                float *rows, float *t, float *destination, size_t stride) {
    const int phase = tiles_x + 1;  // q = 0 ... tiles_x covers the padded width 4·tiles_x + 2
    const int row_size = 4 * phase;
    for (int k = 0; k < 6; k++) {
        float *row = rows + k * row_size;
        int y = ty * 4 - pad + k;
        if (y < 0 || y >= height) {
            memset(row, 0, sizeof(float) * row_size);
            continue;
        }
        const float *line = plane + (size_t)y * width;
        for (int m = 0; m < 4; m++) {
            // Input column x = 4·q + m − pad lies inside the image for q in [first, end).
            float *p = row + m * phase;
            int last = width - 1 + pad - m;  // the last q is last / 4, if last >= 0
            int first = (pad - m + 3) / 4, end = last < 0 ? 0 : last / 4 + 1;
            if (first > phase) first = phase;
            if (end > phase) end = phase;
            if (end < first) end = first;
            for (int q = 0; q < first; q++) p[q] = 0;
            for (int q = first; q < end; q++) p[q] = line[4 * q + m - pad];
            for (int q = end; q < phase; q++) p[q] = 0;
        }
    }
    const float *d0 = rows, *d1 = rows + row_size, *d2 = rows + 2 * row_size;
    const float *d3 = rows + 3 * row_size, *d4 = rows + 4 * row_size, *d5 = rows + 5 * row_size;
    for (int u = 0; u < row_size; u++) {
        t[u] = 4 * d0[u] - 5 * d2[u] + d4[u];
        t[row_size + u] = -4 * d1[u] - 4 * d2[u] + d3[u] + d4[u];
        t[2 * row_size + u] = 4 * d1[u] - 4 * d2[u] - d3[u] + d4[u];
        t[3 * row_size + u] = -2 * d1[u] - d2[u] + 2 * d3[u] + d4[u];
        t[4 * row_size + u] = 2 * d1[u] - d2[u] - 2 * d3[u] + d4[u];
        t[5 * row_size + u] = 4 * d1[u] - 5 * d3[u] + d5[u];
    }
    for (int i = 0; i < 6; i++) {
        const float *p0 = t + i * row_size, *p1 = p0 + phase, *p2 = p1 + phase, *p3 = p2 + phase;
        float *r0 = destination + (size_t)(i * 6) * stride, *r1 = r0 + stride, *r2 = r1 + stride;
        float *r3 = r2 + stride, *r4 = r3 + stride, *r5 = r4 + stride;
        for (int tx = 0; tx < tiles_x; tx++) {
            float a0 = p0[tx], a1 = p1[tx], a2 = p2[tx], a3 = p3[tx], a4 = p0[tx + 1], a5 = p1[tx + 1];
            r0[tx] = 4 * a0 - 5 * a2 + a4;
            r1[tx] = -4 * a1 - 4 * a2 + a3 + a4;
            r2[tx] = 4 * a1 - 4 * a2 - a3 + a4;
            r3[tx] = -2 * a1 - a2 + 2 * a3 + a4;
            r4[tx] = 2 * a1 - a2 - 2 * a3 + a4;
            r5[tx] = 4 * a1 - 5 * a3 + a5;
        }
    }
}

// Aᵀ m A with Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
//
// One row of tiles of one output channel: position ξ of tile tx is products[ξ · stride + tx].
// t = Aᵀ m runs along the tiles, then y = t A along the tiles again into four phases, y[j][tx]
// for output column 4·tx + j, which are interleaved into the output rows with the bias and
// ReLU. `t` holds 24 · tiles_x floats and `y` 4 · tiles_x.
KSEG_INLINE void output_tile_row(const float *products, size_t stride, int tiles_x, float shift, int relu,
                                 float *t, float *y, float *plane, int ty, int out_height, int out_width) {
    for (int j = 0; j < 6; j++) {
        const float *m0 = products + (size_t)j * stride;
        const float *m1 = m0 + 6 * stride, *m2 = m0 + 12 * stride, *m3 = m0 + 18 * stride;
        const float *m4 = m0 + 24 * stride, *m5 = m0 + 30 * stride;
        float *t0 = t + j * tiles_x, *t1 = t + (6 + j) * tiles_x, *t2 = t + (12 + j) * tiles_x, *t3 = t + (18 + j) * tiles_x;
        for (int tx = 0; tx < tiles_x; tx++) {
            float a = m1[tx] + m2[tx], b = m1[tx] - m2[tx], c = m3[tx] + m4[tx], d = m3[tx] - m4[tx];
            t0[tx] = m0[tx] + a + c;
            t1[tx] = b + 2 * d;
            t2[tx] = a + 4 * c;
            t3[tx] = b + 8 * d + m5[tx];
        }
    }
    for (int i = 0; i < 4; i++) {
        int row_index = ty * 4 + i;
        if (row_index >= out_height) break;
        const float *s0 = t + i * 6 * tiles_x, *s1 = s0 + tiles_x, *s2 = s1 + tiles_x;
        const float *s3 = s2 + tiles_x, *s4 = s3 + tiles_x, *s5 = s4 + tiles_x;
        float *y0 = y, *y1 = y + tiles_x, *y2 = y + 2 * tiles_x, *y3 = y + 3 * tiles_x;
        for (int tx = 0; tx < tiles_x; tx++) {
            float a = s1[tx] + s2[tx], b = s1[tx] - s2[tx], c = s3[tx] + s4[tx], d = s3[tx] - s4[tx];
            y0[tx] = s0[tx] + a + c + shift;
            y1[tx] = b + 2 * d + shift;
            y2[tx] = a + 4 * c + shift;
            y3[tx] = b + 8 * d + s5[tx] + shift;
        }
        if (relu) {
            for (int u = 0; u < 4 * tiles_x; u++) y[u] = y[u] < 0 ? 0 : y[u];
        }
        float *row = plane + (size_t)row_index * out_width;
        for (int x = 0; x < out_width; x++) row[x] = y[(x & 3) * tiles_x + (x >> 2)];
    }
}

static float *scratch(size_t count) {
    float *buffer = malloc(sizeof(float) * count);
    if (!buffer) abort();
    return buffer;
}

KSEG_VECTORISED
void kseg_winograd_input(const float *images, int items, int in_channels, int height, int width, int pad,
                         int channel_begin, int channel_end, int tiles_y, int tiles_x, float *transformed) {
    float *rows = scratch(24 * (size_t)(tiles_x + 1)), *t = scratch(24 * (size_t)(tiles_x + 1));
    const size_t tiles_per_image = (size_t)tiles_y * tiles_x;
    const size_t stride = (size_t)in_channels * items * tiles_per_image;  // from one position ξ to the next
    // Item by item within a channel, so each row [ξ][c] of the result is written from start to end.
    for (int c = channel_begin; c < channel_end; c++) {
        for (int item = 0; item < items; item++) {
            const float *plane = images + ((size_t)item * in_channels + c) * height * width;
            float *destination = transformed + ((size_t)c * items + item) * tiles_per_image;
            for (int ty = 0; ty < tiles_y; ty++) {
                input_tile_row(plane, height, width, pad, ty, tiles_x, rows, t, destination + (size_t)ty * tiles_x, stride);
            }
        }
    }
    free(rows);
    free(t);
}

KSEG_VECTORISED
void kseg_winograd_output(const float *products, int items, int out_channels, int channel_begin, int channel_end,
                          int tiles_y, int tiles_x, const float *bias, int relu, float *output, int out_height, int out_width) {
    float *t = scratch(24 * (size_t)tiles_x), *y = scratch(4 * (size_t)tiles_x);
    const size_t tiles_per_image = (size_t)tiles_y * tiles_x;
    const size_t stride = (size_t)out_channels * items * tiles_per_image;  // from one position ξ to the next
    for (int k = channel_begin; k < channel_end; k++) {
        for (int item = 0; item < items; item++) {
            float *plane = output + ((size_t)item * out_channels + k) * out_height * out_width;
            const float *base = products + ((size_t)k * items + item) * tiles_per_image;
            for (int ty = 0; ty < tiles_y; ty++) {
                output_tile_row(base + (size_t)ty * tiles_x, stride, tiles_x, bias[k], relu, t, y, plane, ty, out_height, out_width);
            }
        }
    }
    free(t);
    free(y);
}

KSEG_VECTORISED
void kseg_winograd_rows(const float *images, int in_channels, int height, int width, int pad,
                        const float *transformed_weights, int out_channels, const float *bias, int relu,
                        int row_begin, int row_end, int tiles_y, int tiles_x, float *output, int out_height, int out_width) {
    // Per row of tiles: V[36][C][tiles_x] and M[36][K][tiles_x] stay in this core's cache.
    float *v = scratch(36 * (size_t)in_channels * tiles_x), *m = scratch(36 * (size_t)out_channels * tiles_x);
    float *rows = scratch(24 * (size_t)(tiles_x + 1)), *t = scratch(24 * (size_t)(tiles_x + 1)), *y = scratch(4 * (size_t)tiles_x);
    for (int r = row_begin; r < row_end; r++) {
        int item = r / tiles_y, ty = r % tiles_y;
        const float *image = images + (size_t)item * in_channels * height * width;
        for (int c = 0; c < in_channels; c++) {
            input_tile_row(image + (size_t)c * height * width, height, width, pad, ty, tiles_x, rows, t,
                           v + (size_t)c * tiles_x, (size_t)in_channels * tiles_x);
        }
        for (int xi = 0; xi < 36; xi++) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, out_channels, tiles_x, in_channels, 1,
                        transformed_weights + (size_t)xi * out_channels * in_channels, in_channels,
                        v + (size_t)xi * in_channels * tiles_x, tiles_x, 0, m + (size_t)xi * out_channels * tiles_x, tiles_x);
        }
        float *image_output = output + (size_t)item * out_channels * out_height * out_width;
        for (int k = 0; k < out_channels; k++) {
            output_tile_row(m + (size_t)k * tiles_x, (size_t)out_channels * tiles_x, tiles_x, bias[k], relu, t, y,
                            image_output + (size_t)k * out_height * out_width, ty, out_height, out_width);
        }
    }
    free(v);
    free(m);
    free(rows);
    free(t);
    free(y);
}
