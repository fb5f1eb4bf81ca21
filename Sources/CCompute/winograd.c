#include "CCompute.h"

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

// Bᵀ d B with Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
static inline void input_rows(const float d[6], float r[6]) {
    r[0] = 4 * d[0] - 5 * d[2] + d[4];
    r[1] = -4 * d[1] - 4 * d[2] + d[3] + d[4];
    r[2] = 4 * d[1] - 4 * d[2] - d[3] + d[4];
    r[3] = -2 * d[1] - d[2] + 2 * d[3] + d[4];
    r[4] = 2 * d[1] - d[2] - 2 * d[3] + d[4];
    r[5] = 4 * d[1] - 5 * d[3] + d[5];
}

void kseg_winograd_input(const float *image, int channel_begin, int channel_end, int height, int width, int pad,
                         int tiles_y, int tiles_x, size_t tile_offset, size_t tiles_total, int in_channels, float *transformed) {
    // One row of tiles at a time: the column pass t = Bᵀ d runs along whole zero-padded input
    // rows (contiguous, so it vectorises), then the row pass turns each tile's 6x6 slab of t into
    // 36 values, gathered per position ξ so every store stream is contiguous along the tiles.
    const int padded = tiles_x * 4 + 2;
    float *rows = malloc(sizeof(float) * 6 * padded);
    float *t = malloc(sizeof(float) * 6 * padded);
    float *values = malloc(sizeof(float) * 6 * tiles_x);
    if (!rows || !t || !values) abort();
    const size_t stride = (size_t)in_channels * tiles_total;  // from one position ξ to the next
    for (int c = channel_begin; c < channel_end; c++) {
        const float *plane = image + (size_t)c * height * width;
        for (int ty = 0; ty < tiles_y; ty++) {
            for (int k = 0; k < 6; k++) {
                int y = ty * 4 - pad + k;
                float *row = rows + k * padded;
                if (y < 0 || y >= height) {
                    memset(row, 0, sizeof(float) * padded);
                    continue;
                }
                // padded >= width + 2 * pad: zeros, the input row, zeros.
                int copied = width < padded - pad ? width : padded - pad;
                memset(row, 0, sizeof(float) * pad);
                memcpy(row + pad, plane + (size_t)y * width, sizeof(float) * copied);
                memset(row + pad + copied, 0, sizeof(float) * (padded - pad - copied));
            }
            const float *d0 = rows, *d1 = rows + padded, *d2 = rows + 2 * padded;
            const float *d3 = rows + 3 * padded, *d4 = rows + 4 * padded, *d5 = rows + 5 * padded;
            for (int u = 0; u < padded; u++) {
                t[u] = 4 * d0[u] - 5 * d2[u] + d4[u];
                t[padded + u] = -4 * d1[u] - 4 * d2[u] + d3[u] + d4[u];
                t[2 * padded + u] = 4 * d1[u] - 4 * d2[u] - d3[u] + d4[u];
                t[3 * padded + u] = -2 * d1[u] - d2[u] + 2 * d3[u] + d4[u];
                t[4 * padded + u] = 2 * d1[u] - d2[u] - 2 * d3[u] + d4[u];
                t[5 * padded + u] = 4 * d1[u] - 5 * d3[u] + d5[u];
            }
            float *destination = transformed + (size_t)c * tiles_total + tile_offset + (size_t)ty * tiles_x;
            for (int i = 0; i < 6; i++) {
                const float *slab = t + i * padded;
                for (int tx = 0; tx < tiles_x; tx++) {
                    float r[6];
                    input_rows(slab + 4 * tx, r);
                    for (int j = 0; j < 6; j++) values[j * tiles_x + tx] = r[j];
                }
                for (int j = 0; j < 6; j++) {
                    memcpy(destination + (size_t)(i * 6 + j) * stride, values + j * tiles_x, sizeof(float) * tiles_x);
                }
            }
        }
    }
    free(rows);
    free(t);
    free(values);
}

// Aᵀ m A with Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
static inline void output_rows(const float m[6], float r[4]) {
    float a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], d = m[3] - m[4];
    r[0] = m[0] + a + c;
    r[1] = b + 2 * d;
    r[2] = a + 4 * c;
    r[3] = b + 8 * d + m[5];
}

void kseg_winograd_output(const float *products, int channel_begin, int channel_end, int out_channels, size_t tiles_total,
                          size_t tile_offset, int tiles_y, int tiles_x, const float *bias, int relu,
                          float *output, int out_height, int out_width) {
    // One row of tiles at a time, mirroring the input transform: t = Aᵀ m runs along the tiles
    // (contiguous in every position ξ), then each tile's y = t A is written out.
    float *t = malloc(sizeof(float) * 24 * tiles_x);
    if (!t) abort();
    for (int k = channel_begin; k < channel_end; k++) {
        float *plane = output + (size_t)k * out_height * out_width;
        const float *base = products + (size_t)k * tiles_total + tile_offset;
        const size_t stride = (size_t)out_channels * tiles_total;  // from one position ξ to the next
        for (int ty = 0; ty < tiles_y; ty++) {
            for (int j = 0; j < 6; j++) {
                const float *m0 = base + (size_t)j * stride + (size_t)ty * tiles_x;
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
                int y = ty * 4 + i;
                if (y >= out_height) break;
                float *row = plane + (size_t)y * out_width;
                const float *slab = t + i * 6 * tiles_x;
                for (int tx = 0; tx < tiles_x; tx++) {
                    float m[6], r[4];
                    for (int j = 0; j < 6; j++) m[j] = slab[j * tiles_x + tx];
                    output_rows(m, r);
                    for (int j = 0; j < 4; j++) {
                        int x = tx * 4 + j;
                        if (x >= out_width) break;
                        float value = r[j] + bias[k];
                        row[x] = relu && value < 0 ? 0 : value;
                    }
                }
            }
        }
    }
    free(t);
}
