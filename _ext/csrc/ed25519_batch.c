/* Coinium's Ed25519 rule in C: one check, and batches of checks.
 *
 * A signature (R || s) on M under A is valid iff A and R decode (ZIP-215: y mod p, non-canonical
 * allowed), s < L, A is not of small order (Coinium's addition to ZIP-215), and
 * [8]([s]B - R - [k]A) is the identity, k = SHA-512(R || A || M) mod L over the bytes as given.
 *
 * A batch draws 128-bit coefficients z_i from the OS and checks
 *     [8]( [-sum z_i s_i]B + sum [z_i]R_i + sum [z_i k_i]A_i ) = identity
 * with one multi-scalar multiplication. The factor 8 removes every torsion component, so a batch
 * passes iff every signature passes the single check, except with probability about 2^-125 for
 * invalid signatures chosen before the z_i. When a batch fails it is halved until the bad
 * signatures are found, so every signature still gets its own verdict. The sums are linear: if a
 * set fails and its left half passes, the right half must fail and is not checked again.
 */
#include "ed25519_batch.h"

#include <stdlib.h>
#include <string.h>

#include "ed25519_group.h"
#include "ed25519_keycache.h"
#include "ed25519_msm.h"

#if !defined(_WIN32) && (defined(__GNUC__) || defined(__clang__))
#define COINIUM_ED_PTHREADS 1
#include <pthread.h>
#endif
#if defined(__linux__)
#include <sys/random.h>
#endif
#include <stdio.h>

#define MAX_THREADS 256
#define MIN_SLICE 64   /* smaller slices lose more to fixed costs than threads gain */
#define MAX_SLICE 4096 /* beyond this a larger batch saves little per signature */
#define SMALL_MSG 1024         /* hash inputs up to this size use a stack buffer */

/* Everything the checks need about one signature that passed decoding. */
typedef struct {
    size_t index; /* position in the caller's arrays */
    sc s, k;
} prepared;

static int initialized = 0;

int coinium_ed25519_init(void) {
    if (initialized) return 0;
    if (ge_init() != 0) return -1;
    initialized = 1;
    return 0;
}

/* The OS's CSPRNG; 0 on success. */
static int os_random(void *buf, size_t len) {
    unsigned char *p = buf;
#if defined(__linux__)
    while (len) {
        ssize_t got = getrandom(p, len, 0);
        if (got < 0) break;
        p += got, len -= (size_t)got;
    }
    if (!len) return 0;
#endif
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f) return -1;
    size_t got = fread(p, 1, len, f);
    fclose(f);
    return got == len ? 0 : -1;
}

/* k = SHA-512(R || A || M) mod L. Returns -1 if memory runs out. */
static int challenge(sc *k, coinium_sha512_fn sha512, const unsigned char *r,
                     const unsigned char *a, const unsigned char *msg, size_t msg_len) {
    unsigned char small[64 + SMALL_MSG], h[64];
    unsigned char *buf = msg_len <= SMALL_MSG ? small : malloc(64 + msg_len);
    if (!buf) return -1;
    memcpy(buf, r, 32);
    memcpy(buf + 32, a, 32);
    if (msg_len) memcpy(buf + 64, msg, msg_len);
    sha512(h, buf, 64 + (unsigned long long)msg_len);
    if (buf != small) free(buf);
    sc_reduce512(k, h);
    return 0;
}

/* Decode and hash one signature. 1: ready for the equation; 0: invalid; -1: out of memory. */
static int prepare(prepared *out, ge_p3 *r_point, ge_p3 *a_point, coinium_sha512_fn sha512,
                   const unsigned char *pk, size_t pk_len, const unsigned char *msg,
                   size_t msg_len, const unsigned char *sig, size_t sig_len, int rule) {
    if (!pk || !sig || pk_len != 32 || sig_len != 64 || (!msg && msg_len)) return 0;
    if (!sc_is_canonical(sig + 32)) return 0;
    if (ge_frombytes_key_cached(a_point, pk) != 0) return 0;
    if ((rule & COINIUM_ED25519_REJECT_SMALL_ORDER_KEY) && ge_has_small_order(a_point)) return 0;
    if (ge_frombytes_zip215(r_point, sig) != 0) return 0;
    if (challenge(&out->k, sha512, sig, pk, msg, msg_len) != 0) return -1;
    sc_from_bytes(&out->s, sig + 32);
    return 1;
}

