#include "CNIfTI.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int kseg_gzip_write(const char *path, const void *bytes, size_t count) {
    znzFile file = znzopen(path, "wb6", 1);
    if (znz_isnull(file)) return -1;
    size_t written = znzwrite(bytes, 1, count, file);
    return znzclose(file) == 0 && written == count ? 0 : -1;
}

long kseg_nifti_read_prefix(const char *path, void *buffer, size_t capacity) {
    znzFile file = znzopen(path, "rb", 1);
    if (znz_isnull(file)) return -1;
    size_t count = znzread(buffer, 1, capacity, file);
    znzclose(file);
    return (long)count;
}

long long kseg_nifti_scan(const char *path, long long limit, long long data_offset, int float_bytes, int swapped,
                          long long *nonfinite) {
    *nonfinite = 0;
    znzFile file = znzopen(path, "rb", 1);
    if (znz_isnull(file)) return -1;
    static const size_t piece = 1 << 20;  // a multiple of 4 and 8, so values never straddle pieces
    unsigned char *buffer = malloc(piece);
    long long total = 0;
    while (buffer != NULL && total < limit) {
        // The header and extensions first, then the voxels piece by piece.
        long long end = total < data_offset ? data_offset : limit;
        size_t wanted = (size_t)(end - total < (long long)piece ? end - total : (long long)piece);
        size_t count = znzread(buffer, 1, wanted, file);
        if (total >= data_offset && float_bytes == 4) {
            for (size_t i = 0; i + 4 <= count; i += 4) {
                uint32_t bits;
                memcpy(&bits, buffer + i, 4);
                if (swapped) bits = __builtin_bswap32(bits);
                if ((bits & 0x7f800000u) == 0x7f800000u) *nonfinite += 1;
            }
        } else if (total >= data_offset && float_bytes == 8) {
            for (size_t i = 0; i + 8 <= count; i += 8) {
                uint64_t bits;
                memcpy(&bits, buffer + i, 8);
                if (swapped) bits = __builtin_bswap64(bits);
                if ((bits & 0x7ff0000000000000ull) == 0x7ff0000000000000ull) *nonfinite += 1;
            }
        }
        total += (long long)count;
        if (count < wanted) break;
    }
    free(buffer);
    znzclose(file);
    return total;
}

static int write_all(znzFile file, const void *bytes, size_t count) {
    return znzwrite(bytes, 1, count, file) == count ? 0 : -1;
}

int kseg_nifti_write(const nifti_image *image, const void *voxels, int version, const char *path, int gzip) {
    // Build the header with libnifti's own conversion, but do the I/O here: nifti_image_write
    // reports failures only on stderr, and libnifti 3.0.1 does not write single-file NIfTI-2.
    nifti_1_header header1;
    nifti_2_header header2;
    const void *header;
    size_t header_size;
    if (version == 2) {
        if (nifti_convert_nim2n2hdr(image, &header2) != 0) return -1;
        memcpy(header2.magic, "n+2\0\r\n\032\n", 8);
        header2.vox_offset = sizeof(header2) + 4;
        header = &header2;
        header_size = sizeof(header2);
    } else {
        if (nifti_convert_nim2n1hdr(image, &header1) != 0) return -1;
        memcpy(header1.magic, "n+1\0", 4);
        header1.vox_offset = sizeof(header1) + 4;
        header = &header1;
        header_size = sizeof(header1);
    }
    znzFile file = znzopen(path, gzip ? "wb6" : "wb", gzip);
    if (znz_isnull(file)) return -1;
    const char no_extensions[4] = {0, 0, 0, 0};
    int status = write_all(file, header, header_size);
    if (status == 0) status = write_all(file, no_extensions, sizeof(no_extensions));
    if (status == 0) status = write_all(file, voxels, (size_t)image->nvox * image->nbyper);
    if (znzclose(file) != 0) status = -1;
    return status;
}
