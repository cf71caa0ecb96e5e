"""The Numba backend: the same kernels as the C extension, written in Python and JIT-compiled.

Every kernel is ``@njit(signature, nogil=True, cache=True)``: compiled once (then loaded from
Numba's cache), run without the GIL, with no mutable globals. The BLAKE3 compression is written
as straight-line code on uint32 scalars held in tuples; with the nonce loop free of 64-bit values,
LLVM vectorizes it across nonces (8 or 16 nonces per instruction, depending on the CPU it tunes
for). verify_batch calls libsodium's crypto_sign_verify_detached through a raw function pointer
(an LLVM-level call built by a Numba intrinsic, so the compiled code stays cacheable) from Python
threads over slices of the batch, and asks the Python reference of Coinium's rule about what
libsodium rejects. See docs/KERNELS.md.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

try:
    from llvmlite import ir  # type: ignore[import-untyped]
    from numba import njit, types
    from numba.extending import intrinsic
except ImportError as exc:  # numba missing: the selector moves on
    raise ImportError(f"numba is not available ({exc})") from exc

from coinium.kernels import _sodium_entry, ed25519_zip215
from coinium.kernels._args import (
    HEADER_SIZE,
    check_search_args,
    leaves_array,
    settled_search,
    usable_cpus,
)
from coinium.kernels.python_backend import MERKLE_KEY

if sys.byteorder != "little":  # the kernels view byte buffers as little-endian words
    raise ImportError("the numba kernel backend needs a little-endian CPU")

NAME = "numba"

U32 = np.uint32

CHUNK_START = 1
CHUNK_END = 2
ROOT = 8
KEYED_HASH = 16
POW_FLAGS = CHUNK_END | ROOT
LAST_BLOCK_LEN = HEADER_SIZE - 64  # the second BLAKE3 block of a header: 60 bytes
MERKLE_FLAGS = CHUNK_START | CHUNK_END | ROOT | KEYED_HASH

_IV = (U32(0x6A09E667), U32(0xBB67AE85), U32(0x3C6EF372), U32(0xA54FF53A),
       U32(0x510E527F), U32(0x9B05688C), U32(0x1F83D9AB), U32(0x5BE0CD19))

# Array types: buffers made from bytes (or handed in by callers) may be read-only.
_RO_U32_2D = types.Array(types.uint32, 2, "C", readonly=True)
_RO_U32_1D = types.Array(types.uint32, 1, "C", readonly=True)
_RO_U8_2D = types.Array(types.uint8, 2, "C", readonly=True)
_RO_U8_1D = types.Array(types.uint8, 1, "C", readonly=True)

# Nonces per inner loop: long enough to vectorize well, short enough to stop soon after a hit.
_SCAN_CHUNK = 1 << 14
# Signatures per task handed to a thread.
_VERIFY_TASK = 64

_VERIFY_DETACHED, _SIGN_OPEN = _sodium_entry.addresses()


# ---- BLAKE3 compression on uint32 scalars ----------------------------------------------------
# Every sum is cast back to uint32 (Numba widens integer arithmetic); LLVM then narrows the code
# to 32-bit operations.

@njit(inline="always")
def _g(a, b, c, d, x, y):
    a = U32(a + b + x)
    d = d ^ a
    d = U32((d >> 16) | (d << 16))
    c = U32(c + d)
    b = b ^ c
    b = U32((b >> 12) | (b << 20))
    a = U32(a + b + y)
    d = d ^ a
    d = U32((d >> 8) | (d << 24))
    c = U32(c + d)
    b = b ^ c
    b = U32((b >> 7) | (b << 25))
    return a, b, c, d


@njit(inline="always")
def _round(v, m):
    v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15 = v
    v0, v4, v8, v12 = _g(v0, v4, v8, v12, m[0], m[1])
    v1, v5, v9, v13 = _g(v1, v5, v9, v13, m[2], m[3])
    v2, v6, v10, v14 = _g(v2, v6, v10, v14, m[4], m[5])
    v3, v7, v11, v15 = _g(v3, v7, v11, v15, m[6], m[7])
    v0, v5, v10, v15 = _g(v0, v5, v10, v15, m[8], m[9])
    v1, v6, v11, v12 = _g(v1, v6, v11, v12, m[10], m[11])
    v2, v7, v8, v13 = _g(v2, v7, v8, v13, m[12], m[13])
    v3, v4, v9, v14 = _g(v3, v4, v9, v14, m[14], m[15])
    return (v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15)


@njit(inline="always")
def _permute(m):
    # new[i] = old[P[i]], P = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8]
    return (m[2], m[6], m[3], m[10], m[7], m[0], m[4], m[13],
            m[1], m[11], m[12], m[5], m[9], m[14], m[15], m[8])


@njit(inline="always")
def _compress(cv, m, t_lo, t_hi, b, d):
    """The 16-word state after 7 rounds; words i ^ i+8 (i < 8) are the output chaining value."""
    v = (cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7],
         _IV[0], _IV[1], _IV[2], _IV[3], t_lo, t_hi, b, d)
    v = _round(v, m)
    m = _permute(m)
    v = _round(v, m)
    m = _permute(m)
    v = _round(v, m)
    m = _permute(m)
    v = _round(v, m)
    m = _permute(m)
    v = _round(v, m)
    m = _permute(m)
    v = _round(v, m)
    m = _permute(m)
    return _round(v, m)


@njit(inline="always")
def _bswap(h):
    return U32((h >> 24) | ((h >> 8) & 0xFF00) | ((h << 8) & 0xFF0000) | (h << 24))


@njit(types.uint32[::1](types.uint32[::1], types.uint32[::1], types.uint64, types.uint32,
                        types.uint32), nogil=True, cache=True)
def compress(cv, m, counter, b, flags):
    """One BLAKE3 compression: the 16 output words (the first 8 are the new chaining value)."""
    c = (cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7])
    mm = (m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7],
          m[8], m[9], m[10], m[11], m[12], m[13], m[14], m[15])
    v = _compress(c, mm, U32(counter & 0xFFFFFFFF), U32(counter >> 32), b, flags)
    out = np.empty(16, dtype=np.uint32)
    for i in range(8):
        out[i] = v[i] ^ v[i + 8]
        out[i + 8] = v[i + 8] ^ cv[i]
    return out


# ---- nonce search ------------------------------------------------------------------------------

@njit(types.boolean(_RO_U32_1D, _RO_U32_1D, _RO_U32_1D, types.uint32), nogil=True, cache=True)
def _nonce_meets(cv, m, tw, lo):
    """Whether the nonce (high word m[14], low word lo) meets the whole 256-bit target."""
    c = (cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7])
    z = U32(0)
    mm = (m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], m[9], m[10], m[11], m[12], lo,
          m[14], z)
    v = _compress(c, mm, z, z, U32(LAST_BLOCK_LEN), U32(POW_FLAGS))
    for w in range(8):
        h = _bswap(v[w] ^ v[w + 8])
        if h != tw[w]:
            return h < tw[w]
    return True


@njit(types.int64(_RO_U32_1D, _RO_U32_1D, _RO_U32_1D, types.int64, types.int64),
      nogil=True, cache=True)
def _scan_segment(cv, m, tw, lo, n):
    """First i in [0, n) whose nonce (high word m[14], low word lo + i) meets the target, or -1.

    lo + n <= 2^32, so the low word never wraps. The inner loop only counts nonces whose leading
    hash word passes the target's leading word (it vectorizes across nonces; the parts of round 1
    that do not depend on the nonce are hoisted by LLVM); a chunk with a count is rescanned in
    nonce order with the full 256-bit comparison.
    """
    c = (cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7])
    m0, m1, m2, m3, m4, m5, m6 = m[0], m[1], m[2], m[3], m[4], m[5], m[6]
    m7, m8, m9, m10, m11, m12, m14 = m[7], m[8], m[9], m[10], m[11], m[12], m[14]
    z = U32(0)
    b = U32(LAST_BLOCK_LEN)
    d = U32(POW_FLAGS)
    t0 = tw[0]
    base = 0
    while base < n:
        k = min(_SCAN_CHUNK, n - base)
        start = lo + base
        hits = U32(0)
        for i in range(k):
            mm = (m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, U32(start + i), m14, z)
            v = _compress(c, mm, z, z, b, d)
            if _bswap(v[0] ^ v[8]) <= t0:
                hits = U32(hits + U32(1))
        if hits:
            for i in range(k):
                if _nonce_meets(cv, m, tw, U32(start + i)):
                    return base + i
        base += k
    return -1


def _header_words(header: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(midstate, second block words) for a 124-byte header: 15 words, the 16th zero."""
    block0 = np.frombuffer(header[:64], dtype="<u4").copy()
    midstate = compress(np.array(_IV, dtype=np.uint32), block0, 0, 64, CHUNK_START)[:8].copy()
    block1 = np.zeros(16, dtype=np.uint32)
    block1[:15] = np.frombuffer(header[64:HEADER_SIZE], dtype="<u4")
    return midstate, block1


