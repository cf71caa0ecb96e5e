/* The plain BLAKE3 compression (the scalar paths of blake3_pow.c and blake3_keyed.c call it),
 * and the run-time choice of SIMD level that every kernel reads. */
#include "blake3_internal.h"

void coinium_b3_compress(const uint32_t cv[8], const uint32_t m[16], uint64_t counter, uint32_t b,
                         uint32_t flags, uint32_t out[16]) {
    uint32_t v0 = cv[0], v1 = cv[1], v2 = cv[2], v3 = cv[3];
    uint32_t v4 = cv[4], v5 = cv[5], v6 = cv[6], v7 = cv[7];
    uint32_t v8 = IV[0], v9 = IV[1], v10 = IV[2], v11 = IV[3];
    uint32_t v12 = (uint32_t)counter, v13 = (uint32_t)(counter >> 32), v14 = b, v15 = flags;
    ROUND0(G_SCALAR, VAR_V, MSG_ARRAY);
    ROUNDS_1_TO_6(G_SCALAR, VAR_V, MSG_ARRAY);
    out[0] = v0 ^ v8;
    out[1] = v1 ^ v9;
    out[2] = v2 ^ v10;
    out[3] = v3 ^ v11;
    out[4] = v4 ^ v12;
    out[5] = v5 ^ v13;
    out[6] = v6 ^ v14;
    out[7] = v7 ^ v15;
    out[8] = v8 ^ cv[0];
    out[9] = v9 ^ cv[1];
    out[10] = v10 ^ cv[2];
    out[11] = v11 ^ cv[3];
    out[12] = v12 ^ cv[4];
    out[13] = v13 ^ cv[5];
    out[14] = v14 ^ cv[6];
    out[15] = v15 ^ cv[7];
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
