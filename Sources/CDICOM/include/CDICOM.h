#ifndef KIDNEYSEG_CDICOM_H
#define KIDNEYSEG_CDICOM_H

// DICOM through GDCM (Debian's libgdcm-dev), behind a C API: GDCM parses the files and
// decompresses every transfer syntax it supports (JPEG baseline and lossless, JPEG-LS,
// JPEG 2000, RLE, deflate); the series is assembled in Swift.
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The attributes of one DICOM file that decide whether and where it joins a volume, as the
/// file holds them (multi-valued ones backslash-separated, trailing spaces removed).
typedef struct {
    char sop_class_uid[68];
    char sop_instance_uid[68];
    char study_instance_uid[68];
    char series_instance_uid[68];
    char frame_of_reference_uid[68];
    char transfer_syntax_uid[68];
    char modality[20];
    char image_type[256];
    char image_position[256];
    char image_orientation[256];
    char pixel_spacing[128];
    char slice_thickness[64];
    char rescale_slope[64];
    char rescale_intercept[64];
    char instance_number[32];
    int rows;
    int columns;
    int frames;
    int samples_per_pixel;
    int has_pixel_data;
} kseg_dicom_header;

/// Reads the attributes of `path`. Returns 0, 1 when the file is not DICOM at all, or -1 with a
/// message in `error` when it is DICOM but cannot be read (truncated, say).
int kseg_dicom_read_header(const char *path, kseg_dicom_header *header, char *error, size_t error_capacity);

/// Decodes the pixels of `path` (one frame of `count` samples, rows × columns) into `values`, as
/// stored: before the rescale slope and intercept. Returns 0, or -1 with a message in `error`.
int kseg_dicom_read_pixels(const char *path, float *values, size_t count, char *error, size_t error_capacity);

/// Starts `path` with `argv` and `envp` (both NULL-terminated), its standard output on
/// `stdout_fd`, standard input and error on /dev/null, and no other descriptor inherited (the
/// service's sockets stay out of it). Returns the child's pid, or -1.
int kseg_spawn_reader(const char *path, char *const argv[], char *const envp[], int stdout_fd);

#ifdef __cplusplus
}
#endif

#endif
