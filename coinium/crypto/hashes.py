"""BLAKE3-256, the one hash of Coinium (block ids, txids, Merkle nodes, account ids)."""

from __future__ import annotations

import blake3 as _blake3

HASH_SIZE = 32


def blake3_256(data: bytes) -> bytes:
    """Standard unkeyed BLAKE3 with a 32-byte output."""
    return _blake3.blake3(data).digest()


def blake3_keyed(key: bytes, data: bytes) -> bytes:
    return _blake3.blake3(data, key=key).digest()


# Fixed by DESIGN.md: the key of every Merkle parent hash.
MERKLE_KEY = blake3_256(b"coinium merkle node v1")
