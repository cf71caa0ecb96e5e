/* libsodium's Ed25519 single check spread over threads: the signature kernel before true batch
 * verification, kept as the benchmarks' baseline ("before", bench/test_bench_connect.py and
 * bench/test_bench_batch_verify.py). Consensus no longer uses it: the rule is now ZIP-215 with
 * small-order keys refused (ed25519_batch.c), which accepts everything libsodium accepts and more.
 *
 * It calls libsodium's crypto_sign_verify_detached through a function pointer that the Python side
 * takes from PyNaCl's bundled libsodium, and only spreads the calls over threads. Threads take
 * chunks of signatures from a shared counter, so uneven message sizes balance out.
 */
#include "blake3_kernels.h"

#include <stdlib.h>
#include <string.h>

#if !defined(_WIN32) && (defined(__GNUC__) || defined(__clang__))
#define COINIUM_PTHREADS 1
#include <pthread.h>
#endif

#define VERIFY_CHUNK 16
#define MAX_THREADS 256

typedef struct {
    coinium_verify_detached_fn verify_detached;
    coinium_sign_open_fn sign_open;
    size_t n;
    const unsigned char *const *pks;
    const size_t *pk_len;
    const unsigned char *const *msgs;
    const size_t *msg_len;
    const unsigned char *const *sigs;
    const size_t *sig_len;
    uint8_t *ok;
    size_t max_msg;
    size_t next;     /* next unclaimed index, shared */
    int out_of_mem;  /* set by any worker that could not allocate */
} verify_job;

static size_t claim(verify_job *job) {
#ifdef COINIUM_PTHREADS
    return __atomic_fetch_add(&job->next, (size_t)VERIFY_CHUNK, __ATOMIC_RELAXED);
#else
    size_t i = job->next;
    job->next += VERIFY_CHUNK;
    return i;
#endif
}

static void *verify_worker(void *arg) {
    verify_job *job = (verify_job *)arg;
    unsigned char *sm = NULL, *m = NULL;
    if (job->sign_open) { /* crypto_sign_open wants signature || message in one buffer */
        sm = (unsigned char *)malloc(job->max_msg + 64);
        m = (unsigned char *)malloc(job->max_msg + 64);
        if (!sm || !m) {
            free(sm);
            free(m);
#ifdef COINIUM_PTHREADS
            __atomic_store_n(&job->out_of_mem, 1, __ATOMIC_RELAXED);
#else
            job->out_of_mem = 1;
#endif
            return NULL;
        }
    }
    for (;;) {
        size_t i0 = claim(job);
        if (i0 >= job->n) break;
        size_t i1 = i0 + VERIFY_CHUNK < job->n ? i0 + VERIFY_CHUNK : job->n;
        for (size_t i = i0; i < i1; i++) {
            if (job->pk_len[i] != 32 || job->sig_len[i] != 64) {
                job->ok[i] = 0;
            } else if (job->verify_detached) {
                job->ok[i] = job->verify_detached(job->sigs[i], job->msgs[i],
                                                  (unsigned long long)job->msg_len[i],
                                                  job->pks[i]) == 0;
            } else {
                unsigned long long mlen = 0;
                memcpy(sm, job->sigs[i], 64);
                if (job->msg_len[i]) memcpy(sm + 64, job->msgs[i], job->msg_len[i]);
                job->ok[i] = job->sign_open(m, &mlen, sm, 64 + (unsigned long long)job->msg_len[i],
                                            job->pks[i]) == 0;
            }
        }
    }
    free(sm);
    free(m);
    return NULL;
}

int coinium_verify_many(coinium_verify_detached_fn verify_detached, coinium_sign_open_fn sign_open,
                        size_t n, const unsigned char *const *pks, const size_t *pk_len,
                        const unsigned char *const *msgs, const size_t *msg_len,
                        const unsigned char *const *sigs, const size_t *sig_len, uint8_t *ok,
                        int threads) {
    verify_job job;
    memset(&job, 0, sizeof job);
    job.verify_detached = verify_detached;
    job.sign_open = verify_detached ? NULL : sign_open;
    job.n = n, job.pks = pks, job.pk_len = pk_len, job.msgs = msgs, job.msg_len = msg_len;
    job.sigs = sigs, job.sig_len = sig_len, job.ok = ok;
    for (size_t i = 0; i < n; i++)
        if (msg_len[i] > job.max_msg) job.max_msg = msg_len[i];

    /* no more threads than chunks of work */
    size_t chunks = (n + VERIFY_CHUNK - 1) / VERIFY_CHUNK;
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if ((size_t)threads > chunks) threads = chunks ? (int)chunks : 1;

#ifdef COINIUM_PTHREADS
    pthread_t tids[MAX_THREADS];
    int started = 0;
    for (int t = 1; t < threads; t++) {
        if (pthread_create(&tids[started], NULL, verify_worker, &job) != 0) break; /* run with fewer */
        started++;
    }
    verify_worker(&job); /* the calling thread works too */
    for (int t = 0; t < started; t++) pthread_join(tids[t], NULL);
#else
    (void)threads;
    verify_worker(&job);
#endif
    return job.out_of_mem ? -1 : 0;
}
