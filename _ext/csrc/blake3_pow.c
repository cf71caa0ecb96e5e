/* Nonce search: BLAKE3-256 of a 124-byte header for consecutive nonces, 16 (AVX-512), 8 (AVX2)
 * or 1 (portable) nonces per pass, the first block's chaining value and most of round 1 computed
 * once per run (see docs/KERNELS.md). */
#include "blake3_internal.h"

#include <string.h>

#define HEADER_SIZE 124
#define LAST_BLOCK_LEN 60u /* bytes 64..123 of the header: 15 message words, the last zero */
#define POW_FLAGS (CHUNK_END | ROOT)

static inline uint32_t load32_be(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline uint32_t bswap32(uint32_t w) {
    return (w >> 24) | ((w >> 8) & 0xFF00u) | ((w << 8) & 0xFF0000u) | (w << 24);
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
