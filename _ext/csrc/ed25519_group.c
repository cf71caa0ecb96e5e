/* Ed25519 point decoding (ZIP-215), the base point's table, and scalar arithmetic mod L. */
#include "ed25519_group.h"

#include <string.h>

ge_affine ge_base_table[GE_BASE_TABLE_SIZE];
ge_p3 ge_base_point;

int ge_frombytes_zip215(ge_p3 *r, const uint8_t s[32]) {
    fe y, u, v, v3, vxx, x, t, one;
    fe_one(&one);
    fe_frombytes(&y, s); /* any y below 2^255, taken mod p */
    fe_sq(&u, &y);
    fe_mul(&v, &u, &fe_d);
    fe_sub(&u, &u, &one); /* u = y^2 - 1 */
    fe_add(&v, &v, &one); /* v = d y^2 + 1, never 0 */

    /* x = u v^3 (u v^7)^((p-5)/8): a square root of u/v, or of -u/v, without an inversion */
    fe_sq(&v3, &v);
    fe_mul(&v3, &v3, &v);      /* v^3 */
    fe_sq(&x, &v3);
    fe_mul(&x, &x, &v);        /* v^7 */
    fe_mul(&x, &x, &u);        /* u v^7 */
    fe_pow22523(&x, &x);
    fe_mul(&x, &x, &v3);
    fe_mul(&x, &x, &u);

    fe_sq(&vxx, &x);
    fe_mul(&vxx, &vxx, &v);
    fe_sub(&t, &vxx, &u);
    if (!fe_iszero(&t)) {
        fe_add(&t, &vxx, &u);
        if (!fe_iszero(&t)) return -1; /* u/v is not a square: y is on no point */
        fe_mul(&x, &x, &fe_sqrtm1);
    }
    if (fe_isnegative(&x) != (s[31] >> 7)) fe_neg(&x, &x); /* -0 = 0: accepted, as ZIP-215 */

    r->X = x;
    fe_carry(&y);
    r->Y = y;
    fe_one(&r->Z);
    fe_mul(&r->T, &x, &y);
    return 0;
}

int ge_is_identity(const ge_p3 *p) { return fe_iszero(&p->X) && fe_equal(&p->Y, &p->Z); }

void ge_times_eight(ge_p3 *r, const ge_p3 *p) {
    ge_completed c;
    ge_p3 t = *p;
    ge_dbl(&c, &t);
    ge_completed_to_p2(&t, &c);
    ge_dbl(&c, &t);
    ge_completed_to_p2(&t, &c);
    ge_dbl(&c, &t);
    ge_completed_to_p3(r, &c);
}

int ge_has_small_order(const ge_p3 *p) {
    ge_p3 t;
    ge_times_eight(&t, p);
    return ge_is_identity(&t);
}

int ge_init(void) {
    static const uint8_t base_encoding[32] = {
        0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
        0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
        0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66};
    ge_p3 b, b2, odd[GE_BASE_TABLE_SIZE];
    if (ge_frombytes_zip215(&b, base_encoding) != 0) return -1;
    ge_base_point = b;
    ge_completed c;
    ge_dbl(&c, &b);
    ge_completed_to_p3(&b2, &c);
    odd[0] = b;
    for (int i = 1; i < GE_BASE_TABLE_SIZE; i++) ge_add_p3(&odd[i], &odd[i - 1], &b2);
    for (int i = 0; i < GE_BASE_TABLE_SIZE; i++) { /* to Z = 1 */
        fe zinv, x, y, t;
        fe_invert(&zinv, &odd[i].Z);
        fe_mul(&x, &odd[i].X, &zinv);
        fe_mul(&y, &odd[i].Y, &zinv);
        fe_mul(&t, &x, &y);
        fe_add(&ge_base_table[i].YplusX, &y, &x);
        fe_sub(&ge_base_table[i].YminusX, &y, &x);
        fe_mul(&ge_base_table[i].T2d, &t, &fe_d2);
    }
    return 0;
}

/* ---------------------------------- scalars mod L ---------------------------------- */

static const sc SC_L = {{0x5812631a5cf5d3edULL, 0x14def9dea2f79cd6ULL, 0, 0x1000000000000000ULL}};
static const sc SC_R2 = {{0xa40611e3449c0f01ULL, 0xd00e1ba768859347ULL, 0xceec73d217f5be65ULL,
                          0x399411b7c309a3dULL}}; /* 2^512 mod L */
static const sc SC_R3 = {{0x2a9e49687b83a2dbULL, 0x278324e6aef7f3ecULL, 0x8065dc6c04ec5b65ULL,
                          0xe530b773599cec7ULL}}; /* 2^768 mod L */
static const uint64_t SC_LINV = 0xd2b51da312547e1bULL; /* -1/L mod 2^64 */

static uint64_t load64(const uint8_t *s) {
    uint64_t r = 0;
    for (int i = 7; i >= 0; i--) r = (r << 8) | s[i];
    return r;
}

