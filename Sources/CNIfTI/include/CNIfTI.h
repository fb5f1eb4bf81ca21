#ifndef KIDNEYSEG_CNIFTI_H
#define KIDNEYSEG_CNIFTI_H

// libnifti's NIfTI-2 API, which reads and writes both NIfTI-1 and NIfTI-2. Never mix it with
// nifti1_io.h / -lniftiio: the two define the same symbols with different structs.
#include <nifti/nifti2_io.h>
#include <stddef.h>

/// Writes `count` bytes to `path` as a gzip file (zlib, through znzlib). Returns 0, or -1.
int kseg_gzip_write(const char *path, const void *bytes, size_t count);

/// Reads up to `capacity` bytes from the start of `path`, decompressing gzip transparently.
/// Returns the number of bytes read, or -1 when the file cannot be opened.
long kseg_nifti_read_prefix(const char *path, void *buffer, size_t capacity);

/// Reads `path` through to its end (or to `limit` bytes), decompressing gzip transparently, in
/// small pieces. Returns the number of bytes that could be read, or -1 when it cannot be opened.
/// When the voxels (from `data_offset`) are floats of `float_bytes` (4 or 8; 0 for integers),
/// counts in `nonfinite` those that are NaN or infinite, byte-swapped first when `swapped`.
long long kseg_nifti_scan(const char *path, long long limit, long long data_offset, int float_bytes, int swapped,
                          long long *nonfinite);

/// Writes the header fields of `image` and then `voxels` as a single-file NIfTI-`version` (1 or 2),
/// gzipped when `gzip` is non-zero. Returns 0 when every byte was written and the file closed
/// cleanly, -1 otherwise.
int kseg_nifti_write(const nifti_image *image, const void *voxels, int version, const char *path, int gzip);

#endif
