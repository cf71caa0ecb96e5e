/* Multi-scalar multiplication: [b]B + sum [s_i] P_i, variable time (every input is public).
 *
 * Straus (interleaved width-5 signed digits, one shared chain of doublings, 8 odd multiples per
 * point, width 8 for B from a fixed table) for small batches; Pippenger's bucket method (signed
 * radix-2^c digits, c chosen from the batch size) for large ones, where its cost per point,
 * about 256/c additions, beats Straus's 256/6 plus a table.
 */
#include "ed25519_msm.h"

#include <stdlib.h>
#include <string.h>

#define STRAUS_W 5
#define STRAUS_TABLE (1 << (STRAUS_W - 2)) /* P, 3P, ..., 15P */
#define BASE_W 8

/* At or above this many points (64 signatures), Pippenger: the crossover measured by
 * bench/test_bench_batch_verify.py. */
#define PIPPENGER_MIN_POINTS 128

static int msm_straus(ge_p3 *out, const sc *b_scalar, const ge_p3 *pts, const sc *scalars,
                      size_t n) {
    ge_cached *tables = NULL;
    int8_t *digits = NULL;
    int8_t b_digits[257];
    if (n) {
        tables = malloc(n * STRAUS_TABLE * sizeof(ge_cached));
        digits = malloc(n * 257);
        if (!tables || !digits) {
            free(tables);
            free(digits);
            return -1;
        }
    }
    int top = -1;
    for (size_t i = 0; i < n; i++) {
        ge_cached *t = tables + i * STRAUS_TABLE;
        ge_completed c;
        ge_p3 twice, cur = pts[i];
        ge_dbl(&c, &pts[i]);
        ge_completed_to_p3(&twice, &c);
        ge_cached twice_c;
        ge_to_cached(&twice_c, &twice);
        ge_to_cached(&t[0], &cur);
        for (int j = 1; j < STRAUS_TABLE; j++) {
            ge_add_cached(&c, &cur, &twice_c, 0);
            ge_completed_to_p3(&cur, &c);
            ge_to_cached(&t[j], &cur);
        }
        sc_wnaf(digits + 257 * i, &scalars[i], STRAUS_W);
        for (int pos = 256; pos > top; pos--) {
            if (digits[257 * i + pos]) {
                top = pos;
                break;
            }
        }
    }
    sc_wnaf(b_digits, b_scalar, BASE_W);
    for (int pos = 256; pos > top; pos--) {
        if (b_digits[pos]) {
            top = pos;
            break;
        }
    }

    ge_p3 acc;
    ge_completed c;
    ge_identity(&acc);
    for (int pos = top; pos >= 0; pos--) {
        ge_dbl(&c, &acc);
        /* c holds the running value; acc is brought up to date before each addition */
        for (size_t i = 0; i < n; i++) {
            int d = digits[257 * i + pos];
            if (!d) continue;
            ge_completed_to_p3(&acc, &c);
            ge_add_cached(&c, &acc, &tables[i * STRAUS_TABLE + (abs(d) >> 1)], d < 0);
        }
        int d = b_digits[pos];
        if (d) {
            ge_completed_to_p3(&acc, &c);
            ge_add_affine(&c, &acc, &ge_base_table[abs(d) >> 1], d < 0);
        }
        if (pos) ge_completed_to_p2(&acc, &c); /* the next step only doubles it */
        else ge_completed_to_p3(&acc, &c);
    }
    *out = acc;
    free(tables);
    free(digits);
    return 0;
}

/* Signed radix-2^c digit of s in window w, given the carry from window w-1. */
static int radix_digit(const sc *s, int w, int c, int *carry) {
    int full = 1 << c, half = full >> 1;
    int v = (int)(sc_bits(s, w * c) & (uint64_t)(full - 1)) + *carry;
    if (v >= half) {
        *carry = 1;
        return v - full;
    }
    *carry = 0;
    return v;
}

