/* Keyed hashes of 64-byte blocks, many lanes at a time: the Merkle root's parents
 * (blake3_merkle.c) and coinium_keyed_hash64 (the state tree's node hashes). */
#include "blake3_internal.h"

#define KEYED64_FLAGS (CHUNK_START | CHUNK_END | ROOT | KEYED_HASH)

/* np contiguous 64-byte blocks (for the Merkle root: np pairs of 32-byte nodes, left || right):
 * block j hashes in[64j .. 64j+64] and goes to out[32j ..]. out may equal in: each group of
 * blocks is read whole before any of it is written, and writes trail reads. */
static void keyed64_portable(const uint8_t *in, size_t np, uint8_t *out,
                                    const uint32_t key[8]) {
    for (size_t j = 0; j < np; j++) {
        uint32_t m[16], h[16];
        for (int i = 0; i < 16; i++) m[i] = load32_le(in + 64 * j + 4 * i);
        coinium_b3_compress(key, m, 0, 64, KEYED64_FLAGS, h);
        for (int i = 0; i < 8; i++) store32_le(out + 32 * j + 4 * i, h[i]);
    }
}

#ifdef COINIUM_X86_SIMD

/* 16x16 transpose of 32-bit words: r[i] word j <-> r[j] word i. */
TARGET_AVX512 static inline void transpose16(__m512i r[16]) {
    __m512i t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    /* u[4q + j] holds, in 128-bit lane L, word 4L+j of rows 4q..4q+3 */
    for (int q = 0; q < 4; q++) {
        u[4 * q + 0] = _mm512_unpacklo_epi64(t[4 * q], t[4 * q + 2]);
        u[4 * q + 1] = _mm512_unpackhi_epi64(t[4 * q], t[4 * q + 2]);
        u[4 * q + 2] = _mm512_unpacklo_epi64(t[4 * q + 1], t[4 * q + 3]);
        u[4 * q + 3] = _mm512_unpackhi_epi64(t[4 * q + 1], t[4 * q + 3]);
    }
    /* word 4L+j = 128-bit lane L of u[j], u[4+j], u[8+j], u[12+j] */
    for (int j = 0; j < 4; j++) {
        __m512i a0 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x44);
        __m512i a1 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xEE);
        __m512i a2 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x44);
        __m512i a3 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xEE);
        r[0 + j] = _mm512_shuffle_i32x4(a0, a2, 0x88);
        r[4 + j] = _mm512_shuffle_i32x4(a0, a2, 0xDD);
        r[8 + j] = _mm512_shuffle_i32x4(a1, a3, 0x88);
        r[12 + j] = _mm512_shuffle_i32x4(a1, a3, 0xDD);
    }
}

/* ngroups groups of 16 blocks, starting at block 0. */
TARGET_AVX512 static void keyed64_avx512(const uint8_t *in, size_t ngroups, uint8_t *out,
                                                const uint32_t key[8]) {
    const __m512i k0 = _mm512_set1_epi32((int)key[0]), k1 = _mm512_set1_epi32((int)key[1]);
    const __m512i k2 = _mm512_set1_epi32((int)key[2]), k3 = _mm512_set1_epi32((int)key[3]);
    const __m512i k4 = _mm512_set1_epi32((int)key[4]), k5 = _mm512_set1_epi32((int)key[5]);
    const __m512i k6 = _mm512_set1_epi32((int)key[6]), k7 = _mm512_set1_epi32((int)key[7]);
    for (size_t g = 0; g < ngroups; g++) {
        __m512i r[16];
        const uint8_t *src = in + 1024 * g;
        for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_si512((const void *)(src + 64 * i));
        transpose16(r);
        __m512i m0 = r[0], m1 = r[1], m2 = r[2], m3 = r[3], m4 = r[4], m5 = r[5], m6 = r[6];
        __m512i m7 = r[7], m8 = r[8], m9 = r[9], m10 = r[10], m11 = r[11], m12 = r[12];
        __m512i m13 = r[13], m14 = r[14], m15 = r[15];
        __m512i v0 = k0, v1 = k1, v2 = k2, v3 = k3, v4 = k4, v5 = k5, v6 = k6, v7 = k7;
        __m512i v8 = _mm512_set1_epi32((int)IV[0]), v9 = _mm512_set1_epi32((int)IV[1]);
        __m512i v10 = _mm512_set1_epi32((int)IV[2]), v11 = _mm512_set1_epi32((int)IV[3]);
        __m512i v12 = _mm512_setzero_si512(), v13 = _mm512_setzero_si512();
        __m512i v14 = _mm512_set1_epi32(64), v15 = _mm512_set1_epi32((int)KEYED64_FLAGS);
        ROUND0(G512, VAR_V, VAR_M);
        ROUNDS_1_TO_6(G512, VAR_V, VAR_M);
        r[0] = XOR512(v0, v8);
        r[1] = XOR512(v1, v9);
        r[2] = XOR512(v2, v10);
        r[3] = XOR512(v3, v11);
        r[4] = XOR512(v4, v12);
        r[5] = XOR512(v5, v13);
        r[6] = XOR512(v6, v14);
        r[7] = XOR512(v7, v15);
        for (int i = 8; i < 16; i++) r[i] = _mm512_setzero_si512();
        transpose16(r); /* row i: block i's 8 hash words, then 8 zero words */
        uint8_t *dst = out + 512 * g;
        for (int i = 0; i < 16; i++)
            _mm256_storeu_si256((__m256i *)(dst + 32 * i), _mm512_castsi512_si256(r[i]));
    }
}

