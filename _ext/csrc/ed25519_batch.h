/* Coinium's Ed25519 rule (ZIP-215, small-order keys refused): single and batch checks.
 * The specification is coinium/crypto/ed25519_zip215.py; docs/KERNELS.md explains the design. */
#ifndef COINIUM_ED25519_BATCH_H
#define COINIUM_ED25519_BATCH_H

#include <stddef.h>
#include <stdint.h>

/* libsodium's crypto_hash_sha512 (taken from PyNaCl's bundled library by the Python side). */
typedef int (*coinium_sha512_fn)(unsigned char *out, const unsigned char *in,
                                 unsigned long long inlen);

/* Rule flags. COINIUM_ED25519_RULE is Coinium's consensus rule; 0 is plain ZIP-215. */
#define COINIUM_ED25519_REJECT_SMALL_ORDER_KEY 1
#define COINIUM_ED25519_RULE COINIUM_ED25519_REJECT_SMALL_ORDER_KEY

/* Once, before any check (builds the base point's table). 0, or -1 if the self-check failed. */
int coinium_ed25519_init(void);

/* One signature: 1 valid, 0 invalid (any length, any bytes), -1 out of memory. */
int coinium_ed25519_verify_one(coinium_sha512_fn sha512, const unsigned char *pk, size_t pk_len,
                               const unsigned char *msg, size_t msg_len,
                               const unsigned char *sig, size_t sig_len, int rule);

/* n signatures, one verdict each in ok[] (1 valid, 0 invalid), split into batches over
 * `threads` threads; a failing batch is bisected down to its bad signatures. A NULL pointer or a
 * length other than 32 (key) / 64 (signature) is invalid. msm_mode: 0 auto, 1 Straus, 2
 * Pippenger. Returns 0, or -1 out of memory. */
int coinium_ed25519_verify_batch(coinium_sha512_fn sha512, size_t n,
                                 const unsigned char *const *pks, const size_t *pk_len,
                                 const unsigned char *const *msgs, const size_t *msg_len,
                                 const unsigned char *const *sigs, const size_t *sig_len,
                                 uint8_t *ok, int threads, int rule, int msm_mode);

#endif
