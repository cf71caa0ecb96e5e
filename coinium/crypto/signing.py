"""The 32-byte hash a transaction signature covers.

It commits to the chain id, so a signature made for one network is worthless on another, and to
every field of the transaction but the signature itself (``unsigned_encoding``).
"""

from __future__ import annotations

import struct

from coinium.crypto.hashes import blake3_256

_DOMAIN = b"coinium tx signing v1"


def signing_hash(chain_id: int, unsigned_encoding: bytes) -> bytes:
    return blake3_256(signing_prefix(chain_id) + unsigned_encoding)


def signing_prefix(chain_id: int) -> bytes:
    """What every signing hash of ``chain_id`` starts with (the unsigned encoding follows)."""
    return _DOMAIN + struct.pack("<I", chain_id)
