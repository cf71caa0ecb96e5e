/* Arithmetic in GF(2^255 - 19) for the Ed25519 checks: five 51-bit limbs, 128-bit products.
 *
 * An element is v[0] + v[1] 2^51 + ... + v[4] 2^204, not necessarily reduced. Bounds the code
 * relies on: fe_mul / fe_sq / fe_sub / fe_carry return limbs below 2^51 + 2^15; fe_mul and fe_sq
 * accept limbs below 2^54; fe_add does not carry (two carried inputs give limbs below 2^53), and
 * fe_sub accepts a subtrahend with limbs below 2^53 (it adds 4p first).
 * Only fe_tobytes (and what uses it) reduces fully to the canonical value.
 */
#ifndef COINIUM_ED25519_FIELD_H
#define COINIUM_ED25519_FIELD_H

#include <stdint.h>

typedef unsigned __int128 coinium_u128;

typedef struct {
    uint64_t v[5];
} fe;

#define FE_MASK51 ((uint64_t)0x7ffffffffffffULL)

static inline void fe_copy(fe *r, const fe *a) { *r = *a; }

static inline void fe_zero(fe *r) { r->v[0] = r->v[1] = r->v[2] = r->v[3] = r->v[4] = 0; }

static inline void fe_one(fe *r) {
    fe_zero(r);
    r->v[0] = 1;
}

/* One pass of carries; the top carry wraps around times 19 (2^255 = 19 mod p). */
static inline void fe_carry(fe *r) {
    uint64_t c;
    c = r->v[0] >> 51, r->v[0] &= FE_MASK51, r->v[1] += c;
    c = r->v[1] >> 51, r->v[1] &= FE_MASK51, r->v[2] += c;
    c = r->v[2] >> 51, r->v[2] &= FE_MASK51, r->v[3] += c;
    c = r->v[3] >> 51, r->v[3] &= FE_MASK51, r->v[4] += c;
    c = r->v[4] >> 51, r->v[4] &= FE_MASK51, r->v[0] += 19 * c;
}

static inline void fe_add(fe *r, const fe *a, const fe *b) {
    for (int i = 0; i < 5; i++) r->v[i] = a->v[i] + b->v[i];
}

/* a - b + 4p, then carried: never negative for b's limbs below 2^53 - 76. */
static inline void fe_sub(fe *r, const fe *a, const fe *b) {
    r->v[0] = (a->v[0] + 0x1fffffffffffb4ULL) - b->v[0];
    r->v[1] = (a->v[1] + 0x1ffffffffffffcULL) - b->v[1];
    r->v[2] = (a->v[2] + 0x1ffffffffffffcULL) - b->v[2];
    r->v[3] = (a->v[3] + 0x1ffffffffffffcULL) - b->v[3];
    r->v[4] = (a->v[4] + 0x1ffffffffffffcULL) - b->v[4];
    fe_carry(r);
}

static inline void fe_neg(fe *r, const fe *a) {
    fe z;
    fe_zero(&z);
    fe_sub(r, &z, a);
}

/* Reduce the five 128-bit column sums of a product to carried limbs. */
static inline void fe_reduce_wide(fe *r, coinium_u128 t0, coinium_u128 t1, coinium_u128 t2,
                                  coinium_u128 t3, coinium_u128 t4) {
    uint64_t r0, r1, r2, r3, r4, c;
    t1 += (uint64_t)(t0 >> 51), r0 = (uint64_t)t0 & FE_MASK51;
    t2 += (uint64_t)(t1 >> 51), r1 = (uint64_t)t1 & FE_MASK51;
    t3 += (uint64_t)(t2 >> 51), r2 = (uint64_t)t2 & FE_MASK51;
    t4 += (uint64_t)(t3 >> 51), r3 = (uint64_t)t3 & FE_MASK51;
    c = (uint64_t)(t4 >> 51), r4 = (uint64_t)t4 & FE_MASK51;
    r0 += c * 19;
    c = r0 >> 51, r0 &= FE_MASK51;
    r1 += c;
    r->v[0] = r0, r->v[1] = r1, r->v[2] = r2, r->v[3] = r3, r->v[4] = r4;
}

