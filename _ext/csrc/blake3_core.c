/* The BLAKE3 compression as a public function, and the run-time choice of SIMD level that every
 * kernel (blake3_pow.c, blake3_keyed.c) reads. */
#include "blake3_internal.h"

void coinium_b3_compress(const uint32_t cv[8], const uint32_t m[16], uint64_t counter, uint32_t b,
                         uint32_t flags, uint32_t out[16]) {
    b3_compress(cv, m, counter, b, flags, out);
}

/* ---- run-time dispatch ----------------------------------------------------------------------- */

static int detected_level = -1;
static int current_level = -1;

int coinium_simd_detect(void) {
    if (detected_level >= 0) return detected_level;
    int level = COINIUM_SIMD_PORTABLE;
#ifdef COINIUM_X86_SIMD
    __builtin_cpu_init();
    /* libgcc / compiler-rt also check that the OS saves the wider registers (XCR0). */
    if (__builtin_cpu_supports("avx512f"))
        level = COINIUM_SIMD_AVX512;
    else if (__builtin_cpu_supports("avx2"))
        level = COINIUM_SIMD_AVX2;
#endif
    detected_level = level;
    return level;
}

int coinium_simd_level(void) {
    if (current_level < 0) current_level = coinium_simd_detect();
    return current_level;
}

int coinium_simd_set(int level) {
    int best = coinium_simd_detect();
    if (level < COINIUM_SIMD_PORTABLE) level = COINIUM_SIMD_PORTABLE;
    if (level > best) level = best;
    current_level = level;
    return level;
}

int coinium_simd_lanes(void) {
    switch (coinium_simd_level()) {
        case COINIUM_SIMD_AVX512: return 16;
        case COINIUM_SIMD_AVX2: return 8;
        default: return 1;
    }
}