def pow_search(header: bytes, target: int, start_nonce: int, count: int) -> tuple[int | None, int]:
    """Scan nonces start_nonce .. start_nonce+count-1; return (first nonce meeting target, hashes).

    Single-threaded and GIL-free: run it in several threads on disjoint ranges to use more cores.
    """
    check_search_args(header, start_nonce, count)
    settled = settled_search(target, start_nonce, count)
    if settled is not None:
        return settled
    midstate, block1 = _header_words(bytes(header))
    tw = np.frombuffer(int(target).to_bytes(32, "big"), dtype=">u4").astype(np.uint32)
    nonce, left = start_nonce, count
    while left > 0:
        # a segment keeps the nonce's high word fixed
        lo, hi = nonce & 0xFFFFFFFF, nonce >> 32
        seg = min(left, (1 << 32) - lo)
        block1[14] = hi
        i = _scan_segment(midstate, block1, tw, lo, seg)
        if i >= 0:
            return nonce + i, nonce + i - start_nonce + 1
        nonce += seg
        left -= seg
    return None, count


# ---- Merkle root -------------------------------------------------------------------------------

@njit(types.void(_RO_U32_2D, types.uint32[:, ::1], types.int64, _RO_U32_1D),
      nogil=True, cache=True)
def _parents(src, dst, n_parents, key):
    """dst[j] = keyed compression of src[2j] || src[2j+1], for j < n_parents.

    dst may be src: row j is written after rows 2j and 2j+1 are read.
    """
    k = (key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7])
    z = U32(0)
    b = U32(64)
    d = U32(MERKLE_FLAGS)
    for j in range(n_parents):
        left = src[2 * j]
        right = src[2 * j + 1]
        mm = (left[0], left[1], left[2], left[3], left[4], left[5], left[6], left[7],
              right[0], right[1], right[2], right[3], right[4], right[5], right[6], right[7])
        v = _compress(k, mm, z, z, b, d)
        for w in range(8):
            dst[j, w] = v[w] ^ v[w + 8]


