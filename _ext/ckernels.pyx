# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Thin Cython layer over the C kernels in _ext/csrc/ (blake3_*.c, verify_threads.c, ed25519_*.c).

Argument checking and Python-level policy live in coinium/kernels/cython_backend.py; this module
only moves bytes in and out and releases the GIL around every kernel.
"""

from cpython.bytes cimport (PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize,
                            PyBytes_GET_SIZE)
from cpython.ref cimport PyObject
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

cdef extern from "blake3_kernels.h" nogil:
    int COINIUM_SIMD_PORTABLE
    int COINIUM_SIMD_AVX2
    int COINIUM_SIMD_AVX512
    int coinium_simd_detect()
    int coinium_simd_level()
    int coinium_simd_set(int level)
    int coinium_simd_lanes()
    void coinium_b3_compress(const uint32_t *cv, const uint32_t *m, uint64_t counter, uint32_t b,
                             uint32_t flags, uint32_t *out)
    int coinium_pow_search(const uint8_t *header, const uint8_t *target_be, uint64_t start,
                           uint64_t count, uint64_t *nonce_out, uint64_t *hashes_out)
    int coinium_merkle_root(const uint8_t *leaves, size_t n, const uint8_t *key, uint8_t *out)
    int COINIUM_MERKLE_BLOCK
    void coinium_keyed_hash64(const uint8_t *blocks, size_t n, const uint8_t *key, uint8_t *out)
    ctypedef int (*coinium_verify_detached_fn)(const unsigned char *sig, const unsigned char *m,
                                               unsigned long long mlen,
                                               const unsigned char *pk) noexcept nogil
    ctypedef int (*coinium_sign_open_fn)(unsigned char *m, unsigned long long *mlen_p,
                                         const unsigned char *sm, unsigned long long smlen,
                                         const unsigned char *pk) noexcept nogil
    int coinium_verify_many(coinium_verify_detached_fn verify_detached,
                            coinium_sign_open_fn sign_open, size_t n,
                            const unsigned char *const *pks, const size_t *pk_len,
                            const unsigned char *const *msgs, const size_t *msg_len,
                            const unsigned char *const *sigs, const size_t *sig_len,
                            uint8_t *ok, int threads)

cdef extern from "Python.h":
    # borrowed references, and the bytes macros on them, for the Merkle leaf gather
    PyObject *PyList_GET_ITEM_borrowed "PyList_GET_ITEM" (object lst, Py_ssize_t i)
    Py_ssize_t PyList_GET_SIZE_of "PyList_GET_SIZE" (object lst)
    bint PyBytes_CheckExact_ptr "PyBytes_CheckExact" (PyObject *o)
    Py_ssize_t PyBytes_GET_SIZE_ptr "PyBytes_GET_SIZE" (PyObject *o)
    char *PyBytes_AS_STRING_ptr "PyBytes_AS_STRING" (PyObject *o)

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define coinium_prefetch(p) __builtin_prefetch((const void *)(p))
    #else
    #define coinium_prefetch(p) ((void)0)
    #endif
    """
    void coinium_prefetch(const void *p) nogil

SIMD_NAMES = {COINIUM_SIMD_PORTABLE: "portable", COINIUM_SIMD_AVX2: "avx2",
              COINIUM_SIMD_AVX512: "avx512"}


def simd_detect():
    """The best SIMD level this CPU supports (0 portable, 1 avx2, 2 avx512)."""
    return coinium_simd_detect()


def simd_level():
    """The SIMD level in use."""
    return coinium_simd_level()


def simd_set(int level):
    """Use a lower SIMD level (tests exercise every path); clamped to what the CPU supports."""
    return coinium_simd_set(level)


def simd_lanes():
    """Nonces hashed side by side at the level in use."""
    return coinium_simd_lanes()


