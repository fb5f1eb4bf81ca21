#ifndef KIDNEYSEG_CNIFTI_H
#define KIDNEYSEG_CNIFTI_H

// libnifti's NIfTI-2 API, which reads and writes both NIfTI-1 and NIfTI-2. Never mix it with
// nifti1_io.h / -lniftiio: the two define the same symbols with different structs.
#include <nifti/nifti2_io.h>
#include <stddef.h>

/// Reads up to `capacity` bytes from the start of `path`, decompressing gzip transparently.
/// Returns the number of bytes read, or -1 when the file cannot be opened.
long kseg_nifti_read_prefix(const char *path, void *buffer, size_t capacity);

#endif
