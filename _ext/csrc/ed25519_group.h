/* The Ed25519 group (-x^2 + y^2 = 1 + d x^2 y^2 over GF(2^255 - 19)) and scalars mod L.
 *
 * Points are in extended coordinates (X:Y:Z:T), x = X/Z, y = Y/Z, xy = T/Z (Hisil, Wong, Carter,
 * Dawson 2008). The addition formula is complete on this curve (a = -1 is a square, d is not), so
 * it also adds the identity and doubles. An addition produces a "completed" point (E, F, G, H)
 * with x = E/G, y = H/F; turning it into extended coordinates costs 4 multiplications, into
 * projective ones (no T, enough before a doubling) 3. The second operand of an addition is
 * "cached": (Y+X, Y-X, 2Z, 2dT), or with Z = 1 ("affine") for precomputed tables.
 */
#ifndef COINIUM_ED25519_GROUP_H
#define COINIUM_ED25519_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "ed25519_field.h"

typedef struct {
    fe X, Y, Z, T;
} ge_p3;

typedef struct {
    fe E, F, G, H;
} ge_completed;

typedef struct {
    fe YplusX, YminusX, Z2, T2d;
} ge_cached;

typedef struct {
    fe YplusX, YminusX, T2d; /* Z = 1 */
} ge_affine;

static inline void ge_identity(ge_p3 *r) {
    fe_zero(&r->X);
    fe_one(&r->Y);
    fe_one(&r->Z);
    fe_zero(&r->T);
}

static inline void ge_to_cached(ge_cached *r, const ge_p3 *p) {
    fe_add(&r->YplusX, &p->Y, &p->X);
    fe_sub(&r->YminusX, &p->Y, &p->X);
    fe_add(&r->Z2, &p->Z, &p->Z);
    fe_mul(&r->T2d, &p->T, &fe_d2);
}

/* Z is exactly the limbs of 1 (as decoding leaves it), so X and Y are affine. */
static inline int ge_z_is_one(const ge_p3 *p) {
    return p->Z.v[0] == 1 && (p->Z.v[1] | p->Z.v[2] | p->Z.v[3] | p->Z.v[4]) == 0;
}

/* The Z = 1 form of a point with ge_z_is_one(p). */
static inline void ge_to_affine_z1(ge_affine *r, const ge_p3 *p) {
    fe_add(&r->YplusX, &p->Y, &p->X);
    fe_sub(&r->YminusX, &p->Y, &p->X);
    fe_mul(&r->T2d, &p->T, &fe_d2);
}

static inline void ge_completed_to_p3(ge_p3 *r, const ge_completed *c) {
    fe_mul(&r->X, &c->E, &c->F);
    fe_mul(&r->Y, &c->G, &c->H);
    fe_mul(&r->Z, &c->F, &c->G);
    fe_mul(&r->T, &c->E, &c->H);
}

/* Only X, Y, Z: what a doubling reads. */
static inline void ge_completed_to_p2(ge_p3 *r, const ge_completed *c) {
    fe_mul(&r->X, &c->E, &c->F);
    fe_mul(&r->Y, &c->G, &c->H);
    fe_mul(&r->Z, &c->F, &c->G);
}

/* p + q (sign = 0) or p - q (sign = 1); -q swaps Y+X with Y-X and negates T. */
static inline void ge_add_cached(ge_completed *r, const ge_p3 *p, const ge_cached *q, int negate) {
    fe a, b, c, d, ymx, ypx;
    fe_sub(&ymx, &p->Y, &p->X);
    fe_add(&ypx, &p->Y, &p->X);
    fe_mul(&a, &ymx, negate ? &q->YplusX : &q->YminusX);
    fe_mul(&b, &ypx, negate ? &q->YminusX : &q->YplusX);
    fe_mul(&c, &p->T, &q->T2d);
    fe_mul(&d, &p->Z, &q->Z2);
    fe_sub(&r->E, &b, &a);
    fe_add(&r->H, &b, &a);
    if (negate) {
        fe_add(&r->F, &d, &c);
        fe_sub(&r->G, &d, &c);
    } else {
        fe_sub(&r->F, &d, &c);
        fe_add(&r->G, &d, &c);
    }
}

