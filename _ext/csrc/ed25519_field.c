/* GF(2^255 - 19): encoding, full reduction and the two fixed exponentiations (see the header). */
#include "ed25519_field.h"

/* d = -121665/121666, 2d and sqrt(-1) = 2^((p-1)/4), as 51-bit limbs. */
const fe fe_d = {{0x34dca135978a3ULL, 0x1a8283b156ebdULL, 0x5e7a26001c029ULL, 0x739c663a03cbbULL,
                  0x52036cee2b6ffULL}};
const fe fe_d2 = {{0x69b9426b2f159ULL, 0x35050762add7aULL, 0x3cf44c0038052ULL, 0x6738cc7407977ULL,
                   0x2406d9dc56dffULL}};
const fe fe_sqrtm1 = {{0x61b274a0ea0b0ULL, 0xd5a5fc8f189dULL, 0x7ef5e9cbd0c60ULL,
                       0x78595a6804c9eULL, 0x2b8324804fc1dULL}};

static uint64_t load64_le(const uint8_t *s) {
    uint64_t r = 0;
    for (int i = 7; i >= 0; i--) r = (r << 8) | s[i];
    return r;
}

void fe_frombytes(fe *r, const uint8_t s[32]) {
    uint64_t w0 = load64_le(s), w1 = load64_le(s + 8), w2 = load64_le(s + 16);
    uint64_t w3 = load64_le(s + 24) & 0x7fffffffffffffffULL; /* drop the sign bit */
    r->v[0] = w0 & FE_MASK51;
    r->v[1] = ((w0 >> 51) | (w1 << 13)) & FE_MASK51;
    r->v[2] = ((w1 >> 38) | (w2 << 26)) & FE_MASK51;
    r->v[3] = ((w2 >> 25) | (w3 << 39)) & FE_MASK51;
    r->v[4] = w3 >> 12;
    /* y may be up to 2^255 - 1, i.e. not reduced below p: arithmetic works mod p regardless. */
}

void fe_tobytes(uint8_t s[32], const fe *a) {
    fe t = *a;
    fe_carry(&t);
    fe_carry(&t); /* now every limb < 2^51 and the value < 2^255 + small */
    /* q = 1 iff t >= p: add 19 and see whether it carries out of bit 255 */
    uint64_t q = (t.v[0] + 19) >> 51;
    q = (t.v[1] + q) >> 51;
    q = (t.v[2] + q) >> 51;
    q = (t.v[3] + q) >> 51;
    q = (t.v[4] + q) >> 51;
    /* t - q p = t + 19 q - q 2^255 */
    t.v[0] += 19 * q;
    uint64_t c;
    c = t.v[0] >> 51, t.v[0] &= FE_MASK51, t.v[1] += c;
    c = t.v[1] >> 51, t.v[1] &= FE_MASK51, t.v[2] += c;
    c = t.v[2] >> 51, t.v[2] &= FE_MASK51, t.v[3] += c;
    c = t.v[3] >> 51, t.v[3] &= FE_MASK51, t.v[4] += c;
    t.v[4] &= FE_MASK51;
    uint64_t w0 = t.v[0] | (t.v[1] << 51);
    uint64_t w1 = (t.v[1] >> 13) | (t.v[2] << 38);
    uint64_t w2 = (t.v[2] >> 26) | (t.v[3] << 25);
    uint64_t w3 = (t.v[3] >> 39) | (t.v[4] << 12);
    for (int i = 0; i < 8; i++) {
        s[i] = (uint8_t)(w0 >> (8 * i));
        s[8 + i] = (uint8_t)(w1 >> (8 * i));
        s[16 + i] = (uint8_t)(w2 >> (8 * i));
        s[24 + i] = (uint8_t)(w3 >> (8 * i));
    }
}

int fe_iszero(const fe *a) {
    uint8_t s[32];
    uint8_t acc = 0;
    fe_tobytes(s, a);
    for (int i = 0; i < 32; i++) acc |= s[i];
    return acc == 0;
}

int fe_equal(const fe *a, const fe *b) {
    fe t;
    fe_sub(&t, a, b);
    return fe_iszero(&t);
}

int fe_isnegative(const fe *a) {
    uint8_t s[32];
    fe_tobytes(s, a);
    return s[0] & 1;
}

/* z^(2^250 - 1), and z^11 on the side: the common start of both exponentiations. */
static void fe_pow_2_250_1(fe *out, fe *z11, const fe *z) {
    fe z2, z9, t0, t1, z2_5_0, z2_10_0, z2_20_0, z2_50_0, z2_100_0;
    fe_sq(&z2, z);                      /* 2 */
    fe_sq_n(&t0, &z2, 2);               /* 8 */
    fe_mul(&z9, &t0, z);                /* 9 */
    fe_mul(z11, &z9, &z2);              /* 11 */
    fe_sq(&t0, z11);                    /* 22 */
    fe_mul(&z2_5_0, &t0, &z9);          /* 2^5 - 1 */
    fe_sq_n(&t0, &z2_5_0, 5);
    fe_mul(&z2_10_0, &t0, &z2_5_0);     /* 2^10 - 1 */
    fe_sq_n(&t0, &z2_10_0, 10);
    fe_mul(&z2_20_0, &t0, &z2_10_0);    /* 2^20 - 1 */
    fe_sq_n(&t0, &z2_20_0, 20);
    fe_mul(&t1, &t0, &z2_20_0);         /* 2^40 - 1 */
    fe_sq_n(&t0, &t1, 10);
    fe_mul(&z2_50_0, &t0, &z2_10_0);    /* 2^50 - 1 */
    fe_sq_n(&t0, &z2_50_0, 50);
    fe_mul(&z2_100_0, &t0, &z2_50_0);   /* 2^100 - 1 */
    fe_sq_n(&t0, &z2_100_0, 100);
    fe_mul(&t1, &t0, &z2_100_0);        /* 2^200 - 1 */
    fe_sq_n(&t0, &t1, 50);
    fe_mul(out, &t0, &z2_50_0);         /* 2^250 - 1 */
}

void fe_invert(fe *r, const fe *a) {
    fe t, z11;
    fe_pow_2_250_1(&t, &z11, a);
    fe_sq_n(&t, &t, 5);   /* 2^255 - 32 */
    fe_mul(r, &t, &z11);  /* 2^255 - 21 = p - 2 */
}

void fe_pow22523(fe *r, const fe *a) {
    fe t, z11;
    fe_pow_2_250_1(&t, &z11, a);
    fe_sq_n(&t, &t, 2);   /* 2^252 - 4 */
    fe_mul(r, &t, a);     /* 2^252 - 3 = (p - 5) / 8 */
}
