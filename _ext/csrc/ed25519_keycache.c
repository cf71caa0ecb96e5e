/* A direct-mapped table of keys that decoded, with their points (see ed25519_keycache.h).
 *
 * Only keys that decode are stored, so a hit gives exactly what decoding gives; the table is
 * compared on all 32 bytes, so a crafted key can at worst evict another from its slot. One lock
 * for the table (held for a compare and a copy, never while decoding): the batch checks run in
 * several threads at once. Without pthreads the table is not used. */
#include "ed25519_keycache.h"

#include <string.h>

#if !defined(_WIN32) && (defined(__GNUC__) || defined(__clang__))
#define COINIUM_KEYCACHE 1
#include <pthread.h>
#endif

#ifdef COINIUM_KEYCACHE
#define SLOTS 16384 /* ~3 MiB: the senders of the last few blocks of a busy chain */

typedef struct {
    uint8_t pk[32];
    ge_p3 point;
    int used;
} slot;

static slot table[SLOTS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t slot_of(const uint8_t pk[32]) {
    uint32_t a, b;
    memcpy(&a, pk, 4);
    memcpy(&b, pk + 12, 4);
    return (size_t)((a ^ (b * 0x9E3779B1u)) % SLOTS);
}
#endif

int ge_frombytes_key_cached(ge_p3 *r, const uint8_t pk[32]) {
#ifdef COINIUM_KEYCACHE
    size_t i = slot_of(pk);
    pthread_mutex_lock(&table_lock);
    if (table[i].used && memcmp(table[i].pk, pk, 32) == 0) {
        *r = table[i].point;
        pthread_mutex_unlock(&table_lock);
        return 0;
    }
    pthread_mutex_unlock(&table_lock);
    if (ge_frombytes_zip215(r, pk) != 0) return -1;
    pthread_mutex_lock(&table_lock);
    memcpy(table[i].pk, pk, 32);
    table[i].point = *r;
    table[i].used = 1;
    pthread_mutex_unlock(&table_lock);
    return 0;
#else
    return ge_frombytes_zip215(r, pk);
#endif
}
