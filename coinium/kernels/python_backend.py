"""The readable reference for every kernel: plain Python over the `blake3` and PyNaCl packages
(and, for signatures, the reference of Coinium's rule in ed25519_zip215.py).

Every other backend is tested against these functions. Keep them obvious, not fast.
"""

from __future__ import annotations

from collections.abc import Sequence

import blake3
from nacl.bindings import crypto_sign_open

from coinium.kernels import ed25519_zip215

NAME = "python"

HEADER_SIZE = 124  # version-2 header (coinium.core.header); kernels do not import core
NONCE_OFFSET = 116
MAX_NONCE = (1 << 64) - 1

# MERKLE_KEY = BLAKE3(b"coinium merkle node v1"), fixed by DESIGN.md.
MERKLE_KEY = blake3.blake3(b"coinium merkle node v1").digest()


def pow_search(header: bytes, target: int, start_nonce: int, count: int) -> tuple[int | None, int]:
    """Scan start_nonce .. start_nonce+count-1; return (first nonce meeting target, hashes done)."""
    _check_search_args(header, start_nonce, count)
    prefix = bytes(header[:NONCE_OFFSET])
    for i in range(count):
        nonce = start_nonce + i
        digest = blake3.blake3(prefix + nonce.to_bytes(8, "little")).digest()
        if int.from_bytes(digest, "big") <= target:
            return nonce, i + 1
    return None, count


def merkle_root(txids) -> bytes:
    """Merkle root per DESIGN.md: keyed parent hash, an odd last node carried up unchanged."""
    level = [bytes(t) for t in txids]
    for leaf in level:
        if len(leaf) != 32:
            raise ValueError("merkle_root: every txid must be 32 bytes")
    if not level:
        return bytes(32)
    while len(level) > 1:
        parents = [
            blake3.blake3(level[i] + level[i + 1], key=MERKLE_KEY).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            parents.append(level[-1])
        level = parents
    return level[0]


def keyed_hash64(key: bytes, blocks) -> list[bytes]:
    """BLAKE3 keyed_hash(key, block) of each 64-byte block: one compression each."""
    key = bytes(key)
    if len(key) != 32:
        raise ValueError("keyed_hash64: key must be 32 bytes")
    out = []
    for block in blocks:
        if len(block) != 64:
            raise ValueError("keyed_hash64: every block must be 64 bytes")
        out.append(blake3.blake3(bytes(block), key=key).digest())
    return out


def verify_one(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Coinium's consensus rule (ZIP-215, small-order keys refused: ed25519_zip215.verify).

    libsodium first: what crypto_sign_verify_detached accepts, the rule accepts (ed25519_zip215
    explains why), and it is fast. What libsodium rejects is decided by the reference itself.
    """
    try:
        public_key, message, signature = bytes(public_key), bytes(message), bytes(signature)
    except TypeError:  # not bytes-like: can never verify
        return False
    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        crypto_sign_open(signature + message, public_key)
        return True
    except Exception:  # noqa: BLE001 - BadSignatureError, or libsodium refusing malformed input
        return ed25519_zip215.verify(public_key, message, signature)


def verify_batch(
    public_keys: Sequence[bytes], messages: Sequence[bytes], signatures: Sequence[bytes]
) -> list[bool]:
    """One verdict per signature, exactly as checking each one alone."""
    if not (len(public_keys) == len(messages) == len(signatures)):
        raise ValueError("verify_batch: public_keys, messages and signatures differ in length")
    return [verify_one(k, m, s) for k, m, s in zip(public_keys, messages, signatures, strict=True)]


def _check_search_args(header: bytes, start_nonce: int, count: int) -> None:
    if len(header) != HEADER_SIZE:
        raise ValueError(f"pow_search: header must be {HEADER_SIZE} bytes, got {len(header)}")
    if start_nonce < 0 or count < 0 or start_nonce + count - 1 > MAX_NONCE and count > 0:
        raise ValueError("pow_search: nonce range must lie within 0 .. 2^64-1")
