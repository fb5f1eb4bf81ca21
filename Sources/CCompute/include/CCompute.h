#ifndef KIDNEYSEG_CCOMPUTE_H
#define KIDNEYSEG_CCOMPUTE_H

#include <stddef.h>

/// Sets flush-to-zero and denormals-are-zero for the calling thread: denormal floats are 10-100x
/// slower on x86, and a network never needs them. Does nothing on other architectures.
void kseg_enable_flush_to_zero(void);

/// Whether the calling thread flushes denormals to zero.
int kseg_flush_to_zero_enabled(void);

/// Keeps freed large blocks in the heap instead of returning them to the kernel, so the engine's
/// per-layer buffers are reused rather than page-faulted in anew for every layer.
void kseg_keep_freed_memory(void);

/// Whether the CPU and the OS run AVX-512 (F, BW, VL and DQ: what OpenBLAS's SkylakeX kernels
/// use), and AVX2 with FMA (its Haswell kernels). 0 on other architectures.
int kseg_cpu_runs_avx512(void);
int kseg_cpu_runs_avx2(void);

/// The peak resident set size of this process in bytes (getrusage's ru_maxrss).
size_t kseg_peak_resident_bytes(void);

/// Winograd F(4x4, 3x3): the weights [K][C][3][3] become 36 matrices [36][K][C].
void kseg_winograd_weights(const float *weights, int out_channels, int in_channels, float *transformed);

/// Transforms the 6x6 input tiles of channels [channel_begin, channel_end) of a batch of images
/// [items][in_channels][height][width] into transformed[36][in_channels][tiles], where the
/// tiles are numbered by image, then row, then column.
void kseg_winograd_input(const float *images, int items, int in_channels, int height, int width, int pad,
                         int channel_begin, int channel_end, int tiles_y, int tiles_x, float *transformed);

/// Turns products[36][out_channels][tiles] back into 4x4 output tiles of output channels
/// [channel_begin, channel_end) of a batch [items][out_channels][out_height][out_width], adding
/// the bias and applying ReLU when asked.
void kseg_winograd_output(const float *products, int items, int out_channels, int channel_begin, int channel_end,
                          int tiles_y, int tiles_x, const float *bias, int relu, float *output, int out_height, int out_width);

/// The whole conv for rows of tiles [row_begin, row_end) of a batch (row r is image r / tiles_y,
/// tile row r % tiles_y): each row's input transform, 36 small GEMMs with the transformed
/// weights [36][out_channels][in_channels] and output transform run while its data sit in cache.
void kseg_winograd_rows(const float *images, int in_channels, int height, int width, int pad,
                        const float *transformed_weights, int out_channels, const float *bias, int relu,
                        int row_begin, int row_end, int tiles_y, int tiles_x, float *output, int out_height, int out_width);

#endif