def compress(const uint32_t[::1] cv, const uint32_t[::1] m, uint64_t counter, uint32_t b,
             uint32_t flags):
    """One BLAKE3 compression (16 output words as a list); for tests."""
    cdef uint32_t out[16]
    if cv.shape[0] != 8 or m.shape[0] != 16:
        raise ValueError("compress: cv must be 8 words and m 16 words")
    coinium_b3_compress(&cv[0], &m[0], counter, b, flags, out)
    return [out[i] for i in range(16)]


def pow_search(bytes header, bytes target_be, uint64_t start, uint64_t count):
    """(found, nonce, hashes) for nonces start .. start+count-1; the GIL is released throughout."""
    cdef uint64_t nonce = 0, hashes = 0
    cdef int found
    cdef const uint8_t *h
    cdef const uint8_t *t
    if PyBytes_GET_SIZE(header) != 124 or PyBytes_GET_SIZE(target_be) != 32:
        raise ValueError("pow_search: header must be 124 bytes and target 32 bytes")
    h = <const uint8_t *>PyBytes_AS_STRING(header)
    t = <const uint8_t *>PyBytes_AS_STRING(target_be)
    with nogil:
        found = coinium_pow_search(h, t, start, count, &nonce, &hashes)
    return bool(found), nonce, hashes


class NotAllBytes(TypeError):
    """A leaf is not exactly `bytes`: the caller converts the leaves and tries again."""


def merkle_root_list(list txids, bytes key):
    """Merkle root of a list of 32-byte `bytes` leaves.

    Block by block (COINIUM_MERKLE_BLOCK leaves, a perfect subtree): the leaves are copied into a
    cache-resident buffer with the GIL held (a plain C loop over borrowed references, so no
    reference counts are written), then the block is hashed without the GIL; the blocks' roots
    are reduced last. Raises NotAllBytes if some leaf is not exactly bytes.
    """
    cdef Py_ssize_t n = len(txids), i, b, nblocks, m, base
    cdef Py_ssize_t block = COINIUM_MERKLE_BLOCK
    cdef uint8_t *buf = NULL
    cdef uint8_t *tops = NULL
    cdef const uint8_t *k
    cdef PyObject *leaf
    cdef uint8_t out[32]
    cdef int rc = 0
    cdef bint bad_type = False, bad_size = False
    if PyBytes_GET_SIZE(key) != 32:
        raise ValueError("merkle_root: key must be 32 bytes")
    if n == 0:
        return bytes(32)
    k = <const uint8_t *>PyBytes_AS_STRING(key)
    nblocks = (n + block - 1) // block
    buf = <uint8_t *>malloc(32 * <size_t>block)
    tops = <uint8_t *>malloc(32 * <size_t>nblocks)
    try:
        if buf == NULL or tops == NULL:
            raise MemoryError()
        for b in range(nblocks):
            base = b * block
            m = min(block, n - base)
            # other threads ran while the GIL was released: the list may have changed
            if PyList_GET_SIZE_of(txids) != n:
                raise RuntimeError("merkle_root: the list of txids changed size")
            for i in range(m):
                if i + 16 < m:  # the leaves are separate objects: fetch ahead
                    coinium_prefetch(PyList_GET_ITEM_borrowed(txids, base + i + 16))
                leaf = PyList_GET_ITEM_borrowed(txids, base + i)
                if not PyBytes_CheckExact_ptr(leaf):
                    bad_type = True
                    break
                if PyBytes_GET_SIZE_ptr(leaf) != 32:
                    bad_size = True
                    break
                memcpy(buf + 32 * i, PyBytes_AS_STRING_ptr(leaf), 32)
            if bad_type:
                raise NotAllBytes()
            if bad_size:
                raise ValueError("merkle_root: every txid must be 32 bytes")
            with nogil:
                rc = coinium_merkle_root(buf, <size_t>m, k, tops + 32 * b)
            if rc != 0:
                raise MemoryError()
        with nogil:
            rc = coinium_merkle_root(tops, <size_t>nblocks, k, out)
        if rc != 0:
            raise MemoryError()
        return (<char *>out)[:32]
    finally:
        free(buf)
        free(tops)