static inline void fe_mul(fe *r, const fe *a, const fe *b) {
    const uint64_t a0 = a->v[0], a1 = a->v[1], a2 = a->v[2], a3 = a->v[3], a4 = a->v[4];
    const uint64_t b0 = b->v[0], b1 = b->v[1], b2 = b->v[2], b3 = b->v[3], b4 = b->v[4];
    /* limbs above 2^255 wrap around times 19 */
    const uint64_t b1_19 = 19 * b1, b2_19 = 19 * b2, b3_19 = 19 * b3, b4_19 = 19 * b4;
    coinium_u128 t0 = (coinium_u128)a0 * b0 + (coinium_u128)a1 * b4_19 +
                      (coinium_u128)a2 * b3_19 + (coinium_u128)a3 * b2_19 +
                      (coinium_u128)a4 * b1_19;
    coinium_u128 t1 = (coinium_u128)a0 * b1 + (coinium_u128)a1 * b0 + (coinium_u128)a2 * b4_19 +
                      (coinium_u128)a3 * b3_19 + (coinium_u128)a4 * b2_19;
    coinium_u128 t2 = (coinium_u128)a0 * b2 + (coinium_u128)a1 * b1 + (coinium_u128)a2 * b0 +
                      (coinium_u128)a3 * b4_19 + (coinium_u128)a4 * b3_19;
    coinium_u128 t3 = (coinium_u128)a0 * b3 + (coinium_u128)a1 * b2 + (coinium_u128)a2 * b1 +
                      (coinium_u128)a3 * b0 + (coinium_u128)a4 * b4_19;
    coinium_u128 t4 = (coinium_u128)a0 * b4 + (coinium_u128)a1 * b3 + (coinium_u128)a2 * b2 +
                      (coinium_u128)a3 * b1 + (coinium_u128)a4 * b0;
    fe_reduce_wide(r, t0, t1, t2, t3, t4);
}

static inline void fe_sq(fe *r, const fe *a) {
    const uint64_t a0 = a->v[0], a1 = a->v[1], a2 = a->v[2], a3 = a->v[3], a4 = a->v[4];
    const uint64_t d0 = 2 * a0, d1 = 2 * a1, d2 = 2 * a2, d3 = 2 * a3;
    const uint64_t a3_19 = 19 * a3, a4_19 = 19 * a4;
    coinium_u128 t0 = (coinium_u128)a0 * a0 + (coinium_u128)d1 * a4_19 +
                      (coinium_u128)d2 * a3_19;
    coinium_u128 t1 = (coinium_u128)d0 * a1 + (coinium_u128)d2 * a4_19 +
                      (coinium_u128)a3 * a3_19;
    coinium_u128 t2 = (coinium_u128)d0 * a2 + (coinium_u128)a1 * a1 + (coinium_u128)d3 * a4_19;
    coinium_u128 t3 = (coinium_u128)d0 * a3 + (coinium_u128)d1 * a2 + (coinium_u128)a4 * a4_19;
    coinium_u128 t4 = (coinium_u128)d0 * a4 + (coinium_u128)d1 * a3 + (coinium_u128)a2 * a2;
    fe_reduce_wide(r, t0, t1, t2, t3, t4);
}

/* r = a^(2^n) */
static inline void fe_sq_n(fe *r, const fe *a, int n) {
    fe_sq(r, a);
    for (int i = 1; i < n; i++) fe_sq(r, r);
}

/* The 255 low bits of s, little-endian, taken mod p (the top bit is ignored: it is x's sign). */
void fe_frombytes(fe *r, const uint8_t s[32]);
/* The canonical encoding (fully reduced below p). */
void fe_tobytes(uint8_t s[32], const fe *a);
int fe_iszero(const fe *a);
int fe_equal(const fe *a, const fe *b);
int fe_isnegative(const fe *a); /* the low bit of the canonical value */
void fe_invert(fe *r, const fe *a);   /* a^(p-2) */
void fe_pow22523(fe *r, const fe *a); /* a^((p-5)/8) */

extern const fe fe_d, fe_d2, fe_sqrtm1;

#endif
