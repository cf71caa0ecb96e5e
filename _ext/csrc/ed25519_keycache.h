/* Decoded public keys, remembered: a sender signs many transactions, and decoding its key (a
 * square root in the field) is a large share of checking one signature. */
#ifndef COINIUM_ED25519_KEYCACHE_H
#define COINIUM_ED25519_KEYCACHE_H

#include <stdint.h>

#include "ed25519_group.h"

/* ge_frombytes_zip215 of a public key: the same point and the same return value (0, or -1 for
 * an encoding that does not decode), the point taken from the cache when this key decoded
 * before. Thread-safe. */
int ge_frombytes_key_cached(ge_p3 *r, const uint8_t pk[32]);

#endif