/* [8]([b]B + sum scalars[i] pts[i]) is the identity: 1 yes, 0 no, -1 out of memory. */
static int combination_vanishes(const sc *b, const ge_p3 *pts, const sc *scalars, size_t n,
                                int mode) {
    ge_p3 sum, eight;
    if (ge_msm(&sum, b, pts, scalars, n, mode) != 0) return -1;
    ge_times_eight(&eight, &sum);
    return ge_is_identity(&eight);
}

/* The single check on a prepared signature: [8]([-s]B + R + [k]A) = identity. */
static int check_one(const prepared *p, const ge_p3 *r_and_a) {
    sc b, scalars[2] = {{{1, 0, 0, 0}}, p->k};
    sc_neg(&b, &p->s);
    return combination_vanishes(&b, r_and_a, scalars, 2, MSM_STRAUS);
}

int coinium_ed25519_verify_one(coinium_sha512_fn sha512, const unsigned char *pk, size_t pk_len,
                               const unsigned char *msg, size_t msg_len,
                               const unsigned char *sig, size_t sig_len, int rule) {
    prepared p;
    ge_p3 pts[2];
    int ready = prepare(&p, &pts[0], &pts[1], sha512, pk, pk_len, msg, msg_len, sig, sig_len, rule);
    if (ready != 1) return ready;
    return check_one(&p, pts);
}

/* One thread's share: signatures [lo, hi) of the caller's arrays. */
typedef struct {
    coinium_sha512_fn sha512;
    const unsigned char *const *pks, *const *msgs, *const *sigs;
    const size_t *pk_len, *msg_len, *sig_len;
    uint8_t *ok;
    size_t lo, hi;
    int rule, mode;
    int out_of_mem;
    /* working arrays over the signatures that decoded (count `m`) */
    size_t m;
    prepared *prep;
    ge_p3 *pts;      /* R_0, A_0, R_1, A_1, ... */
    sc *scalars;     /* z_0, z_0 k_0, z_1, z_1 k_1, ... */
    sc *zs;          /* z_i s_i mod L */
} slice_job;

/* Does the batch equation hold for prepared signatures [lo, hi)? 1, 0, or -1 out of memory. */
static int batch_holds(slice_job *job, size_t lo, size_t hi) {
    sc sum = {{0, 0, 0, 0}}, b;
    for (size_t i = lo; i < hi; i++) sc_add(&sum, &sum, &job->zs[i]);
    sc_neg(&b, &sum);
    return combination_vanishes(&b, job->pts + 2 * lo, job->scalars + 2 * lo, 2 * (hi - lo),
                                job->mode);
}

static void mark(slice_job *job, size_t lo, size_t hi, uint8_t verdict) {
    for (size_t i = lo; i < hi; i++) job->ok[job->prep[i].index] = verdict;
}

/* [lo, hi) is known to fail as a whole: find which of its signatures are bad. */
static int find_bad(slice_job *job, size_t lo, size_t hi) {
    if (hi - lo == 1) { /* a one-element failing set is that signature's own failure */
        mark(job, lo, hi, 0);
        return 0;
    }
    size_t mid = lo + (hi - lo) / 2;
    int left = batch_holds(job, lo, mid);
    if (left < 0) return -1;
    if (left) {
        mark(job, lo, mid, 1);
        return find_bad(job, mid, hi); /* the failure is all on the right */
    }
    if (find_bad(job, lo, mid) != 0) return -1;
    int right = batch_holds(job, mid, hi);
    if (right < 0) return -1;
    if (right) {
        mark(job, mid, hi, 1);
        return 0;
    }
    return find_bad(job, mid, hi);
}

