"""The canonical codec: golden bytes, round trips, and a DecodeError for every bad encoding."""

from __future__ import annotations

import struct

import blake3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinium.core.block import MAX_BLOCK_SIZE, MAX_BLOCK_TXS, Block
from coinium.core.codec import DecodeError
from coinium.core.header import HEADER_SIZE, Header
from coinium.core.transaction import (
    MAX_COINBASE_EXTRA_SIZE,
    MAX_MEMO_SIZE,
    Transaction,
    TxKind,
)
from coinium.core.units import MAX_MONEY, format_amount, parse_amount

u32s = st.integers(0, 2**32 - 1)
u64s = st.integers(0, 2**64 - 1)
hash32 = st.binary(min_size=32, max_size=32)
money = st.integers(0, MAX_MONEY)

headers = st.builds(Header, u32s, u32s, hash32, hash32, hash32, u64s, u32s, u64s)
transfers = st.builds(
    Transaction.transfer,
    sender=hash32,
    recipient=st.binary(min_size=20, max_size=20),
    amount=money,
    fee=money,
    nonce=u64s,
    memo=st.binary(max_size=MAX_MEMO_SIZE),
    signature=st.binary(min_size=64, max_size=64),
)
coinbases = st.builds(
    Transaction.coinbase,
    height=u32s,
    recipient=st.binary(min_size=20, max_size=20),
    amount=money,
    extra=st.binary(max_size=MAX_COINBASE_EXTRA_SIZE),
)
blocks = st.builds(Block, headers, st.lists(coinbases | transfers, max_size=5).map(tuple))

GOLDEN_HEADER = Header(
    version=2,
    height=0x01020304,
    prev_hash=bytes(range(32)),
    merkle_root=bytes(range(32, 64)),
    state_root=bytes(range(64, 96)),
    timestamp=0x1122334455667788,
    bits=0x1D00FFFF,
    nonce=0x0102030405060708,
)
GOLDEN_HEADER_HASH = "6fc6f5ba1f9f91e59d2dc8d6238766a00278ade2b4ec9528cc615ebeaed364d9"
GOLDEN_TRANSFER = Transaction.transfer(
    sender=bytes([0xAA]) * 32,
    recipient=bytes([0xBB]) * 20,
    amount=100_000_000,
    fee=1_000,
    nonce=7,
    memo=b"hi",
    signature=bytes([0xCC]) * 64,
)
GOLDEN_COINBASE = Transaction.coinbase(5, bytes([0xDD]) * 20, 5_000_000_000, b"x")


def test_header_golden_bytes():
    """Version 2, DESIGN.md: the state root at offset 72, the nonce the last 8 bytes."""
    raw = GOLDEN_HEADER.encode()
    assert len(raw) == HEADER_SIZE == 124
    assert raw.hex() == (
        "02000000" "04030201"
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
        "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
        "8877665544332211" "ffff001d" "0807060504030201"
    )  # fmt: skip
    assert raw[72:104] == GOLDEN_HEADER.state_root and raw[116:] == (0x0102030405060708).to_bytes(
        8, "little")
    assert GOLDEN_HEADER.hash == blake3.blake3(raw).digest()
    assert GOLDEN_HEADER.hash.hex() == GOLDEN_HEADER_HASH


def test_a_version_1_header_is_refused():
    """92 bytes (the old layout) do not decode."""
    with pytest.raises(DecodeError, match="truncated: 92 bytes, a header is 124"):
        Header.decode(GOLDEN_HEADER.encode()[:92])


def test_transfer_golden_bytes():
    raw = GOLDEN_TRANSFER.encode()
    assert raw.hex() == (
        "01" "01" + "aa" * 32 + "0700000000000000" "e803000000000000" + "bb" * 20
        + "00e1f50500000000" "0200" "6869" + "cc" * 64
    )  # fmt: skip
    assert len(raw) == 146


def test_coinbase_golden_bytes():
    assert GOLDEN_COINBASE.encode().hex() == (
        "01" "00" "05000000" + "dd" * 20 + "00f2052a01000000" "0100" "78"
    )  # fmt: skip


def test_block_golden_bytes():
    block = Block(GOLDEN_HEADER, (GOLDEN_COINBASE, GOLDEN_TRANSFER))
    raw = block.encode()
    assert raw == GOLDEN_HEADER.encode() + b"\x02\x00\x00\x00" + GOLDEN_COINBASE.encode() \
        + GOLDEN_TRANSFER.encode()
    assert block.size == len(raw)


@given(headers)
def test_header_round_trip(header):
    assert Header.decode(header.encode()) == header


@given(coinbases | transfers)
def test_transaction_round_trip(tx):
    raw = tx.encode()
    decoded = Transaction.decode(raw)
    assert decoded == tx and decoded.encode() == raw and decoded.txid == tx.txid


@given(blocks)
def test_block_round_trip(block):
    raw = block.encode()
    assert Block.decode(raw).encode() == raw


@given(st.binary(max_size=400))
def test_decode_accepts_only_canonical_bytes(data):
    """For any bytes: decoding fails with DecodeError, or re-encoding gives the same bytes."""
    for cls in (Transaction, Block, Header):
        try:
            obj = cls.decode(data)
        except DecodeError:
            continue
        assert obj.encode() == data


