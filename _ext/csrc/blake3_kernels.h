/* Coinium's compiled kernels: BLAKE3 nonce search and Merkle root, and the threaded Ed25519 checks.
 *
 * The BLAKE3 compression is written from the specification (see docs/KERNELS.md); the SIMD
 * variants run many independent inputs side by side, one input per 32-bit lane, and are chosen at
 * run time from the CPU's features so that one build runs on any x86-64 CPU. Implemented in
 * blake3_core.c (compression, SIMD level), blake3_pow.c (nonce search), blake3_keyed.c (keyed
 * hashes of 64-byte blocks), blake3_merkle.c (Merkle root), blake3_chunk.c (a one-chunk hash) and
 * verify_threads.c.
 */
#ifndef COINIUM_BLAKE3_KERNELS_H
#define COINIUM_BLAKE3_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* SIMD levels, lowest first. */
enum {
    COINIUM_SIMD_PORTABLE = 0, /* one input at a time, plain C */
    COINIUM_SIMD_AVX2 = 1,     /* 8 lanes */
    COINIUM_SIMD_AVX512 = 2    /* 16 lanes */
};

/* The best level this CPU (and OS) supports; detected once. */
int coinium_simd_detect(void);
/* The level in use. */
int coinium_simd_level(void);
/* Ask for a level (tests use this to exercise every path); clamped to what the CPU supports.
 * Returns the level now in use. Not meant to be called while kernels run in other threads. */
int coinium_simd_set(int level);
/* Lanes used by the nonce search at the current level (1, 8 or 16). */
int coinium_simd_lanes(void);

/* BLAKE3-256 of len <= 1024 bytes (one chunk) into out; returns 0, or -1 if len is larger. */
int coinium_blake3_chunk(const uint8_t *in, size_t len, uint8_t out[32]);

/* Plain BLAKE3 compression: 16 output words. */
void coinium_b3_compress(const uint32_t cv[8], const uint32_t m[16], uint64_t counter, uint32_t b,
                         uint32_t flags, uint32_t out[16]);

/* Nonce search over a 124-byte (version 2) header: nonce little-endian in bytes 116..123, hash
 * BLAKE3-256 (two compressions; the first block's chaining value is computed once per call),
 * valid when the hash read as a big-endian integer is <= target (given as 32 big-endian bytes).
 * Scans start .. start+count-1 (the caller keeps that within 2^64-1; count may be 0).
 * Returns 1 and the first valid nonce in *nonce_out, or 0; *hashes_out = nonces examined
 * (nonce - start + 1 on a hit). Pure C, no Python: safe to call without the GIL. */
int coinium_pow_search(const uint8_t header[124], const uint8_t target_be[32], uint64_t start,
                       uint64_t count, uint64_t *nonce_out, uint64_t *hashes_out);

/* Merkle root by Coinium's rule (keyed parent hash, an odd last node carried up) of n contiguous
 * 32-byte leaves, which are only read; key is 32 bytes. Returns 0, or -1 if out of memory. */
int coinium_merkle_root(const uint8_t *leaves, size_t n, const uint8_t key[32], uint8_t out[32]);

/* out[32i ..] = BLAKE3 keyed_hash(key, blocks[64i .. 64i+64]) for i < n: one compression each
 * (CHUNK_START | CHUNK_END | ROOT | KEYED_HASH, block length 64), many lanes at a time. out may
 * equal blocks (each group is read before any of it is written). The state tree hashes one depth
 * of its nodes (or all its new leaves) per call. */
void coinium_keyed_hash64(const uint8_t *blocks, size_t n, const uint8_t key[32], uint8_t *out);

/* Leaves are reduced in aligned blocks of this many (a power of two): each block is a perfect
 * subtree (the last one may be partial), and the blocks' roots are then reduced in turn. A caller
 * that gathers leaves block by block may call coinium_merkle_root on each block and then on the
 * blocks' roots: that gives the same root. */
#define COINIUM_MERKLE_BLOCK 4096

/* Ed25519 checks through libsodium function pointers taken from PyNaCl's bundled libsodium. */
typedef int (*coinium_verify_detached_fn)(const unsigned char *sig, const unsigned char *m,
                                          unsigned long long mlen, const unsigned char *pk);
typedef int (*coinium_sign_open_fn)(unsigned char *m, unsigned long long *mlen_p,
                                    const unsigned char *sm, unsigned long long smlen,
                                    const unsigned char *pk);

/* Exactly one of verify_detached / sign_open is non-NULL. For each i, ok[i] = 1 iff pk_len[i] is
 * 32, sig_len[i] is 64 and libsodium accepts the signature; threads > 1 spreads the work over that
 * many threads (the caller's included). Returns 0, or -1 if memory ran out (ok[] is then void). */
int coinium_verify_many(coinium_verify_detached_fn verify_detached, coinium_sign_open_fn sign_open,
                        size_t n, const unsigned char *const *pks, const size_t *pk_len,
                        const unsigned char *const *msgs, const size_t *msg_len,
                        const unsigned char *const *sigs, const size_t *sig_len, uint8_t *ok,
                        int threads);

#ifdef __cplusplus
}
#endif

#endif