static int run_slice(slice_job *job) {
    size_t count = job->hi - job->lo;
    job->prep = malloc(count * sizeof(prepared));
    job->pts = malloc(2 * count * sizeof(ge_p3));
    job->scalars = malloc(2 * count * sizeof(sc));
    job->zs = malloc(count * sizeof(sc));
    uint8_t *z_bytes = malloc(16 * count);
    int rc = -1;
    if (!job->prep || !job->pts || !job->scalars || !job->zs || !z_bytes) goto done;

    job->m = 0;
    for (size_t i = job->lo; i < job->hi; i++) {
        size_t m = job->m;
        int ready = prepare(&job->prep[m], &job->pts[2 * m], &job->pts[2 * m + 1], job->sha512,
                            job->pks[i], job->pk_len[i], job->msgs[i], job->msg_len[i],
                            job->sigs[i], job->sig_len[i], job->rule);
        if (ready < 0) goto done;
        job->ok[i] = 0;
        if (ready) job->prep[job->m++].index = i;
    }
    if (job->m == 0) {
        rc = 0;
        goto done;
    }
    if (job->m == 1 || os_random(z_bytes, 16 * job->m) != 0) {
        /* one signature, or no randomness to be had: single checks, with the same rule */
        for (size_t i = 0; i < job->m; i++) {
            int v = check_one(&job->prep[i], &job->pts[2 * i]);
            if (v < 0) goto done;
            job->ok[job->prep[i].index] = (uint8_t)v;
        }
        rc = 0;
        goto done;
    }
    for (size_t i = 0; i < job->m; i++) {
        sc z = {{0, 0, 0, 0}};
        for (int b = 0; b < 8; b++) {
            z.v[0] |= (uint64_t)z_bytes[16 * i + b] << (8 * b);
            z.v[1] |= (uint64_t)z_bytes[16 * i + 8 + b] << (8 * b);
        }
        if ((z.v[0] | z.v[1]) == 0) z.v[0] = 1; /* z = 0 would drop the signature */
        job->scalars[2 * i] = z;
        sc_mul(&job->scalars[2 * i + 1], &z, &job->prep[i].k);
        sc_mul(&job->zs[i], &z, &job->prep[i].s);
    }
    int all = batch_holds(job, 0, job->m);
    if (all < 0) goto done;
    if (all) mark(job, 0, job->m, 1);
    else if (find_bad(job, 0, job->m) != 0) goto done;
    rc = 0;
done:
    free(job->prep), free(job->pts), free(job->scalars), free(job->zs), free(z_bytes);
    job->out_of_mem = rc != 0;
    return rc;
}

/* The whole call: slices of the caller's arrays, claimed one at a time by the threads, so a
 * thread that the OS runs less (other work on the machine) takes fewer of them. */
typedef struct {
    slice_job proto; /* everything but lo and hi */
    size_t n, slice, next; /* next: the next unclaimed index, shared */
    int out_of_mem;
} batch_job;

static void *batch_worker(void *arg) {
    batch_job *batch = (batch_job *)arg;
    for (;;) {
#ifdef COINIUM_ED_PTHREADS
        size_t lo = __atomic_fetch_add(&batch->next, batch->slice, __ATOMIC_RELAXED);
#else
        size_t lo = batch->next;
        batch->next += batch->slice;
#endif
        if (lo >= batch->n) break;
        slice_job job = batch->proto;
        job.lo = lo;
        job.hi = lo + batch->slice < batch->n ? lo + batch->slice : batch->n;
        if (run_slice(&job) != 0) {
#ifdef COINIUM_ED_PTHREADS
            __atomic_store_n(&batch->out_of_mem, 1, __ATOMIC_RELAXED);
#else
            batch->out_of_mem = 1;
#endif
        }
    }
    return NULL;
}

int coinium_ed25519_verify_batch(coinium_sha512_fn sha512, size_t n,
                                 const unsigned char *const *pks, const size_t *pk_len,
                                 const unsigned char *const *msgs, const size_t *msg_len,
                                 const unsigned char *const *sigs, const size_t *sig_len,
                                 uint8_t *ok, int threads, int rule, int msm_mode) {
    if (n == 0) return 0;
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    /* Two slices per thread (so the work can move to the thread that is free), each as large as
     * that allows within [MIN_SLICE, MAX_SLICE]: larger batches cost less per signature. */
    size_t slice = (n + 2 * (size_t)threads - 1) / (2 * (size_t)threads);
    if (threads == 1) slice = n;
    if (slice < MIN_SLICE) slice = MIN_SLICE;
    if (slice > MAX_SLICE) slice = MAX_SLICE;
    size_t slices = (n + slice - 1) / slice;
    if ((size_t)threads > slices) threads = (int)slices;

    batch_job batch;
    memset(&batch, 0, sizeof batch);
    batch.proto.sha512 = sha512;
    batch.proto.pks = pks, batch.proto.msgs = msgs, batch.proto.sigs = sigs;
    batch.proto.pk_len = pk_len, batch.proto.msg_len = msg_len, batch.proto.sig_len = sig_len;
    batch.proto.ok = ok, batch.proto.rule = rule, batch.proto.mode = msm_mode;
    batch.n = n, batch.slice = slice;
#ifdef COINIUM_ED_PTHREADS
    pthread_t tids[MAX_THREADS];
    int started = 0;
    for (int t = 1; t < threads; t++) {
        if (pthread_create(&tids[started], NULL, batch_worker, &batch) != 0) break; /* fewer */
        started++;
    }
    batch_worker(&batch); /* the calling thread works too */
    for (int t = 0; t < started; t++) pthread_join(tids[t], NULL);
#else
    (void)threads;
    batch_worker(&batch);
#endif
    return batch.out_of_mem ? -1 : 0;
}