/* 8x8 transpose of 32-bit words. */
TARGET_AVX2 static inline void transpose8(__m256i r[8]) {
    __m256i t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int q = 0; q < 2; q++) {
        u[4 * q + 0] = _mm256_unpacklo_epi64(t[4 * q], t[4 * q + 2]);
        u[4 * q + 1] = _mm256_unpackhi_epi64(t[4 * q], t[4 * q + 2]);
        u[4 * q + 2] = _mm256_unpacklo_epi64(t[4 * q + 1], t[4 * q + 3]);
        u[4 * q + 3] = _mm256_unpackhi_epi64(t[4 * q + 1], t[4 * q + 3]);
    }
    for (int j = 0; j < 4; j++) {
        r[j] = _mm256_permute2x128_si256(u[j], u[4 + j], 0x20);
        r[4 + j] = _mm256_permute2x128_si256(u[j], u[4 + j], 0x31);
    }
}

/* ngroups groups of 8 blocks, starting at block 0. */
TARGET_AVX2 static void keyed64_avx2(const uint8_t *in, size_t ngroups, uint8_t *out,
                                            const uint32_t key[8]) {
    ROT_MASKS_256;
    for (size_t g = 0; g < ngroups; g++) {
        const uint8_t *src = in + 512 * g;
        __m256i a[8], b[8];
        for (int i = 0; i < 8; i++) {
            a[i] = _mm256_loadu_si256((const __m256i *)(src + 64 * i));
            b[i] = _mm256_loadu_si256((const __m256i *)(src + 64 * i + 32));
        }
        transpose8(a);
        transpose8(b);
        __m256i m0 = a[0], m1 = a[1], m2 = a[2], m3 = a[3], m4 = a[4], m5 = a[5], m6 = a[6];
        __m256i m7 = a[7], m8 = b[0], m9 = b[1], m10 = b[2], m11 = b[3], m12 = b[4];
        __m256i m13 = b[5], m14 = b[6], m15 = b[7];
        __m256i v0 = _mm256_set1_epi32((int)key[0]), v1 = _mm256_set1_epi32((int)key[1]);
        __m256i v2 = _mm256_set1_epi32((int)key[2]), v3 = _mm256_set1_epi32((int)key[3]);
        __m256i v4 = _mm256_set1_epi32((int)key[4]), v5 = _mm256_set1_epi32((int)key[5]);
        __m256i v6 = _mm256_set1_epi32((int)key[6]), v7 = _mm256_set1_epi32((int)key[7]);
        __m256i v8 = _mm256_set1_epi32((int)IV[0]), v9 = _mm256_set1_epi32((int)IV[1]);
        __m256i v10 = _mm256_set1_epi32((int)IV[2]), v11 = _mm256_set1_epi32((int)IV[3]);
        __m256i v12 = _mm256_setzero_si256(), v13 = _mm256_setzero_si256();
        __m256i v14 = _mm256_set1_epi32(64), v15 = _mm256_set1_epi32((int)KEYED64_FLAGS);
        ROUND0(G256, VAR_V, VAR_M);
        ROUNDS_1_TO_6(G256, VAR_V, VAR_M);
        a[0] = XOR256(v0, v8);
        a[1] = XOR256(v1, v9);
        a[2] = XOR256(v2, v10);
        a[3] = XOR256(v3, v11);
        a[4] = XOR256(v4, v12);
        a[5] = XOR256(v5, v13);
        a[6] = XOR256(v6, v14);
        a[7] = XOR256(v7, v15);
        transpose8(a);
        uint8_t *dst = out + 256 * g;
        for (int i = 0; i < 8; i++) _mm256_storeu_si256((__m256i *)(dst + 32 * i), a[i]);
    }
}

#endif /* COINIUM_X86_SIMD */

/* All np blocks into out, as many lanes at a time as the CPU allows (see blake3_internal.h). */
void coinium_b3_keyed64_words(const uint8_t *in, size_t np, uint8_t *out, const uint32_t key[8]) {
    size_t done = 0;
#ifdef COINIUM_X86_SIMD
    int level = coinium_simd_level();
    if (level == COINIUM_SIMD_AVX512) {
        keyed64_avx512(in, np / 16, out, key);
        done = np / 16 * 16;
    } else if (level == COINIUM_SIMD_AVX2) {
        keyed64_avx2(in, np / 8, out, key);
        done = np / 8 * 8;
    }
#endif
    keyed64_portable(in + 64 * done, np - done, out + 32 * done, key);
}

void coinium_keyed_hash64(const uint8_t *blocks, size_t n, const uint8_t key[32], uint8_t *out) {
    uint32_t kw[8];
    for (int i = 0; i < 8; i++) kw[i] = load32_le(key + 4 * i);
    coinium_b3_keyed64_words(blocks, n, out, kw);
}
