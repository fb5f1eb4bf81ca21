#include "CCompute.h"

#include <malloc.h>
#include <sys/resource.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define KSEG_FTZ_DAZ 0x8040  /* MXCSR bit 15 flush-to-zero, bit 6 denormals-are-zero */
#endif

void kseg_enable_flush_to_zero(void) {
#ifdef KSEG_FTZ_DAZ
    _mm_setcsr(_mm_getcsr() | KSEG_FTZ_DAZ);
#endif
}

int kseg_flush_to_zero_enabled(void) {
#ifdef KSEG_FTZ_DAZ
    return (_mm_getcsr() & KSEG_FTZ_DAZ) == KSEG_FTZ_DAZ;
#else
    return 0;
#endif
}

size_t kseg_peak_resident_bytes(void) {
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
    return (size_t)usage.ru_maxrss * 1024;  /* Linux reports kilobytes */
}

void kseg_keep_freed_memory(void) {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

int kseg_cpu_runs_avx512(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
    return 0;
#endif
}

int kseg_cpu_runs_avx2(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}
