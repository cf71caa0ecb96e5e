"""The compiled backend: C kernels from `_ext/`, built by `pip install .`.

Nonce search and Merkle root run our own BLAKE3 compression with 16 (AVX-512), 8 (AVX2) or 1
lane, picked at run time. verify_batch is our own batch Ed25519 check under Coinium's rule
(ZIP-215, small-order keys refused), in C threads with the GIL released. See docs/KERNELS.md.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from coinium.kernels import _sodium_entry
from coinium.kernels._args import (
    check_search_args,
    leaves_array,
    settled_search,
    usable_cpus,
)
from coinium.kernels.python_backend import MERKLE_KEY

try:
    import coinium.kernels._ckernels as _ck
except ImportError as exc:  # not built: the selector moves on to the next backend
    raise ImportError(
        f"the compiled extension coinium.kernels._ckernels is not built ({exc})"
    ) from exc

NAME = "cython"

# libsodium's SHA-512 for the signature checks' challenge hash (ImportError if PyNaCl lacks it).
_SHA512 = _sodium_entry.sha512_address()

# Largest count one C call takes; bigger ranges (up to the whole 2^64) are split.
_MAX_CALL_COUNT = 1 << 63


def simd_name() -> str:
    """The SIMD path in use: 'avx512', 'avx2' or 'portable'."""
    return _ck.SIMD_NAMES[_ck.simd_level()]


def pow_search(header: bytes, target: int, start_nonce: int, count: int) -> tuple[int | None, int]:
    """Scan nonces start_nonce .. start_nonce+count-1; return (first nonce meeting target, hashes).

    Single-threaded and GIL-free: run it in several threads (or processes) on disjoint ranges to
    use several cores.
    """
    check_search_args(header, start_nonce, count)
    settled = settled_search(target, start_nonce, count)
    if settled is not None:
        return settled
    header = bytes(header)
    target_be = int(target).to_bytes(32, "big")
    done = 0
    while count > 0:
        piece = min(count, _MAX_CALL_COUNT)
        found, nonce, hashes = _ck.pow_search(header, target_be, start_nonce, piece)
        if found:
            return nonce, done + hashes
        done += piece
        start_nonce += piece
        count -= piece
    return None, done


def merkle_root(txids) -> bytes:
    """Merkle root per DESIGN.md; txids is a sequence of 32-byte bytes or an (n, 32) uint8 array."""
    array = leaves_array(txids)
    if array is not None:
        return _ck.merkle_root_array(array, MERKLE_KEY)
    if not isinstance(txids, list):
        txids = list(txids)
    try:
        return _ck.merkle_root_list(txids, MERKLE_KEY)
    except _ck.NotAllBytes:  # bytearray, memoryview...: convert, then take the fast path
        return _ck.merkle_root_list([bytes(t) for t in txids], MERKLE_KEY)


def keyed_hash64(key: bytes, blocks) -> list[bytes]:
    """BLAKE3 keyed_hash(key, block) of each 64-byte block, many lanes at a time, GIL released."""
    key = bytes(key)
    if not isinstance(blocks, list):
        blocks = list(blocks)
    try:
        return _ck.keyed_hash64(key, blocks)
    except _ck.NotAllBytes:  # bytearray, memoryview...: convert, then take the fast path
        return _ck.keyed_hash64(key, [bytes(b) for b in blocks])


def verify_batch(
    public_keys: Sequence[bytes],
    messages: Sequence[bytes],
    signatures: Sequence[bytes],
    *,
    threads: int | None = None,
) -> list[bool]:
    """One verdict per signature under Coinium's rule (ZIP-215, small-order keys refused).

    True batch verification in C: the batch is split over `threads` threads (default: every
    usable core) without the GIL, each slice checked with one multi-scalar multiplication and
    bisected if it fails, so the verdicts are those of single checks.
    """
    if threads is None:
        threads = usable_cpus()
    return _ck.ed25519_verify_batch(
        list(public_keys),
        list(messages),
        list(signatures),
        max(1, int(threads)),
        _SHA512,
        _ck.ED25519_RULE,
        0,
    )


# A lower SIMD level can be forced for diagnosis (tests set it directly through _ck.simd_set).
_forced = os.environ.get("COINIUM_SIMD", "").strip().lower()
if _forced:
    _levels = {v: k for k, v in _ck.SIMD_NAMES.items()}
    if _forced not in _levels:
        raise ImportError(f"COINIUM_SIMD={_forced!r}: choose one of {', '.join(_levels)}")
    _ck.simd_set(_levels[_forced])
