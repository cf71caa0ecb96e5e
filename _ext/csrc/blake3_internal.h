/* What the BLAKE3 kernels share (internal: not part of the extension's API, which is
 * blake3_kernels.h): flags, IV, the round macros, the scalar G step, byte-order helpers and
 * the SIMD lane macros.
 *
 * Written from the BLAKE3 specification (compression function, flags, IV and message
 * permutation); see docs/KERNELS.md for the design. One input per 32-bit SIMD lane: the AVX-512
 * paths run 16 inputs per pass, the AVX2 paths 8, the portable path one. The x86 paths are
 * compiled with GCC/clang function attributes and picked at run time with __builtin_cpu_supports
 * (blake3_core.c), so the extension is built without -m flags and runs on any x86-64 CPU;
 * elsewhere only the portable path is compiled.
 */
#ifndef COINIUM_BLAKE3_INTERNAL_H
#define COINIUM_BLAKE3_INTERNAL_H

#include "blake3_kernels.h"

/* COINIUM_NO_SIMD builds the portable path only, as on a CPU family without our SIMD code. */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(COINIUM_NO_SIMD)
#define COINIUM_X86_SIMD 1
#include <immintrin.h>
#define TARGET_AVX512 __attribute__((target("avx512f")))
#define TARGET_AVX2 __attribute__((target("avx2")))
#endif

#define CHUNK_START 1u
#define CHUNK_END 2u
#define ROOT 8u
#define KEYED_HASH 16u

static const uint32_t IV[8] = {0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au,
                               0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u};

/* Message schedule: row r is the identity permuted r times by P = [2,6,3,10,7,0,4,13,1,11,12,5,9,
 * 14,15,8] (new[i] = old[P[i]]). Spelled out as literals so that every SIMD message word stays a
 * named register variable. */
#define ROUND_IDX(G, V, M, s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15) \
    G(V(0), V(4), V(8), V(12), M(s0), M(s1));                                                     \
    G(V(1), V(5), V(9), V(13), M(s2), M(s3));                                                     \
    G(V(2), V(6), V(10), V(14), M(s4), M(s5));                                                    \
    G(V(3), V(7), V(11), V(15), M(s6), M(s7));                                                    \
    G(V(0), V(5), V(10), V(15), M(s8), M(s9));                                                    \
    G(V(1), V(6), V(11), V(12), M(s10), M(s11));                                                  \
    G(V(2), V(7), V(8), V(13), M(s12), M(s13));                                                   \
    G(V(3), V(4), V(9), V(14), M(s14), M(s15))

#define ROUND0(G, V, M) ROUND_IDX(G, V, M, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#define ROUND1(G, V, M) ROUND_IDX(G, V, M, 2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8)
#define ROUND2(G, V, M) ROUND_IDX(G, V, M, 3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1)
#define ROUND3(G, V, M) ROUND_IDX(G, V, M, 10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6)
#define ROUND4(G, V, M) ROUND_IDX(G, V, M, 12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4)
#define ROUND5(G, V, M) ROUND_IDX(G, V, M, 9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7)
#define ROUND6(G, V, M) ROUND_IDX(G, V, M, 11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13)

/* Rounds 2..7 (round 1 is written out where the nonce search precomputes part of it). */
#define ROUNDS_1_TO_6(G, V, M) \
    ROUND1(G, V, M);           \
    ROUND2(G, V, M);           \
    ROUND3(G, V, M);           \
    ROUND4(G, V, M);           \
    ROUND5(G, V, M);           \
    ROUND6(G, V, M)

#define VAR_V(i) v##i
#define VAR_M(i) m##i

/* ---- scalar ---------------------------------------------------------------------------------- */

#define ROTR32(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

#define G_SCALAR(a, b, c, d, x, y) \
    do {                           \
        a = a + b + (x);           \
        d = ROTR32(d ^ a, 16);     \
        c = c + d;                 \
        b = ROTR32(b ^ c, 12);     \
        a = a + b + (y);           \
        d = ROTR32(d ^ a, 8);      \
        c = c + d;                 \
        b = ROTR32(b ^ c, 7);      \
    } while (0)

#define MSG_ARRAY(i) m[i]

static inline uint32_t load32_le(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void store32_le(uint8_t *p, uint32_t w) {
    p[0] = (uint8_t)w;
    p[1] = (uint8_t)(w >> 8);
    p[2] = (uint8_t)(w >> 16);
    p[3] = (uint8_t)(w >> 24);
}

#ifdef COINIUM_X86_SIMD

/* ---- AVX-512: 16 lanes ----------------------------------------------------------------------- */

#define ADD512 _mm512_add_epi32
#define XOR512 _mm512_xor_si512
#define G512(a, b, c, d, x, y)                  \
    do {                                        \
        a = ADD512(ADD512(a, b), x);            \
        d = _mm512_ror_epi32(XOR512(d, a), 16); \
        c = ADD512(c, d);                       \
        b = _mm512_ror_epi32(XOR512(b, c), 12); \
        a = ADD512(ADD512(a, b), y);            \
        d = _mm512_ror_epi32(XOR512(d, a), 8);  \
        c = ADD512(c, d);                       \
        b = _mm512_ror_epi32(XOR512(b, c), 7);  \
    } while (0)

/* ---- AVX2: 8 lanes --------------------------------------------------------------------------- */

#define ADD256 _mm256_add_epi32
#define XOR256 _mm256_xor_si256
#define ROT16_256(x) _mm256_shuffle_epi8((x), rot16)
#define ROT8_256(x) _mm256_shuffle_epi8((x), rot8)
#define RORN_256(x, n) _mm256_or_si256(_mm256_srli_epi32((x), (n)), _mm256_slli_epi32((x), 32 - (n)))
#define G256(a, b, c, d, x, y)              \
    do {                                    \
        a = ADD256(ADD256(a, b), x);        \
        d = ROT16_256(XOR256(d, a));        \
        c = ADD256(c, d);                   \
        b = RORN_256(XOR256(b, c), 12);     \
        a = ADD256(ADD256(a, b), y);        \
        d = ROT8_256(XOR256(d, a));         \
        c = ADD256(c, d);                   \
        b = RORN_256(XOR256(b, c), 7);      \
    } while (0)

#define ROT_MASKS_256                                                                             \
    const __m256i rot16 = _mm256_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13, \
                                           2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13); \
    const __m256i rot8 = _mm256_setr_epi8(1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12,  \
                                          1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12)

#endif /* COINIUM_X86_SIMD */

/* blake3_keyed.c: n keyed hashes of contiguous 64-byte blocks (in[64j ..] -> out[32j ..]), as
 * many lanes at a time as the CPU allows; key as 8 little-endian words. out may equal in. The
 * Merkle root's parents are exactly these (blake3_merkle.c). */
void coinium_b3_keyed64_words(const uint8_t *in, size_t n, uint8_t *out, const uint32_t key[8]);

#endif