@given(blocks, st.data())
def test_every_truncation_is_refused(block, data):
    raw = block.encode()
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(DecodeError, match="truncated|trailing"):
        Block.decode(raw[:cut])


@given(blocks, st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_refused(block, junk):
    with pytest.raises(DecodeError, match="trailing"):
        Block.decode(block.encode() + junk)


def test_errors_say_what_and_where():
    raw = bytearray(GOLDEN_TRANSFER.encode())
    raw[0] = 2
    with pytest.raises(DecodeError) as err:
        Transaction.decode(bytes(raw))
    assert err.value.what == "tx.version" and err.value.offset == 0

    raw = bytearray(GOLDEN_TRANSFER.encode())
    raw[1] = 9
    with pytest.raises(DecodeError, match="unknown transaction kind 9") as err:
        Transaction.decode(bytes(raw))
    assert err.value.offset == 1


# Byte offsets inside a transfer: version 1, kind 1, sender 32, nonce 8, fee 8, recipient 20.
@pytest.mark.parametrize("what, offset", [("fee", 42), ("amount", 70)])
def test_out_of_range_money_is_refused(what, offset):
    raw = bytearray(GOLDEN_TRANSFER.encode())
    raw[offset : offset + 8] = struct.pack("<Q", MAX_MONEY + 1)
    with pytest.raises(DecodeError, match="exceeds the money supply") as err:
        Transaction.decode(bytes(raw))
    assert err.value.what == f"tx.transfer.{what}"  # a payload error names its kind
    assert err.value.offset == offset


def test_out_of_range_coinbase_amount_is_refused():
    raw = bytearray(GOLDEN_COINBASE.encode())
    raw[26:34] = struct.pack("<Q", MAX_MONEY + 1)
    with pytest.raises(DecodeError, match="exceeds the money supply") as err:
        Transaction.decode(bytes(raw))
    assert err.value.offset == 26


def test_memo_and_extra_limits():
    raw = bytearray(GOLDEN_TRANSFER.encode())
    memo_length_at = 2 + 32 + 8 + 8 + 20 + 8
    raw[memo_length_at : memo_length_at + 2] = struct.pack("<H", MAX_MEMO_SIZE + 1)
    with pytest.raises(DecodeError, match="exceeds limit") as err:
        Transaction.decode(bytes(raw))
    assert err.value.what == "tx.transfer.memo_length"
    raw = bytearray(GOLDEN_COINBASE.encode())
    raw[34:36] = struct.pack("<H", MAX_COINBASE_EXTRA_SIZE + 1)
    with pytest.raises(DecodeError, match="exceeds limit") as err:
        Transaction.decode(bytes(raw))
    assert err.value.what == "tx.coinbase.extra_length"


def test_block_limits_are_checked_before_reading():
    raw = GOLDEN_HEADER.encode() + struct.pack("<I", MAX_BLOCK_TXS + 1)
    with pytest.raises(DecodeError, match="tx_count"):
        Block.decode(raw)
    with pytest.raises(DecodeError, match="size limit"):
        Block.decode(bytes(MAX_BLOCK_SIZE + 1))


def test_error_inside_a_block_names_the_transaction():
    raw = Block(GOLDEN_HEADER, (GOLDEN_COINBASE, GOLDEN_TRANSFER)).encode()
    with pytest.raises(DecodeError, match=r"block\.tx\[1\]\.transfer\.signature"):
        Block.decode(raw[:-1])


def test_unencodable_values_are_refused_at_construction():
    with pytest.raises(ValueError):
        Header(2, 2**32, bytes(32), bytes(32), bytes(32), 0, 0, 0)
    with pytest.raises(ValueError):
        Header(2, 1, bytes(32), bytes(32), bytes(31), 0, 0, 0)
    with pytest.raises(ValueError):
        Transaction.transfer(bytes(32), bytes(20), MAX_MONEY + 1, 0, 0)
    with pytest.raises(ValueError):
        Transaction.transfer(bytes(31), bytes(20), 1, 0, 0)
    with pytest.raises(ValueError):
        Transaction(TxKind.COINBASE, bytes(20), 1, fee=1)


@given(st.integers(0, MAX_MONEY))
def test_amount_text_round_trip(units):
    assert parse_amount(format_amount(units)) == units


@pytest.mark.parametrize("text", ["", "1.123456789", "-1", "1e3", "abc", "1.2.3", "21000001"])
def test_bad_amount_text(text):
    with pytest.raises(ValueError):
        parse_amount(text)


@given(st.lists(transfers, max_size=8), st.integers(0, 2**32 - 1))
def test_batch_signing_hashes_are_the_single_ones(txs, chain_id):
    """The batch form the signature checks use hashes exactly what signing_hash does: the
    chain id's prefix and the encoding without its signature."""
    from coinium.core.transaction import signing_hash, signing_hashes

    assert signing_hashes(txs, chain_id) == [signing_hash(tx, chain_id) for tx in txs]
    for tx in txs:
        assert signing_hash(tx, chain_id) == blake3.blake3(
            b"coinium tx signing v1" + chain_id.to_bytes(4, "little") + tx.unsigned_encoding()
        ).digest()
