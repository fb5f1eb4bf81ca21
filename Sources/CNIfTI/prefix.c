#include "CNIfTI.h"

long kseg_nifti_read_prefix(const char *path, void *buffer, size_t capacity) {
    znzFile file = znzopen(path, "rb", 1);
    if (znz_isnull(file)) return -1;
    size_t count = znzread(buffer, 1, capacity, file);
    znzclose(file);
    return (long)count;
}