@njit(types.uint32[::1](_RO_U32_2D, _RO_U32_1D), nogil=True, cache=True)
def _merkle_words(leaves, key):
    """Root of n >= 1 leaves given as (n, 8) little-endian words; the leaves are only read."""
    n = leaves.shape[0]
    if n == 1:
        return leaves[0].copy()
    half = n // 2
    level = np.empty((half + 1, 8), dtype=np.uint32)
    _parents(leaves, level, half, key)
    if n & 1:  # the odd last node moves up unchanged
        level[half] = leaves[n - 1]
    n = half + (n & 1)
    while n > 1:  # later levels in place
        half = n // 2
        _parents(level, level, half, key)
        if n & 1:
            level[half] = level[n - 1]
        n = half + (n & 1)
    return level[0].copy()


_MERKLE_KEY_WORDS = np.frombuffer(MERKLE_KEY, dtype="<u4").copy()
_MERKLE_KEY_WORDS.flags.writeable = False


def merkle_root(txids) -> bytes:
    """Merkle root per DESIGN.md; txids is a sequence of 32-byte bytes or an (n, 32) uint8 array."""
    array = leaves_array(txids)
    if array is None:
        if not isinstance(txids, list):
            txids = list(txids)
        n = len(txids)
        if list(map(len, txids)).count(32) != n:
            raise ValueError("merkle_root: every txid must be 32 bytes")
        array = np.frombuffer(b"".join(txids), dtype=np.uint8).reshape(n, 32)
    if array.shape[0] == 0:
        return bytes(32)
    words = np.ascontiguousarray(array).view("<u4")
    return _merkle_words(words, _MERKLE_KEY_WORDS).tobytes()


