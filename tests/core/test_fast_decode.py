"""The fast decoding path (`read_many`) accepts exactly what the field-by-field reader accepts
and builds equal transactions; anything else falls back to the reader's precise DecodeError. Its
compiled form (`_ext/tx_fast.pyx`) gives exactly what its Python reference gives."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_codec import GOLDEN_COINBASE, GOLDEN_TRANSFER, blocks, coinbases, transfers

from coinium.core import transaction as transaction_module
from coinium.core.block import Block
from coinium.core.codec import DecodeError, Reader
from coinium.core.transaction import Transaction, _read_many_python, read_many

tx_fast = transaction_module._compiled  # None where the extension is not built


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


def _both(data: bytes, offset: int, count: int) -> None:
    """The compiled read_many and the reference: the same None, or equal objects and offset."""
    compiled, reference = tx_fast(data, offset, count), _read_many_python(data, offset, count)
    if reference is None:
        assert compiled is None
        return
    assert compiled is not None and compiled[1] == reference[1]
    assert len(compiled[0]) == len(reference[0]) == count
    for a, b in zip(compiled[0], reference[0], strict=True):
        same_tx(a, b)
        assert (a.kind is b.kind, type(a.nonce), type(a.fee)) == (True, int, int)


@pytest.mark.skipif(tx_fast is None, reason="the compiled decoder is not built")
@given(blocks)
def test_compiled_decode_of_a_block_equals_the_reference(block):
    raw = block.encode()
    count = len(block.transactions)
    _both(raw, len(raw) - sum(len(tx.raw) for tx in block.transactions), count)


@pytest.mark.skipif(tx_fast is None, reason="the compiled decoder is not built")
@given(st.binary(max_size=500), st.sampled_from([GOLDEN_TRANSFER.raw, GOLDEN_COINBASE.raw]),
       st.integers(0, 3), st.integers(0, 3))  # fmt: skip
def test_compiled_decode_of_mangled_bytes_equals_the_reference(noise, base, offset, count):
    """Truncations, bit noise, wrong versions and kinds, long memos, odd offsets and counts: the
    same verdict and the same objects from both."""
    for data in (noise, base[: len(noise) % len(base)], base + noise[:3], noise[:2] + base[2:],
                 base[:1] + noise[:1] + base[2:], base + base, noise[:offset] + base + base,
                 base[:78] + noise[:2] + base[80:] + noise):  # fmt: skip
        _both(data, offset, count)


@pytest.mark.skipif(tx_fast is None, reason="the compiled decoder is not built")
def test_compiled_decode_at_the_limits():
    """Amounts and fees at and past MAX_MONEY, the longest memo and coinbase extra, nonces at
    2^64-1: the reference's verdict each time."""
    import struct

    from coinium.core.units import MAX_MONEY

    head = struct.Struct("<BB32sQQ20sQH")
    for amount in (0, MAX_MONEY, MAX_MONEY + 1, 2**64 - 1):
        for memo in (0, 256, 257):
            data = head.pack(1, 1, bytes(32), 2**64 - 1, amount, bytes(20), amount, memo) \
                + bytes(memo) + bytes(64)  # fmt: skip
            _both(data, 0, 1)
    cb = struct.Struct("<BBI20sQH")
    for amount in (MAX_MONEY, MAX_MONEY + 1):
        for extra in (100, 101):
            _both(cb.pack(1, 0, 2**32 - 1, bytes(20), amount, extra) + bytes(extra), 0, 1)


def test_the_cython_backend_decodes_with_the_compiled_path(monkeypatch):
    """read_many takes the compiled path exactly when the cython kernels are in use."""
    from coinium import kernels

    calls = []
    monkeypatch.setattr(transaction_module, "_read_many_python",
                        lambda *args: calls.append(args) or _read_many_python(*args))
    Transaction.decode(GOLDEN_TRANSFER.raw)
    assert bool(calls) == (tx_fast is None or kernels.BACKEND != "cython")


@pytest.mark.skipif(tx_fast is None, reason="the compiled decoder is not built")
@pytest.mark.parametrize("module", ["coinium.core._tx_fast", "coinium.store._state_fast"])
def test_a_missing_compiled_path_is_said_with_the_cython_kernels(module):
    """The cython kernels without one of the compiled paths (a partial install): a warning, and
    the Python path decodes / updates; never a silent fallback."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (f"import sys, logging; logging.basicConfig(); sys.modules[{module!r}] = None\n"
            "import coinium.core.transaction as t, coinium.store.state_tree as s\n"
            "print(t._compiled is None, s._state_fast is None)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[2],
                          env={**os.environ, "COINIUM_KERNELS": "cython"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    missing = module.rsplit(".", 1)[1]
    assert f"{missing}) is missing" in done.stderr
    assert done.stdout.split() == [str(missing == "_tx_fast"), str(missing == "_state_fast")]
