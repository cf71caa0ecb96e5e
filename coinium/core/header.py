"""The 124-byte block header, version 2, of DESIGN.md (all integers little-endian).

offset size field
0      4    version      u32 (2: no other version is valid)
4      4    height       u32
8      32   prev_hash    BLAKE3 of the previous header
40     32   merkle_root
72     32   state_root   root of the state this block is applied to (the state after its parent)
104    8    timestamp    u64, unix seconds
112    4    bits         u32, compact target
116    8    nonce        u64

The header is two BLAKE3 blocks (bytes 0-63, then 64-123): everything a miner varies (state root,
timestamp, nonce) is in the second, so the first block's chaining value is computed once.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from coinium.core.codec import DecodeError
from coinium.crypto.hashes import blake3_256

HEADER_VERSION = 2
HEADER_SIZE = 124
NONCE_OFFSET = 116
STATE_ROOT_OFFSET = 72
_LAYOUT = struct.Struct("<II32s32s32sQIQ")
assert _LAYOUT.size == HEADER_SIZE


@dataclass(frozen=True, slots=True)
class Header:
    version: int
    height: int
    prev_hash: bytes
    merkle_root: bytes
    state_root: bytes
    timestamp: int
    bits: int
    nonce: int
    hash: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.prev_hash) != 32 or len(self.merkle_root) != 32 or len(self.state_root) != 32:
            raise ValueError("prev_hash, merkle_root and state_root must be 32 bytes")
        try:
            encoded = self.encode()
        except struct.error as exc:
            raise ValueError(f"header field out of range: {exc}") from None
        object.__setattr__(self, "hash", blake3_256(encoded))

    def encode(self) -> bytes:
        return _LAYOUT.pack(
            self.version, self.height, self.prev_hash, self.merkle_root, self.state_root,
            self.timestamp, self.bits, self.nonce,
        )  # fmt: skip

    @classmethod
    def decode(cls, data: bytes) -> Header:
        if len(data) != HEADER_SIZE:
            problem = "truncated" if len(data) < HEADER_SIZE else "trailing bytes"
            raise DecodeError("header", min(len(data), HEADER_SIZE), f"{problem}: "
                              f"{len(data)} bytes, a header is {HEADER_SIZE}")
        return cls(*_LAYOUT.unpack(data))

    def with_nonce(self, nonce: int) -> Header:
        return Header(self.version, self.height, self.prev_hash, self.merkle_root,
                      self.state_root, self.timestamp, self.bits, nonce)  # fmt: skip

    @property
    def hash_hex(self) -> str:
        return self.hash.hex()
