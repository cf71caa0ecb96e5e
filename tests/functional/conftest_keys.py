"""Deterministic keys for functional tests."""

from __future__ import annotations

from coinium.core.params import REGTEST
from coinium.crypto.address import encode_address
from coinium.crypto.keys import PrivateKey

ALICE = PrivateKey((101).to_bytes(32, "big"))
BOB = PrivateKey((102).to_bytes(32, "big"))


def address_of(key: PrivateKey) -> str:
    return encode_address(REGTEST.address_prefix, key.account)