void sc_from_bytes(sc *r, const uint8_t s[32]) {
    for (int i = 0; i < 4; i++) r->v[i] = load64(s + 8 * i);
}

/* a >= b as 256-bit numbers */
static int sc_geq(const sc *a, const sc *b) {
    for (int i = 3; i >= 0; i--) {
        if (a->v[i] != b->v[i]) return a->v[i] > b->v[i];
    }
    return 1;
}

static void sc_sub_raw(sc *r, const sc *a, const sc *b) {
    uint64_t borrow = 0;
    for (int i = 0; i < 4; i++) {
        coinium_u128 d = (coinium_u128)a->v[i] - b->v[i] - borrow;
        r->v[i] = (uint64_t)d;
        borrow = (uint64_t)(d >> 64) & 1;
    }
}

int sc_is_canonical(const uint8_t s[32]) {
    sc x;
    sc_from_bytes(&x, s);
    return !sc_geq(&x, &SC_L);
}

/* Montgomery product a b / 2^256 mod L, for a < 2^256 and b < L (then the result is below 2L
 * before the final subtraction). */
static void sc_montmul(sc *r, const sc *a, const sc *b) {
    uint64_t t[6] = {0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 4; i++) {
        coinium_u128 c = 0;
        for (int j = 0; j < 4; j++) {
            c += (coinium_u128)a->v[j] * b->v[i] + t[j];
            t[j] = (uint64_t)c;
            c >>= 64;
        }
        c += t[4];
        t[4] = (uint64_t)c;
        t[5] = (uint64_t)(c >> 64);
        uint64_t m = t[0] * SC_LINV;
        c = (coinium_u128)m * SC_L.v[0] + t[0];
        c >>= 64;
        for (int j = 1; j < 4; j++) {
            c += (coinium_u128)m * SC_L.v[j] + t[j];
            t[j - 1] = (uint64_t)c;
            c >>= 64;
        }
        c += t[4];
        t[3] = (uint64_t)c;
        t[4] = t[5] + (uint64_t)(c >> 64);
    }
    sc out = {{t[0], t[1], t[2], t[3]}};
    if (t[4] || sc_geq(&out, &SC_L)) sc_sub_raw(&out, &out, &SC_L);
    *r = out;
}

void sc_reduce512(sc *r, const uint8_t h[64]) {
    sc lo, hi, a, b, one = {{1, 0, 0, 0}};
    sc_from_bytes(&lo, h);
    sc_from_bytes(&hi, h + 32);
    sc_montmul(&a, &lo, &SC_R2); /* lo 2^256 mod L */
    sc_montmul(&b, &hi, &SC_R3); /* hi 2^512 mod L */
    sc_add(&a, &a, &b);          /* h 2^256 mod L */
    sc_montmul(r, &a, &one);     /* h mod L */
}

void sc_mul(sc *r, const sc *a, const sc *b) {
    sc t;
    sc_montmul(&t, a, b);
    sc_montmul(r, &t, &SC_R2);
}

void sc_add(sc *r, const sc *a, const sc *b) {
    uint64_t carry = 0;
    sc s;
    for (int i = 0; i < 4; i++) {
        coinium_u128 x = (coinium_u128)a->v[i] + b->v[i] + carry;
        s.v[i] = (uint64_t)x;
        carry = (uint64_t)(x >> 64);
    }
    /* a + b < 2L < 2^254: no carry out */
    if (sc_geq(&s, &SC_L)) sc_sub_raw(&s, &s, &SC_L);
    *r = s;
}

void sc_neg(sc *r, const sc *a) {
    if ((a->v[0] | a->v[1] | a->v[2] | a->v[3]) == 0) {
        *r = *a;
        return;
    }
    sc_sub_raw(r, &SC_L, a);
}

/* Bits pos .. pos+63 of s (zero above bit 255). */
uint64_t sc_bits(const sc *s, int pos) {
    int idx = pos / 64, shift = pos % 64;
    if (idx >= 4) return 0;
    uint64_t lo = s->v[idx] >> shift;
    if (shift && idx + 1 < 4) lo |= s->v[idx + 1] << (64 - shift);
    return lo;
}

void sc_wnaf(int8_t digits[257], const sc *s, int w) {
    /* Right to left: at an odd window take the signed residue mod 2^w (|d| < 2^(w-1)), carry 1
     * when it is negative, and skip the window's w bits; an even window gives a 0 digit. */
    const uint64_t full = (uint64_t)1 << w, half = full >> 1;
    uint64_t carry = 0;
    memset(digits, 0, 257);
    for (int pos = 0; pos < 257;) {
        uint64_t window = carry + (sc_bits(s, pos) & (full - 1));
        if ((window & 1) == 0) {
            pos++;
            continue;
        }
        if (window < half) {
            digits[pos] = (int8_t)window;
            carry = 0;
        } else {
            digits[pos] = (int8_t)((int)window - (int)full);
            carry = 1;
        }
        pos += w;
    }
}