static int pippenger_window(size_t n) {
    int best = 4;
    double best_cost = 0;
    for (int c = 4; c <= 16; c++) {
        double windows = (253 + c - 1) / c + 1;
        /* one addition per point and window (scalars average ~190 bits: half are 128-bit),
         * two per bucket and window for the running sums */
        double cost = (double)n * ((190.0 + c - 1) / c) + windows * (double)(1 << c);
        if (c == 4 || cost < best_cost) best = c, best_cost = cost;
    }
    return best;
}

static int msm_pippenger(ge_p3 *out, const sc *b_scalar, const ge_p3 *pts, const sc *scalars,
                         size_t n) {
    const size_t m = n + 1; /* B is the last point */
    const int c = pippenger_window(m);
    const int windows = (253 + c - 1) / c + 1;
    const int nbuckets = 1 << (c - 1);
    int16_t *digits = malloc(m * windows * sizeof(int16_t));
    ge_cached *cached = malloc(m * sizeof(ge_cached));
    ge_affine *affine = malloc(m * sizeof(ge_affine));
    ge_p3 *buckets = malloc(nbuckets * sizeof(ge_p3));
    uint8_t *used = malloc(nbuckets);
    if (!digits || !cached || !affine || !buckets || !used) {
        free(digits), free(cached), free(affine), free(buckets), free(used);
        return -1;
    }
    /* Decoded points have Z = 1 (B too): then the cheaper mixed addition applies to them all. */
    int all_affine = 1;
    for (size_t i = 0; i < m; i++) {
        const sc *s = i < n ? &scalars[i] : b_scalar;
        const ge_p3 *p = i < n ? &pts[i] : &ge_base_point;
        int carry = 0;
        for (int w = 0; w < windows; w++) digits[i * windows + w] = (int16_t)radix_digit(s, w, c, &carry);
        ge_to_cached(&cached[i], p);
        if (ge_z_is_one(p)) ge_to_affine_z1(&affine[i], p);
        else all_affine = 0;
    }

    ge_p3 acc;
    ge_completed t;
    ge_identity(&acc);
    for (int w = windows - 1; w >= 0; w--) {
        if (w != windows - 1) {
            for (int k = 0; k < c; k++) {
                ge_dbl(&t, &acc);
                if (k + 1 < c) ge_completed_to_p2(&acc, &t);
                else ge_completed_to_p3(&acc, &t);
            }
        }
        memset(used, 0, nbuckets);
        for (size_t i = 0; i < m; i++) {
            int d = digits[i * windows + w];
            if (!d) continue;
            int b = (d < 0 ? -d : d) - 1;
            if (!used[b]) {
                const ge_p3 *p = i < n ? &pts[i] : &ge_base_point;
                if (d > 0) buckets[b] = *p;
                else ge_neg(&buckets[b], p);
                used[b] = 1;
            } else {
                if (all_affine) ge_add_affine(&t, &buckets[b], &affine[i], d < 0);
                else ge_add_cached(&t, &buckets[b], &cached[i], d < 0);
                ge_completed_to_p3(&buckets[b], &t);
            }
        }
        /* sum over b of (b+1) bucket[b] = running sums from the top bucket down */
        ge_p3 sum, total;
        int have_sum = 0, have_total = 0;
        for (int b = nbuckets - 1; b >= 0; b--) {
            if (used[b]) {
                if (have_sum) ge_add_p3(&sum, &sum, &buckets[b]);
                else sum = buckets[b], have_sum = 1;
            }
            if (have_sum) {
                if (have_total) ge_add_p3(&total, &total, &sum);
                else total = sum, have_total = 1;
            }
        }
        if (have_total) ge_add_p3(&acc, &acc, &total);
    }
    *out = acc;
    free(digits), free(cached), free(affine), free(buckets), free(used);
    return 0;
}

int ge_msm(ge_p3 *out, const sc *b_scalar, const ge_p3 *pts, const sc *scalars, size_t n,
           int mode) {
    if (mode == MSM_STRAUS || (mode == MSM_AUTO && n < PIPPENGER_MIN_POINTS))
        return msm_straus(out, b_scalar, pts, scalars, n);
    return msm_pippenger(out, b_scalar, pts, scalars, n);
}
