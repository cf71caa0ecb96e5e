"""The fast decoding path (`read_many`) accepts exactly what the field-by-field reader accepts
and builds equal transactions; anything else falls back to the reader's precise DecodeError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_codec import GOLDEN_COINBASE, GOLDEN_TRANSFER, blocks, coinbases, transfers

from coinium.core.block import Block
from coinium.core.codec import DecodeError, Reader
from coinium.core.transaction import Transaction, read_many


def slow_block(data: bytes) -> Block:
    """Block.decode with the fast path left out."""
    from coinium.core.header import HEADER_SIZE, Header

    r = Reader(data, "block")
    header = Header.decode(r.fixed(HEADER_SIZE, "header"))
    count = r.u32("tx_count")
    txs = tuple(Transaction.read(r) for _ in range(count))
    r.finish()
    return Block(header, txs)


def same_tx(a: Transaction, b: Transaction) -> None:
    assert a == b
    assert (a.raw, a.txid, type(a.kind)) == (b.raw, b.txid, type(b.kind))


@given(blocks)
def test_fast_block_decode_equals_slow(block):
    raw = block.encode()
    fast, slow = Block.decode(raw), slow_block(raw)
    assert fast == slow == block
    for a, b in zip(fast.transactions, slow.transactions, strict=True):
        same_tx(a, b)


@given(coinbases | transfers)
def test_fast_tx_decode_equals_constructor(tx):
    same_tx(Transaction.decode(tx.raw), tx)


@given(st.binary(max_size=400), st.sampled_from([GOLDEN_TRANSFER.raw, GOLDEN_COINBASE.raw]))
def test_mangled_bytes_give_the_same_verdict(noise, base):
    """Random corruptions of a valid encoding: both paths accept or both raise."""
    for data in (noise, base[: len(noise) % len(base)], base + noise[:3],
                 noise[:2] + base[2:], base[:1] + noise[:1] + base[2:]):
        slow: object
        try:
            r = Reader(data, "tx")
            slow = Transaction.read(r)
            r.finish()
        except DecodeError as exc:
            slow = str(exc)
        try:
            fast: object = Transaction.decode(data)
        except DecodeError as exc:
            fast = str(exc)
        assert fast == slow
        if isinstance(fast, Transaction):
            same_tx(fast, slow)  # type: ignore[arg-type]


@pytest.mark.parametrize("field_offset, value", [(0, 2), (1, 7)])
def test_unknown_version_or_kind_is_left_to_the_reader(field_offset, value):
    data = bytearray(GOLDEN_TRANSFER.raw)
    data[field_offset] = value
    assert read_many(bytes(data), 0, 1) is None
    with pytest.raises(DecodeError):
        Transaction.decode(bytes(data))
