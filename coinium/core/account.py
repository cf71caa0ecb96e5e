"""The state of one account: its balance and the nonce its next transaction must carry."""

from __future__ import annotations

import struct
from typing import NamedTuple

from coinium.core.codec import DecodeError

_LAYOUT = struct.Struct("<QQ")
ACCOUNT_SIZE = _LAYOUT.size
_pack, _unpack, _tuple_new = _LAYOUT.pack, _LAYOUT.unpack, tuple.__new__


class Account(NamedTuple):
    balance: int
    nonce: int

    def encode(self) -> bytes:
        return _pack(*self)

    @classmethod
    def decode(cls, data: bytes) -> Account:
        if len(data) != ACCOUNT_SIZE:
            raise DecodeError("account", 0, f"{len(data)} bytes, an account is {ACCOUNT_SIZE}")
        return _tuple_new(cls, _unpack(data))  # the fields straight from the bytes, as cls(*...)


EMPTY_ACCOUNT = Account(0, 0)
