/* Coinium's BLAKE3 kernels: nonce search and Merkle root, with run-time SIMD dispatch.
 *
 * Written from the BLAKE3 specification (compression function, flags, IV and message
 * permutation); see docs/KERNELS.md for the design. One input per 32-bit SIMD lane: the AVX-512
 * path hashes 16 nonces (or 16 Merkle parents) per pass, the AVX2 path 8, the portable path one.
 * The x86 paths are compiled with GCC/clang function attributes and picked at run time with
 * __builtin_cpu_supports, so the extension is built without -m flags and runs on any x86-64 CPU;
 * elsewhere only the portable path is compiled.
 */
#include "blake3_kernels.h"

#include <stdlib.h>
#include <string.h>

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

#define HEADER_SIZE 124
#define LAST_BLOCK_LEN 60u /* bytes 64..123 of the header: 15 message words, the last zero */
#define POW_FLAGS (CHUNK_END | ROOT)
#define MERKLE_FLAGS (CHUNK_START | CHUNK_END | ROOT | KEYED_HASH)

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

static inline uint32_t load32_be(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline uint32_t bswap32(uint32_t w) {
    return (w >> 24) | ((w >> 8) & 0xFF00u) | ((w << 8) & 0xFF0000u) | (w << 24);
}

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

static inline int lowest_bit(uint32_t mask) {
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_ctz(mask);
#else
    int i = 0;
    while (!(mask & 1u)) {
        mask >>= 1;
        i++;
    }
    return i;
#endif
}

/* ---- nonce search ---------------------------------------------------------------------------- */

typedef struct {
    uint32_t cv[8]; /* midstate: chaining value after the header's first block */
    uint32_t m[16]; /* second block; m[13], m[14] take the nonce, m[15] is zero padding */
    uint32_t tw[8]; /* target as 8 big-endian words, most significant first */
} pow_ctx;

/* Full check of one nonce: the whole 256-bit hash against the whole target. */
static int pow_hash_meets(const pow_ctx *c, uint64_t nonce) {
    uint32_t m[16], out[16];
    memcpy(m, c->m, sizeof m);
    m[13] = (uint32_t)nonce;
    m[14] = (uint32_t)(nonce >> 32);
    coinium_b3_compress(c->cv, m, 0, LAST_BLOCK_LEN, POW_FLAGS, out);
    for (int i = 0; i < 8; i++) {
        uint32_t h = bswap32(out[i]);
        if (h != c->tw[i]) return h < c->tw[i];
    }
    return 1;
}

/* Round 1 of the second block, as far as it does not depend on the nonce's low word m13: with
 * the high word m14 fixed, the four columns, diagonals 0, 1 and 3 and the first half of diagonal
 * 2 are the same for every nonce, so they are done once per run. */
static void pow_precompute(const pow_ctx *c, uint32_t hi, uint32_t s[16]) {
    const uint32_t *m = c->m;
    uint32_t v0 = c->cv[0], v1 = c->cv[1], v2 = c->cv[2], v3 = c->cv[3];
    uint32_t v4 = c->cv[4], v5 = c->cv[5], v6 = c->cv[6], v7 = c->cv[7];
    uint32_t v8 = IV[0], v9 = IV[1], v10 = IV[2], v11 = IV[3];
    uint32_t v12 = 0, v13 = 0, v14 = LAST_BLOCK_LEN, v15 = POW_FLAGS;
    G_SCALAR(v0, v4, v8, v12, m[0], m[1]);
    G_SCALAR(v1, v5, v9, v13, m[2], m[3]);
    G_SCALAR(v2, v6, v10, v14, m[4], m[5]);
    G_SCALAR(v3, v7, v11, v15, m[6], m[7]);
    G_SCALAR(v0, v5, v10, v15, m[8], m[9]);
    G_SCALAR(v1, v6, v11, v12, m[10], m[11]);
    G_SCALAR(v3, v4, v9, v14, hi, 0u);
    v2 = v2 + v7 + m[12];
    v13 = ROTR32(v13 ^ v2, 16);
    v8 = v8 + v13;
    v7 = ROTR32(v7 ^ v8, 12);
    s[0] = v0, s[1] = v1, s[2] = v2, s[3] = v3, s[4] = v4, s[5] = v5, s[6] = v6, s[7] = v7;
    s[8] = v8, s[9] = v9, s[10] = v10, s[11] = v11, s[12] = v12, s[13] = v13, s[14] = v14;
    s[15] = v15;
}

/* A scan function hashes nbatch batches of `lanes` consecutive nonces, low words lo, lo+1, ...
 * (never wrapping), high word fixed in s. It stops at the first batch in which some lane's leading
 * hash word (big-endian) is <= the target's leading word, returning that batch's index and the
 * lanes in *mask; it returns nbatch if there is none. Candidates get the full check afterwards. */
typedef uint64_t (*pow_scan_fn)(const pow_ctx *c, const uint32_t s[16], uint32_t lo,
                                uint64_t nbatch, uint32_t *mask);

static uint64_t pow_scan_portable(const pow_ctx *c, const uint32_t s[16], uint32_t lo,
                                  uint64_t nbatch, uint32_t *mask) {
    const uint32_t t0 = c->tw[0];
    uint32_t m[16];
    memcpy(m, c->m, sizeof m); /* m[14] holds the high word, fixed for the run */
    for (uint64_t i = 0; i < nbatch; i++) {
        m[13] = lo + (uint32_t)i;
        uint32_t v0 = s[0], v1 = s[1], v3 = s[3], v4 = s[4], v5 = s[5], v6 = s[6];
        uint32_t v9 = s[9], v10 = s[10], v11 = s[11], v12 = s[12], v14 = s[14], v15 = s[15];
        /* second half of round 1's diagonal 2, the only step of round 1 that sees the nonce */
        uint32_t v2 = s[2] + s[7] + m[13];
        uint32_t v13 = ROTR32(s[13] ^ v2, 8);
        uint32_t v8 = s[8] + v13;
        uint32_t v7 = ROTR32(s[7] ^ v8, 7);
        ROUNDS_1_TO_6(G_SCALAR, VAR_V, MSG_ARRAY);
        if (bswap32(v0 ^ v8) <= t0) {
            *mask = 1u;
            return i;
        }
    }
    return nbatch;
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

TARGET_AVX512 static inline __m512i bswap512(__m512i x) {
    const __m512i lo = _mm512_set1_epi32(0x00FF00FF), hi = _mm512_set1_epi32((int)0xFF00FF00u);
    return _mm512_or_si512(_mm512_and_si512(_mm512_rol_epi32(x, 8), lo),
                           _mm512_and_si512(_mm512_rol_epi32(x, 24), hi));
}

TARGET_AVX512 static uint64_t pow_scan_avx512(const pow_ctx *c, const uint32_t s[16], uint32_t lo,
                                              uint64_t nbatch, uint32_t *mask) {
    const __m512i t0 = _mm512_set1_epi32((int)c->tw[0]);
    const __m512i step = _mm512_set1_epi32(16);
#define SET_M512(i) const __m512i m##i = _mm512_set1_epi32((int)c->m[i])
    SET_M512(0); SET_M512(1); SET_M512(2); SET_M512(3); SET_M512(4); SET_M512(5); SET_M512(6);
    SET_M512(7); SET_M512(8); SET_M512(9); SET_M512(10); SET_M512(11); SET_M512(12);
    SET_M512(14); SET_M512(15);
#undef SET_M512
    const __m512i s0 = _mm512_set1_epi32((int)s[0]), s1 = _mm512_set1_epi32((int)s[1]);
    const __m512i s27 = _mm512_set1_epi32((int)(s[2] + s[7]));
    const __m512i s3 = _mm512_set1_epi32((int)s[3]), s4 = _mm512_set1_epi32((int)s[4]);
    const __m512i s5 = _mm512_set1_epi32((int)s[5]), s6 = _mm512_set1_epi32((int)s[6]);
    const __m512i s7 = _mm512_set1_epi32((int)s[7]), s8 = _mm512_set1_epi32((int)s[8]);
    const __m512i s9 = _mm512_set1_epi32((int)s[9]), s10 = _mm512_set1_epi32((int)s[10]);
    const __m512i s11 = _mm512_set1_epi32((int)s[11]), s12 = _mm512_set1_epi32((int)s[12]);
    const __m512i s13 = _mm512_set1_epi32((int)s[13]), s14 = _mm512_set1_epi32((int)s[14]);
    const __m512i s15 = _mm512_set1_epi32((int)s[15]);
    __m512i m13 = ADD512(_mm512_set1_epi32((int)lo),
                         _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    for (uint64_t i = 0; i < nbatch; i++) {
        __m512i v0 = s0, v1 = s1, v3 = s3, v4 = s4, v5 = s5, v6 = s6;
        __m512i v9 = s9, v10 = s10, v11 = s11, v12 = s12, v14 = s14, v15 = s15;
        /* second half of round 1's diagonal 2, the only step of round 1 that sees the nonce */
        __m512i v2 = ADD512(s27, m13);
        __m512i v13 = _mm512_ror_epi32(XOR512(s13, v2), 8);
        __m512i v8 = ADD512(s8, v13);
        __m512i v7 = _mm512_ror_epi32(XOR512(s7, v8), 7);
        ROUNDS_1_TO_6(G512, VAR_V, VAR_M);
        /* only the leading word is needed here; the compiler drops the rest of the last round */
        __mmask16 hit = _mm512_cmple_epu32_mask(bswap512(XOR512(v0, v8)), t0);
        if (hit) {
            *mask = (uint32_t)hit;
            return i;
        }
        m13 = ADD512(m13, step);
    }
    return nbatch;
}

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

TARGET_AVX2 static uint64_t pow_scan_avx2(const pow_ctx *c, const uint32_t s[16], uint32_t lo,
                                          uint64_t nbatch, uint32_t *mask) {
    ROT_MASKS_256;
    const __m256i bswap = _mm256_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12,
                                           3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
    const __m256i t0 = _mm256_set1_epi32((int)c->tw[0]);
    const __m256i step = _mm256_set1_epi32(8);
#define SET_M256(i) const __m256i m##i = _mm256_set1_epi32((int)c->m[i])
    SET_M256(0); SET_M256(1); SET_M256(2); SET_M256(3); SET_M256(4); SET_M256(5); SET_M256(6);
    SET_M256(7); SET_M256(8); SET_M256(9); SET_M256(10); SET_M256(11); SET_M256(12);
    SET_M256(14); SET_M256(15);
#undef SET_M256
    const __m256i s0 = _mm256_set1_epi32((int)s[0]), s1 = _mm256_set1_epi32((int)s[1]);
    const __m256i s27 = _mm256_set1_epi32((int)(s[2] + s[7]));
    const __m256i s3 = _mm256_set1_epi32((int)s[3]), s4 = _mm256_set1_epi32((int)s[4]);
    const __m256i s5 = _mm256_set1_epi32((int)s[5]), s6 = _mm256_set1_epi32((int)s[6]);
    const __m256i s7 = _mm256_set1_epi32((int)s[7]), s8 = _mm256_set1_epi32((int)s[8]);
    const __m256i s9 = _mm256_set1_epi32((int)s[9]), s10 = _mm256_set1_epi32((int)s[10]);
    const __m256i s11 = _mm256_set1_epi32((int)s[11]), s12 = _mm256_set1_epi32((int)s[12]);
    const __m256i s13 = _mm256_set1_epi32((int)s[13]), s14 = _mm256_set1_epi32((int)s[14]);
    const __m256i s15 = _mm256_set1_epi32((int)s[15]);
    __m256i m13 = ADD256(_mm256_set1_epi32((int)lo), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (uint64_t i = 0; i < nbatch; i++) {
        __m256i v0 = s0, v1 = s1, v3 = s3, v4 = s4, v5 = s5, v6 = s6;
        __m256i v9 = s9, v10 = s10, v11 = s11, v12 = s12, v14 = s14, v15 = s15;
        __m256i v2 = ADD256(s27, m13);
        __m256i v13 = ROT8_256(XOR256(s13, v2));
        __m256i v8 = ADD256(s8, v13);
        __m256i v7 = RORN_256(XOR256(s7, v8), 7);
        ROUNDS_1_TO_6(G256, VAR_V, VAR_M);
        __m256i h = _mm256_shuffle_epi8(XOR256(v0, v8), bswap);
        __m256i le = _mm256_cmpeq_epi32(_mm256_min_epu32(h, t0), h); /* h <= t0, unsigned */
        int hit = _mm256_movemask_ps(_mm256_castsi256_ps(le));
        if (hit) {
            *mask = (uint32_t)hit;
            return i;
        }
        m13 = ADD256(m13, step);
    }
    return nbatch;
}

#endif /* COINIUM_X86_SIMD */

static pow_scan_fn pow_scan_for(int level, int *lanes) {
#ifdef COINIUM_X86_SIMD
    if (level == COINIUM_SIMD_AVX512) {
        *lanes = 16;
        return pow_scan_avx512;
    }
    if (level == COINIUM_SIMD_AVX2) {
        *lanes = 8;
        return pow_scan_avx2;
    }
#else
    (void)level;
#endif
    *lanes = 1;
    return pow_scan_portable;
}

int coinium_pow_search(const uint8_t header[124], const uint8_t target_be[32], uint64_t start,
                       uint64_t count, uint64_t *nonce_out, uint64_t *hashes_out) {
    pow_ctx c;
    uint32_t block0[16], out[16];
    for (int i = 0; i < 16; i++) block0[i] = load32_le(header + 4 * i);
    coinium_b3_compress(IV, block0, 0, 64, CHUNK_START, out);
    memcpy(c.cv, out, sizeof c.cv);
    memset(c.m, 0, sizeof c.m);
    for (int i = 0; i < 15; i++) c.m[i] = load32_le(header + 64 + 4 * i);
    for (int i = 0; i < 8; i++) c.tw[i] = load32_be(target_be + 4 * i);

    int lanes;
    pow_scan_fn scan = pow_scan_for(coinium_simd_level(), &lanes);

    uint64_t n = start, left = count;
    while (left) {
        /* a segment keeps the nonce's high word fixed: up to the next multiple of 2^32 */
        uint32_t lo = (uint32_t)n, hi = (uint32_t)(n >> 32);
        uint64_t seg = ((uint64_t)1 << 32) - lo;
        if (seg > left) seg = left;
        uint64_t nbatch = seg / (uint64_t)lanes;
        if (nbatch) {
            uint32_t s[16];
            c.m[14] = hi;
            pow_precompute(&c, hi, s);
            uint64_t done = 0;
            while (done < nbatch) {
                uint32_t mask = 0;
                uint64_t b = scan(&c, s, lo + (uint32_t)(done * (uint64_t)lanes), nbatch - done, &mask);
                if (b == nbatch - done) break;
                uint64_t base = n + (done + b) * (uint64_t)lanes;
                while (mask) { /* lanes in nonce order, so the first full hit is the answer */
                    uint64_t nonce = base + (uint64_t)lowest_bit(mask);
                    if (pow_hash_meets(&c, nonce)) {
                        *nonce_out = nonce;
                        *hashes_out = nonce - start + 1;
                        return 1;
                    }
                    mask &= mask - 1;
                }
                done += b + 1;
            }
        }
        for (uint64_t i = nbatch * (uint64_t)lanes; i < seg; i++) { /* fewer than `lanes` left */
            uint64_t nonce = n + i;
            if (pow_hash_meets(&c, nonce)) {
                *nonce_out = nonce;
                *hashes_out = nonce - start + 1;
                return 1;
            }
        }
        n += seg; /* wraps to 0 only when the range ended at 2^64-1 and left becomes 0 */
        left -= seg;
    }
    *hashes_out = count;
    return 0;
}

/* ---- Merkle parents -------------------------------------------------------------------------- */

/* A level is np pairs of contiguous 32-byte nodes: parent j hashes in[64j .. 64j+64] (left ||
 * right) and goes to out[32j ..]. out may equal in: each group of parents is read whole before
 * any of it is written, and writes trail reads. */
static void merkle_parents_portable(const uint8_t *in, size_t np, uint8_t *out,
                                    const uint32_t key[8]) {
    for (size_t j = 0; j < np; j++) {
        uint32_t m[16], h[16];
        for (int i = 0; i < 16; i++) m[i] = load32_le(in + 64 * j + 4 * i);
        coinium_b3_compress(key, m, 0, 64, MERKLE_FLAGS, h);
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

/* ngroups groups of 16 parents, starting at parent 0. */
TARGET_AVX512 static void merkle_parents_avx512(const uint8_t *in, size_t ngroups, uint8_t *out,
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
        __m512i v14 = _mm512_set1_epi32(64), v15 = _mm512_set1_epi32((int)MERKLE_FLAGS);
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
        transpose16(r); /* row i: parent i's 8 words, then 8 zero words */
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

/* ngroups groups of 8 parents, starting at parent 0. */
TARGET_AVX2 static void merkle_parents_avx2(const uint8_t *in, size_t ngroups, uint8_t *out,
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
        __m256i v14 = _mm256_set1_epi32(64), v15 = _mm256_set1_epi32((int)MERKLE_FLAGS);
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

/* All np parents of a level into out, as many lanes at a time as the CPU allows: np keyed
 * hashes of 64-byte blocks, which is also what coinium_keyed_hash64 does with any key. */
static void merkle_parents(const uint8_t *in, size_t np, uint8_t *out, const uint32_t key[8]) {
    size_t done = 0;
#ifdef COINIUM_X86_SIMD
    int level = coinium_simd_level();
    if (level == COINIUM_SIMD_AVX512) {
        merkle_parents_avx512(in, np / 16, out, key);
        done = np / 16 * 16;
    } else if (level == COINIUM_SIMD_AVX2) {
        merkle_parents_avx2(in, np / 8, out, key);
        done = np / 8 * 8;
    }
#endif
    merkle_parents_portable(in + 64 * done, np - done, out + 32 * done, key);
}

void coinium_keyed_hash64(const uint8_t *blocks, size_t n, const uint8_t key[32], uint8_t *out) {
    uint32_t kw[8];
    for (int i = 0; i < 8; i++) kw[i] = load32_le(key + 4 * i);
    merkle_parents(blocks, n, out, kw);
}

/* One subtree: n >= 1 contiguous nodes reduced level by level to one node, written to out. The
 * first level reads `leaves` and writes tmp (room for n/2 + 1 nodes); later levels work in tmp. */
static void merkle_reduce(const uint8_t *leaves, size_t n, uint8_t *tmp, const uint32_t key[8],
                          uint8_t out[32]) {
    if (n == 1) {
        memcpy(out, leaves, 32);
        return;
    }
    size_t np = n / 2;
    merkle_parents(leaves, np, tmp, key);
    if (n & 1) memcpy(tmp + 32 * np, leaves + 32 * (n - 1), 32); /* the odd last node moves up */
    n = np + (n & 1);
    while (n > 1) {
        np = n / 2;
        merkle_parents(tmp, np, tmp, key);
        if (n & 1) memmove(tmp + 32 * np, tmp + 32 * (n - 1), 32);
        n = np + (n & 1);
    }
    memcpy(out, tmp, 32);
}

int coinium_merkle_root(const uint8_t *leaves, size_t n, const uint8_t key[32], uint8_t out[32]) {
    uint32_t kw[8];
    if (n == 0) {
        memset(out, 0, 32);
        return 0;
    }
    for (int i = 0; i < 8; i++) kw[i] = load32_le(key + 4 * i);
    /* Cache blocking: an aligned block of COINIUM_MERKLE_BLOCK leaves (a power of two) is a
     * perfect subtree under the level-by-level rule, and the last, partial block reduces by the
     * same rule to the last node of that level. So blocks are reduced one at a time while they
     * sit in L2, then their roots ("tops") are reduced: the result is the level-by-level root. */
    size_t nblocks = (n + COINIUM_MERKLE_BLOCK - 1) / COINIUM_MERKLE_BLOCK;
    size_t first = n < COINIUM_MERKLE_BLOCK ? n : COINIUM_MERKLE_BLOCK;
    uint8_t *tmp = (uint8_t *)malloc(32 * (first / 2 + 1));
    uint8_t *tops = nblocks > 1 ? (uint8_t *)malloc(32 * nblocks) : NULL;
    if (!tmp || (nblocks > 1 && !tops)) {
        free(tmp);
        free(tops);
        return -1;
    }
    if (nblocks == 1) {
        merkle_reduce(leaves, n, tmp, kw, out);
        free(tmp);
        return 0;
    }
    for (size_t b = 0; b < nblocks; b++) {
        size_t m = n - b * COINIUM_MERKLE_BLOCK;
        if (m > COINIUM_MERKLE_BLOCK) m = COINIUM_MERKLE_BLOCK;
        merkle_reduce(leaves + (size_t)32 * COINIUM_MERKLE_BLOCK * b, m, tmp, kw, tops + 32 * b);
    }
    free(tmp);
    int rc = coinium_merkle_root(tops, nblocks, key, out);
    free(tops);
    return rc;
}
