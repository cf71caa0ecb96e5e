/* BLAKE3-256 of an input of at most one chunk (1024 bytes): the whole tree is that chunk, its
 * blocks compressed in turn, the last one as the root. A transaction's id (at most 400 bytes)
 * is hashed here by the compiled decoder (_ext/tx_fast.pyx) without a call into Python. */
#include <string.h>

#include "blake3_internal.h"

int coinium_blake3_chunk(const uint8_t *in, size_t len, uint8_t out[32]) {
    if (len > 1024) {
        return -1;
    }
    uint32_t cv[8];
    memcpy(cv, IV, sizeof cv);
    size_t blocks = len == 0 ? 1 : (len + 63) / 64;
    for (size_t i = 0; i < blocks; i++) {
        uint8_t block[64] = {0};
        size_t take = i + 1 < blocks ? 64 : len - 64 * i;
        memcpy(block, in + 64 * i, take);
        uint32_t m[16], o[16];
        for (int w = 0; w < 16; w++) {
            m[w] = load32_le(block + 4 * w);
        }
        uint32_t flags = (i == 0 ? CHUNK_START : 0u) | (i + 1 == blocks ? CHUNK_END | ROOT : 0u);
        coinium_b3_compress(cv, m, 0, (uint32_t)take, flags, o);
        memcpy(cv, o, sizeof cv);
    }
    for (int w = 0; w < 8; w++) {
        store32_le(out + 4 * w, cv[w]);
    }
    return 0;
}