def merkle_root_array(const uint8_t[:, ::1] leaves, bytes key):
    """Merkle root of an (n, 32) C-contiguous uint8 array; the array is only read."""
    cdef Py_ssize_t n = leaves.shape[0]
    cdef const uint8_t *k
    cdef uint8_t out[32]
    cdef int rc
    if PyBytes_GET_SIZE(key) != 32:
        raise ValueError("merkle_root: key must be 32 bytes")
    if leaves.shape[1] != 32:
        raise ValueError("merkle_root: the array must have shape (n, 32)")
    if n == 0:
        return bytes(32)
    k = <const uint8_t *>PyBytes_AS_STRING(key)
    with nogil:
        rc = coinium_merkle_root(&leaves[0, 0], <size_t>n, k, out)
    if rc != 0:
        raise MemoryError()
    return (<char *>out)[:32]


def keyed_hash64(bytes key, list blocks):
    """[BLAKE3 keyed_hash(key, block) for block in blocks], each block 64 `bytes`.

    The blocks are gathered into one buffer with the GIL held (borrowed references, no reference
    counts written), hashed without the GIL, and handed back as new bytes objects. Raises
    NotAllBytes if some block is not exactly bytes.
    """
    cdef Py_ssize_t n = len(blocks), i
    cdef uint8_t *buf = NULL
    cdef const uint8_t *k
    cdef PyObject *block
    cdef list out
    if PyBytes_GET_SIZE(key) != 32:
        raise ValueError("keyed_hash64: key must be 32 bytes")
    if n == 0:
        return []
    k = <const uint8_t *>PyBytes_AS_STRING(key)
    buf = <uint8_t *>malloc(64 * <size_t>n)
    if buf == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            if i + 16 < n:
                coinium_prefetch(PyList_GET_ITEM_borrowed(blocks, i + 16))
            block = PyList_GET_ITEM_borrowed(blocks, i)
            if not PyBytes_CheckExact_ptr(block):
                raise NotAllBytes()
            if PyBytes_GET_SIZE_ptr(block) != 64:
                raise ValueError("keyed_hash64: every block must be 64 bytes")
            memcpy(buf + 64 * i, PyBytes_AS_STRING_ptr(block), 64)
        with nogil:
            coinium_keyed_hash64(buf, <size_t>n, k, buf)  # in place: digests trail the reads
        out = [None] * n
        for i in range(n):
            out[i] = PyBytes_FromStringAndSize(<char *>buf + 32 * i, 32)
        return out
    finally:
        free(buf)


def short_ids(bytes key, list txids, int size):
    """[BLAKE3 keyed_hash(key, txid)[:size] for txid in txids], each txid 32 `bytes` (the compact
    block short ids of coinium/p2p/compact.py: one compression each, a 32-byte single-block
    message). Raises NotAllBytes if some txid is not exactly bytes."""
    cdef Py_ssize_t n = len(txids), i
    cdef uint32_t cv[8]
    cdef uint32_t m[16]
    cdef uint32_t out[16]
    cdef uint8_t digest[32]
    cdef const uint8_t *k
    cdef const uint8_t *t
    cdef PyObject *txid
    cdef list result
    cdef int w
    if PyBytes_GET_SIZE(key) != 32:
        raise ValueError("short_ids: key must be 32 bytes")
    if not 1 <= size <= 32:
        raise ValueError("short_ids: size must be 1 to 32")
    k = <const uint8_t *>PyBytes_AS_STRING(key)
    for w in range(8):
        cv[w] = (<uint32_t>k[4 * w] | (<uint32_t>k[4 * w + 1] << 8) | (<uint32_t>k[4 * w + 2] << 16)
                 | (<uint32_t>k[4 * w + 3] << 24))
    for w in range(8, 16):
        m[w] = 0
    result = [None] * n
    for i in range(n):
        txid = PyList_GET_ITEM_borrowed(txids, i)
        if not PyBytes_CheckExact_ptr(txid):
            raise NotAllBytes()
        if PyBytes_GET_SIZE_ptr(txid) != 32:
            raise ValueError("short_ids: every txid must be 32 bytes")
        t = <const uint8_t *>PyBytes_AS_STRING_ptr(txid)
        for w in range(8):
            m[w] = (<uint32_t>t[4 * w] | (<uint32_t>t[4 * w + 1] << 8)
                    | (<uint32_t>t[4 * w + 2] << 16) | (<uint32_t>t[4 * w + 3] << 24))
        # CHUNK_START | CHUNK_END | ROOT | KEYED_HASH, block length 32, counter 0
        coinium_b3_compress(cv, m, 0, 32, 1 | 2 | 8 | 16, out)
        for w in range(8):
            digest[4 * w] = out[w] & 0xFF
            digest[4 * w + 1] = (out[w] >> 8) & 0xFF
            digest[4 * w + 2] = (out[w] >> 16) & 0xFF
            digest[4 * w + 3] = (out[w] >> 24) & 0xFF
        result[i] = PyBytes_FromStringAndSize(<char *>digest, size)
    return result


