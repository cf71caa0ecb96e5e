/* Merkle root by Coinium's rule (keyed parent hash, an odd last node carried up), reduced in
 * cache-sized blocks; the parents of each level are hashed by blake3_keyed.c's lanes. */
#include "blake3_internal.h"

#include <stdlib.h>
#include <string.h>

/* One subtree: n >= 1 contiguous nodes reduced level by level to one node, written to out. The
 * first level reads `leaves` and writes tmp (room for n/2 + 1 nodes); later levels work in tmp. */
static void merkle_reduce(const uint8_t *leaves, size_t n, uint8_t *tmp, const uint32_t key[8],
                          uint8_t out[32]) {
    if (n == 1) {
        memcpy(out, leaves, 32);
        return;
    }
    size_t np = n / 2;
    coinium_b3_keyed64_words(leaves, np, tmp, key);
    if (n & 1) memcpy(tmp + 32 * np, leaves + 32 * (n - 1), 32); /* the odd last node moves up */
    n = np + (n & 1);
    while (n > 1) {
        np = n / 2;
        coinium_b3_keyed64_words(tmp, np, tmp, key);
        if (n & 1) memmove(tmp + 32 * np, tmp + 32 * (n - 1), 32);
        n = np + (n & 1);
    }
    memcpy(out, tmp, 32);
}

int coinium_merkle_root(const uint8_t *leaves, size_t n, const uint8_t key[32], uint8_t out[32]) {
    uint32_t kw[8];
    if (n == 0) {
        memset(out, 0, 32);
        return 0;
    }
    for (int i = 0; i < 8; i++) kw[i] = load32_le(key + 4 * i);
    /* Cache blocking: an aligned block of COINIUM_MERKLE_BLOCK leaves (a power of two) is a
     * perfect subtree under the level-by-level rule, and the last, partial block reduces by the
     * same rule to the last node of that level. So blocks are reduced one at a time while they
     * sit in L2, then their roots ("tops") are reduced: the result is the level-by-level root. */
    size_t nblocks = (n + COINIUM_MERKLE_BLOCK - 1) / COINIUM_MERKLE_BLOCK;
    size_t first = n < COINIUM_MERKLE_BLOCK ? n : COINIUM_MERKLE_BLOCK;
    uint8_t *tmp = (uint8_t *)malloc(32 * (first / 2 + 1));
    uint8_t *tops = nblocks > 1 ? (uint8_t *)malloc(32 * nblocks) : NULL;
    if (!tmp || (nblocks > 1 && !tops)) {
        free(tmp);
        free(tops);
        return -1;
    }
    if (nblocks == 1) {
        merkle_reduce(leaves, n, tmp, kw, out);
        free(tmp);
        return 0;
    }
    for (size_t b = 0; b < nblocks; b++) {
        size_t m = n - b * COINIUM_MERKLE_BLOCK;
        if (m > COINIUM_MERKLE_BLOCK) m = COINIUM_MERKLE_BLOCK;
        merkle_reduce(leaves + (size_t)32 * COINIUM_MERKLE_BLOCK * b, m, tmp, kw, tops + 32 * b);
    }
    free(tmp);
    int rc = coinium_merkle_root(tops, nblocks, key, out);
    free(tops);
    return rc;
}
