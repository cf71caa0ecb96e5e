"""Parsing the values methods take (hashes, raw hex, addresses), with bitcoind's codes and
messages, so a bad argument is always an RpcError and never an exception from deeper down."""

from __future__ import annotations

import binascii

from coinium.core.block import Block
from coinium.core.codec import DecodeError
from coinium.core.params import NetworkParams
from coinium.core.transaction import Transaction
from coinium.crypto.address import AddressError, decode_address
from coinium.rpc.errors import (
    RPC_DESERIALIZATION_ERROR,
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_INVALID_PARAMETER,
    RpcError,
)

_HEX = frozenset("0123456789abcdefABCDEF")


def parse_hash(text: str, name: str) -> bytes:
    """bitcoind's ParseHashV: 64 hex digits (natural byte order, no reversal), else -8."""
    if len(text) == 64 and _HEX.issuperset(text):
        return bytes.fromhex(text)
    if len(text) != 64:
        raise RpcError(RPC_INVALID_PARAMETER,
                       f"{name} must be of length 64 (not {len(text)}, for '{text}')")
    raise RpcError(RPC_INVALID_PARAMETER, f"{name} must be hexadecimal string (not '{text}')")


def _hex_bytes(text: str) -> bytes | None:
    # binascii is strict where bytes.fromhex is not: an odd length, whitespace, a non-hex or a
    # non-ASCII character are all refused, in one C pass (a third of fromhex's time, too).
    try:
        return binascii.unhexlify(text)
    except (ValueError, TypeError):  # binascii.Error is a ValueError
        return None


def parse_transaction(text: str) -> Transaction:
    """Raw transaction hex -> Transaction, or -22 "TX decode failed" with the reason."""
    raw = _hex_bytes(text)
    if raw is None:
        raise RpcError(RPC_DESERIALIZATION_ERROR, "TX decode failed: not a hex string")
    try:
        return Transaction.decode(raw)
    except (DecodeError, ValueError) as exc:  # ValueError: a field the constructor refuses
        raise RpcError(RPC_DESERIALIZATION_ERROR, f"TX decode failed: {exc}") from None


def parse_block(text: str) -> Block:
    """Raw block hex -> Block, or -22 "Block decode failed" with the reason."""
    raw = _hex_bytes(text)
    if raw is None:
        raise RpcError(RPC_DESERIALIZATION_ERROR, "Block decode failed: not a hex string")
    try:
        return Block.decode(raw)
    except (DecodeError, ValueError) as exc:
        raise RpcError(RPC_DESERIALIZATION_ERROR, f"Block decode failed: {exc}") from None


def parse_address(text: str, params: NetworkParams, message: str = "Invalid address") -> bytes:
    """An address of this network -> its account id, or -5 with the reason."""
    try:
        return decode_address(text, params.address_prefix)[1]
    except AddressError as exc:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, f"{message}: {exc}") from None
