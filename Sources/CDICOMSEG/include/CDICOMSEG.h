#ifndef KIDNEYSEG_CDICOMSEG_H
#define KIDNEYSEG_CDICOMSEG_H

// DICOM Segmentation objects through DCMTK's dcmseg (Debian's libdcmtk-dev), behind a C API.
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// One segment: the voxels equal to `label`, with its codes (SNOMED CT) and display colour.
typedef struct {
    unsigned char label;
    const char *name;
    const char *category_code;
    const char *category_meaning;
    const char *type_code;
    const char *type_meaning;
    unsigned char rgb[3];
} kseg_seg_segment;

/// A binary SEG of a label map on a source CT series' grid.
typedef struct {
    int rows;
    int columns;
    int slices;
    /// slices × rows × columns values, a slice after another in the order of `slice_uids`, each
    /// slice row by row as its DICOM frame stores it.
    const unsigned char *labels;
    const kseg_seg_segment *segments;
    int segment_count;
    /// A file of the source series: the SEG takes its patient, study and frame of reference.
    const char *source_file;
    const char *source_series_uid;
    const char *source_sop_class_uid;
    /// For each slice: its SOP Instance UID and Image Position (Patient), 3 values, LPS mm.
    const char *const *slice_uids;
    const double *positions;
    /// Image Orientation (Patient), 6 values; Pixel Spacing (row, column); slice spacing, mm.
    double orientation[6];
    double pixel_spacing[2];
    double slice_spacing;
    const char *software_version;
    const char *series_description;
} kseg_seg_request;

/// Writes the SEG to `path`. A slice with none of a segment's voxels gets no frame for it,
/// except that every segment keeps at least one frame. Returns 0, or -1 with a message in `error`.
int kseg_seg_write(const kseg_seg_request *request, const char *path, char *error, size_t error_capacity);

#ifdef __cplusplus
}
#endif

#endif