cdef int _as_bytes_item(object obj, list keep, const unsigned char **ptr, size_t *length):
    """Point at obj's bytes (converting with bytes() if needed); length -1 if it has none."""
    if not PyBytes_CheckExact(obj):
        try:
            obj = bytes(obj)
        except Exception:  # not bytes-like: a wrong-length item, verdict False
            ptr[0] = NULL
            length[0] = <size_t>-1
            return 0
        keep.append(obj)
    ptr[0] = <const unsigned char *>PyBytes_AS_STRING(obj)
    length[0] = <size_t>PyBytes_GET_SIZE(obj)
    return 0


cdef class _SignatureBatch:
    """Keys, messages and signatures as the C arrays the verify kernels read, and one verdict
    byte per item. A message that is not bytes-like gets a key length that never verifies. The
    bytes objects live (in `keep`) as long as the batch; the arrays are freed with it."""
    cdef Py_ssize_t n
    cdef const unsigned char **pks
    cdef const unsigned char **msgs
    cdef const unsigned char **sigs
    cdef size_t *lens  # n key lengths, then n message lengths, then n signature lengths
    cdef uint8_t *ok
    cdef list keep

    def __cinit__(self, list public_keys, list messages, list signatures):
        cdef Py_ssize_t n = len(public_keys), i
        self.n = n
        self.keep = []
        self.pks = <const unsigned char **>malloc(n * sizeof(void *))
        self.msgs = <const unsigned char **>malloc(n * sizeof(void *))
        self.sigs = <const unsigned char **>malloc(n * sizeof(void *))
        self.lens = <size_t *>malloc(3 * n * sizeof(size_t))
        self.ok = <uint8_t *>malloc(n)
        if (self.pks == NULL or self.msgs == NULL or self.sigs == NULL or self.lens == NULL
                or self.ok == NULL):
            raise MemoryError()  # __dealloc__ still frees what was allocated
        for i in range(n):
            _as_bytes_item(public_keys[i], self.keep, &self.pks[i], &self.lens[i])
            _as_bytes_item(messages[i], self.keep, &self.msgs[i], &self.lens[n + i])
            _as_bytes_item(signatures[i], self.keep, &self.sigs[i], &self.lens[2 * n + i])
            if self.msgs[i] == NULL:  # a message that is not bytes-like cannot verify
                self.lens[i] = <size_t>-1
                self.lens[n + i] = 0

    def __dealloc__(self):
        free(self.pks)
        free(self.msgs)
        free(self.sigs)
        free(self.lens)
        free(self.ok)

    cdef list verdicts(self):
        return [self.ok[i] != 0 for i in range(self.n)]