static inline void ge_add_affine(ge_completed *r, const ge_p3 *p, const ge_affine *q, int negate) {
    fe a, b, c, d, ymx, ypx;
    fe_sub(&ymx, &p->Y, &p->X);
    fe_add(&ypx, &p->Y, &p->X);
    fe_mul(&a, &ymx, negate ? &q->YplusX : &q->YminusX);
    fe_mul(&b, &ypx, negate ? &q->YminusX : &q->YplusX);
    fe_mul(&c, &p->T, &q->T2d);
    fe_add(&d, &p->Z, &p->Z);
    fe_sub(&r->E, &b, &a);
    fe_add(&r->H, &b, &a);
    if (negate) {
        fe_add(&r->F, &d, &c);
        fe_sub(&r->G, &d, &c);
    } else {
        fe_sub(&r->F, &d, &c);
        fe_add(&r->G, &d, &c);
    }
}

/* 2p, reading only X, Y, Z. */
static inline void ge_dbl(ge_completed *r, const ge_p3 *p) {
    fe a, b, c, xy;
    fe_sq(&a, &p->X);
    fe_sq(&b, &p->Y);
    fe_sq(&c, &p->Z);
    fe_add(&c, &c, &c);
    fe_add(&xy, &p->X, &p->Y);
    fe_sq(&xy, &xy);
    fe_add(&r->H, &a, &b);
    fe_sub(&r->E, &r->H, &xy);
    fe_sub(&r->G, &a, &b);
    fe_add(&r->F, &c, &r->G);
}

static inline void ge_add_p3(ge_p3 *r, const ge_p3 *p, const ge_p3 *q) {
    ge_cached qc;
    ge_completed t;
    ge_to_cached(&qc, q);
    ge_add_cached(&t, p, &qc, 0);
    ge_completed_to_p3(r, &t);
}

static inline void ge_neg(ge_p3 *r, const ge_p3 *p) {
    fe_neg(&r->X, &p->X);
    r->Y = p->Y;
    r->Z = p->Z;
    fe_neg(&r->T, &p->T);
}

/* ZIP-215 decoding: y = the low 255 bits mod p (non-canonical allowed), the top bit is x's sign,
 * x = 0 with the sign bit set decodes to x = 0. Returns 0, or -1 if no point has this y. */
int ge_frombytes_zip215(ge_p3 *r, const uint8_t s[32]);
int ge_is_identity(const ge_p3 *p);
/* [8]p is the identity: p is one of the 8 points of order 1, 2, 4 or 8. */
int ge_has_small_order(const ge_p3 *p);
/* r = [8]p */
void ge_times_eight(ge_p3 *r, const ge_p3 *p);

/* Odd multiples B, 3B, ..., 127B of the base point, for width-8 signed digits. */
#define GE_BASE_TABLE_SIZE 64
extern ge_affine ge_base_table[GE_BASE_TABLE_SIZE];
extern ge_p3 ge_base_point;
/* Builds ge_base_table (once; call before any thread uses it). Returns 0, or -1 on a bug. */
int ge_init(void);

/* ---- scalars mod L = 2^252 + 27742317777372353535851937790883648493, 4 x 64-bit limbs ---- */
typedef struct {
    uint64_t v[4];
} sc;

void sc_from_bytes(sc *r, const uint8_t s[32]); /* no reduction */
int sc_is_canonical(const uint8_t s[32]);        /* s < L */
void sc_reduce512(sc *r, const uint8_t h[64]);   /* h mod L, h little-endian */
void sc_mul(sc *r, const sc *a, const sc *b);    /* a b mod L; needs b < L */
void sc_add(sc *r, const sc *a, const sc *b);    /* a + b mod L; needs a, b < L */
void sc_neg(sc *r, const sc *a);                 /* -a mod L; needs a < L */
uint64_t sc_bits(const sc *s, int pos);          /* bits pos .. pos+63, zero above 255 */
/* width-w non-adjacent form of s < 2^253: digits[0..256], odd or zero, |d| < 2^(w-1) */
void sc_wnaf(int8_t digits[257], const sc *s, int w);

#endif