def keyed_hash64(key: bytes, blocks) -> list[bytes]:
    """BLAKE3 keyed_hash(key, block) of each 64-byte block: the Merkle parent kernel, any key."""
    key = bytes(key)
    if len(key) != 32:
        raise ValueError("keyed_hash64: key must be 32 bytes")
    if not isinstance(blocks, list):
        blocks = list(blocks)
    n = len(blocks)
    if n == 0:
        return []
    if list(map(len, blocks)).count(64) != n:
        raise ValueError("keyed_hash64: every block must be 64 bytes")
    words = np.frombuffer(b"".join(map(bytes, blocks)), dtype="<u4").reshape(2 * n, 8)
    out = np.empty((n, 8), dtype=np.uint32)
    _parents(words, out, n, np.frombuffer(key, dtype="<u4"))
    flat = out.tobytes()
    return [flat[i : i + 32] for i in range(0, 32 * n, 32)]


# ---- signatures --------------------------------------------------------------------------------

_I8P = ir.IntType(8).as_pointer()


@intrinsic
def _call_verify_detached(typingctx, fn, sig, msg, mlen, pk):
    """int crypto_sign_verify_detached(sig, msg, mlen, pk), all arguments as uintp addresses."""
    def codegen(context, builder, signature, args):
        fn_, sig_, msg_, mlen_, pk_ = args
        fnty = ir.FunctionType(ir.IntType(32), [_I8P, _I8P, ir.IntType(64), _I8P])
        target = builder.inttoptr(fn_, fnty.as_pointer())
        return builder.call(target, [builder.inttoptr(sig_, _I8P), builder.inttoptr(msg_, _I8P),
                                     builder.zext(mlen_, ir.IntType(64))
                                     if mlen_.type.width < 64 else mlen_,
                                     builder.inttoptr(pk_, _I8P)])
    return types.int32(types.uintp, types.uintp, types.uintp, types.uintp, types.uintp), codegen


@intrinsic
def _call_sign_open(typingctx, fn, m, mlen_p, sm, smlen, pk):
    """int crypto_sign_open(m, &mlen, sm, smlen, pk), all arguments as uintp addresses."""
    def codegen(context, builder, signature, args):
        fn_, m_, mlen_p_, sm_, smlen_, pk_ = args
        fnty = ir.FunctionType(ir.IntType(32), [_I8P, ir.IntType(64).as_pointer(), _I8P,
                                                ir.IntType(64), _I8P])
        target = builder.inttoptr(fn_, fnty.as_pointer())
        return builder.call(target, [builder.inttoptr(m_, _I8P),
                                     builder.inttoptr(mlen_p_, ir.IntType(64).as_pointer()),
                                     builder.inttoptr(sm_, _I8P), smlen_,
                                     builder.inttoptr(pk_, _I8P)])
    return (types.int32(types.uintp, types.uintp, types.uintp, types.uintp, types.uintp,
                        types.uintp), codegen)


@njit(types.void(types.uintp, types.uintp, _RO_U8_2D, _RO_U8_2D, _RO_U8_1D, types.int64[::1],
                 types.uint8[::1], types.int64, types.int64),
      nogil=True, cache=True)