def verify_many(list public_keys, list messages, list signatures, int threads,
                size_t verify_detached_addr, size_t sign_open_addr):
    """Verdicts (list of bool) from libsodium, spread over `threads` threads without the GIL."""
    cdef Py_ssize_t n = len(public_keys)
    cdef _SignatureBatch b
    cdef int rc
    cdef coinium_verify_detached_fn vd = <coinium_verify_detached_fn>verify_detached_addr
    cdef coinium_sign_open_fn so = <coinium_sign_open_fn>sign_open_addr
    if len(messages) != n or len(signatures) != n:
        raise ValueError("verify_batch: public_keys, messages and signatures differ in length")
    if vd == NULL and so == NULL:
        raise ValueError("verify_batch: no libsodium entry point given")
    if n == 0:
        return []
    b = _SignatureBatch(public_keys, messages, signatures)
    with nogil:
        rc = coinium_verify_many(vd, so, <size_t>n, b.pks, b.lens, b.msgs, b.lens + n, b.sigs,
                                 b.lens + 2 * n, b.ok, threads)
    if rc != 0:
        raise MemoryError()
    return b.verdicts()


# ---- Coinium's Ed25519 rule (ZIP-215, small-order keys refused): _ext/csrc/ed25519_*.c ----

cdef extern from "ed25519_batch.h" nogil:
    ctypedef int (*coinium_sha512_fn)(unsigned char *out, const unsigned char *inp,
                                      unsigned long long inlen) noexcept nogil
    int COINIUM_ED25519_RULE
    int coinium_ed25519_init()
    int coinium_ed25519_verify_one(coinium_sha512_fn sha512, const unsigned char *pk,
                                   size_t pk_len, const unsigned char *msg, size_t msg_len,
                                   const unsigned char *sig, size_t sig_len, int rule)
    int coinium_ed25519_verify_batch(coinium_sha512_fn sha512, size_t n,
                                     const unsigned char *const *pks, const size_t *pk_len,
                                     const unsigned char *const *msgs, const size_t *msg_len,
                                     const unsigned char *const *sigs, const size_t *sig_len,
                                     uint8_t *ok, int threads, int rule, int msm_mode)

if coinium_ed25519_init() != 0:
    raise ImportError("the Ed25519 kernels failed their self-check")

ED25519_RULE = COINIUM_ED25519_RULE


def ed25519_verify_one(object public_key, object message, object signature,
                       size_t sha512_addr, int rule):
    """One signature under `rule` (ED25519_RULE: Coinium's; 0: plain ZIP-215): True or False."""
    cdef list keep = []
    cdef const unsigned char *pk
    cdef const unsigned char *msg
    cdef const unsigned char *sig
    cdef size_t pk_len, msg_len, sig_len
    cdef int rc
    cdef coinium_sha512_fn sha512 = <coinium_sha512_fn>sha512_addr
    if sha512 == NULL:
        raise ValueError("ed25519_verify_one: no SHA-512 entry point given")
    _as_bytes_item(public_key, keep, &pk, &pk_len)
    _as_bytes_item(message, keep, &msg, &msg_len)
    _as_bytes_item(signature, keep, &sig, &sig_len)
    if msg == NULL:  # a message that is not bytes-like cannot verify
        return False
    with nogil:
        rc = coinium_ed25519_verify_one(sha512, pk, pk_len, msg, msg_len, sig, sig_len, rule)
    if rc < 0:
        raise MemoryError()
    return rc == 1


def ed25519_verify_batch(list public_keys, list messages, list signatures, int threads,
                         size_t sha512_addr, int rule, int msm_mode):
    """Verdicts (list of bool) from the batch check, over `threads` threads without the GIL."""
    cdef Py_ssize_t n = len(public_keys)
    cdef _SignatureBatch b
    cdef int rc
    cdef coinium_sha512_fn sha512 = <coinium_sha512_fn>sha512_addr
    if len(messages) != n or len(signatures) != n:
        raise ValueError("verify_batch: public_keys, messages and signatures differ in length")
    if sha512 == NULL:
        raise ValueError("verify_batch: no SHA-512 entry point given")
    if n == 0:
        return []
    b = _SignatureBatch(public_keys, messages, signatures)
    with nogil:
        rc = coinium_ed25519_verify_batch(sha512, <size_t>n, b.pks, b.lens, b.msgs, b.lens + n,
                                          b.sigs, b.lens + 2 * n, b.ok, threads, rule, msm_mode)
    if rc != 0:
        raise MemoryError()
    return b.verdicts()
