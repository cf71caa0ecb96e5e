"""Primitives of the canonical binary codec.

Every consensus encoding is built from fixed-width little-endian integers and fixed-size byte
strings, with explicit u16 lengths for the few variable parts. Fixed widths make every encoding
canonical by construction: the only ways to be non-canonical are out-of-range values, truncation and
trailing bytes, and the `Reader` rejects all three with a `DecodeError` that says what and where.
"""

from __future__ import annotations

import struct

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class DecodeError(ValueError):
    """Bytes that are not a canonical encoding. ``what`` names the field, ``offset`` the byte."""

    def __init__(self, what: str, offset: int, problem: str):
        super().__init__(f"{what} at byte {offset}: {problem}")
        self.what = what
        self.offset = offset
        self.problem = problem


class Reader:
    """Reads fields in order from a buffer; every read checks that the bytes are there."""

    __slots__ = ("_buf", "_pos", "_context")

    def __init__(self, data: bytes | bytearray | memoryview, context: str):
        self._buf = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        self._pos = 0
        self._context = context

    @property
    def offset(self) -> int:
        return self._pos

    def remaining(self) -> int:
        return len(self._buf) - self._pos

    def _take(self, n: int, what: str) -> bytes:
        end = self._pos + n
        if end > len(self._buf):
            raise DecodeError(
                f"{self._context}.{what}",
                self._pos,
                f"truncated: need {n} bytes, {len(self._buf) - self._pos} left",
            )
        chunk = bytes(self._buf[self._pos : end])
        self._pos = end
        return chunk

    def u8(self, what: str) -> int:
        return self._take(1, what)[0]

    def u16(self, what: str) -> int:
        return _U16.unpack(self._take(2, what))[0]

    def u32(self, what: str) -> int:
        return _U32.unpack(self._take(4, what))[0]

    def u64(self, what: str) -> int:
        return _U64.unpack(self._take(8, what))[0]

    def fixed(self, n: int, what: str) -> bytes:
        return self._take(n, what)

    def var_bytes(self, what: str, limit: int) -> bytes:
        """A u16 length then that many bytes; a length above ``limit`` is out of range."""
        start = self._pos
        n = self.u16(f"{what}_length")
        if n > limit:
            raise DecodeError(f"{self._context}.{what}_length", start, f"{n} exceeds limit {limit}")
        return self._take(n, what)

    def fail(self, what: str, offset: int, problem: str) -> DecodeError:
        return DecodeError(f"{self._context}.{what}", offset, problem)

    def finish(self) -> None:
        """Reject trailing bytes: an encoding must be consumed exactly."""
        if self._pos != len(self._buf):
            raise DecodeError(
                self._context, self._pos, f"{len(self._buf) - self._pos} trailing bytes"
            )


def u16(value: int) -> bytes:
    return _U16.pack(value)


def u32(value: int) -> bytes:
    return _U32.pack(value)


def u64(value: int) -> bytes:
    return _U64.pack(value)