def _verify_range(verify_detached, sign_open, pks, sigs, msgs, offsets, ok, lo, hi):
    """ok[i] = libsodium's verdict for i in [lo, hi) where ok[i] is 1 on entry (lengths fit)."""
    pk_base = pks.ctypes.data
    sig_base = sigs.ctypes.data
    msg_base = msgs.ctypes.data
    if verify_detached:
        for i in range(lo, hi):
            if ok[i]:
                mlen = offsets[i + 1] - offsets[i]
                r = _call_verify_detached(verify_detached, sig_base + np.uintp(64 * i),
                                          msg_base + np.uintp(offsets[i]), np.uintp(mlen),
                                          pk_base + np.uintp(32 * i))
                ok[i] = 1 if r == 0 else 0
        return
    longest = 0
    for i in range(lo, hi):
        longest = max(longest, offsets[i + 1] - offsets[i])
    sm = np.empty(longest + 64, dtype=np.uint8)
    out = np.empty(longest + 64, dtype=np.uint8)
    out_len = np.zeros(1, dtype=np.uint64)
    for i in range(lo, hi):
        if ok[i]:
            mlen = offsets[i + 1] - offsets[i]
            sm[:64] = sigs[i]
            sm[64:64 + mlen] = msgs[offsets[i]:offsets[i + 1]]
            r = _call_sign_open(sign_open, out.ctypes.data, out_len.ctypes.data, sm.ctypes.data,
                                np.uintp(64 + mlen), pk_base + np.uintp(32 * i))
            ok[i] = 1 if r == 0 else 0


def _packed(items: list, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, size) array of the items, and a mask of those that have exactly `size` bytes."""
    fits = np.fromiter((len(x) == size for x in items), dtype=bool, count=len(items))
    blank = bytes(size)
    joined = b"".join(x if f else blank for x, f in zip(items, fits, strict=True))
    return np.frombuffer(joined, dtype=np.uint8).reshape(len(items), size), fits


def _as_bytes(x) -> bytes | None:
    try:
        return bytes(x)
    except TypeError:  # not bytes-like: can never verify
        return None


def verify_batch(
    public_keys: Sequence[bytes],
    messages: Sequence[bytes],
    signatures: Sequence[bytes],
    *,
    threads: int | None = None,
) -> list[bool]:
    """One verdict per signature under Coinium's rule (coinium.kernels.ed25519_zip215.verify).

    libsodium's crypto_sign_verify_detached runs first, in Numba-compiled loops over slices of
    the batch without the GIL, in `threads` threads (default: every usable core); a signature it
    accepts is valid under Coinium's rule too. Only the ones it rejects go to the pure-Python
    reference (no Numba batch check: see docs/KERNELS.md).
    """
    return _verify(public_keys, messages, signatures, threads, (_VERIFY_DETACHED, _SIGN_OPEN))


def _verify(public_keys, messages, signatures, threads, entry: tuple[int, int]) -> list[bool]:
    if not (len(public_keys) == len(messages) == len(signatures)):
        raise ValueError("verify_batch: public_keys, messages and signatures differ in length")
    n = len(public_keys)
    if n == 0:
        return []
    pks, pk_ok = _packed([_as_bytes(k) or b"" for k in public_keys], 32)
    sigs, sig_ok = _packed([_as_bytes(s) or b"" for s in signatures], 64)
    converted = [_as_bytes(m) for m in messages]
    msg_ok = np.fromiter((m is not None for m in converted), dtype=bool, count=n)
    msg_list = [m if m is not None else b"" for m in converted]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, msg_list), dtype=np.int64, count=n), out=offsets[1:])
    msgs = np.frombuffer(b"".join(msg_list) or b"\0", dtype=np.uint8)
    ok = (pk_ok & sig_ok & msg_ok).astype(np.uint8)
    bounds = list(range(0, n, _VERIFY_TASK)) + [n]
    tasks = list(zip(bounds[:-1], bounds[1:], strict=True))
    workers = min(max(1, int(threads or usable_cpus())), len(tasks))
    args = (entry[0], entry[1], pks, sigs, msgs, offsets, ok)
    if workers == 1:
        _verify_range(*args, 0, n)
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="coinium-verify") as pool:
            for future in [pool.submit(_verify_range, *args, lo, hi) for lo, hi in tasks]:
                future.result()
    verdicts = ok.astype(bool).tolist()
    # libsodium accepting implies Coinium's rule accepting; what it rejects may still be valid
    # under ZIP-215 (small-order or non-canonical R, mixed-order signatures): ask the reference.
    fits = (pk_ok & sig_ok & msg_ok).tolist()
    for i in range(n):
        if fits[i] and not verdicts[i]:
            verdicts[i] = ed25519_zip215.verify(pks[i].tobytes(), msg_list[i], sigs[i].tobytes())
    return verdicts
