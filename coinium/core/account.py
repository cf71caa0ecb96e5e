"""The state of one account: its balance and the nonce its next transaction must carry."""

from __future__ import annotations

import struct
from typing import NamedTuple

from coinium.core.codec import DecodeError

_LAYOUT = struct.Struct("<QQ")
ACCOUNT_SIZE = _LAYOUT.size


class Account(NamedTuple):
    balance: int
    nonce: int

    def encode(self) -> bytes:
        return _LAYOUT.pack(self.balance, self.nonce)

    @classmethod
    def decode(cls, data: bytes) -> Account:
        if len(data) != ACCOUNT_SIZE:
            raise DecodeError("account", 0, f"{len(data)} bytes, an account is {ACCOUNT_SIZE}")
        return cls(*_LAYOUT.unpack(data))


EMPTY_ACCOUNT = Account(0, 0)
