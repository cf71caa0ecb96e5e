"""Rebuilding a compact block from mempool candidates (coinium.p2p.compact), with real signed
transfers: whatever subset of the block the mempool holds, and whatever else it holds, the
rebuild asks for exactly the missing indexes and, once given them, yields the block itself."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from coinium import kernels
from coinium.core.block import Block
from coinium.core.header import Header
from coinium.core.transaction import Transaction, sign_transfer
from coinium.crypto.keys import PrivateKey
from coinium.p2p.compact import SHORT_ID_SIZE, rebuild, short_id, short_id_key
from coinium.p2p.compactrelay import compact_of

KEY = PrivateKey((77).to_bytes(32, "big"))
POOL = [sign_transfer(KEY, 1, KEY.account, 1, 1000, nonce) for nonce in range(40)]
COINBASE = Transaction.coinbase(9, KEY.account, 50, b"compact")


def _block(txs: list[Transaction]) -> Block:
    root = kernels.merkle_root([tx.txid for tx in (COINBASE, *txs)])
    return Block(Header(2, 9, bytes(32), root, bytes(32), 1, 0x207FFFFF, 0), (COINBASE, *txs))


@settings(max_examples=60, deadline=None)
@given(st.sets(st.integers(0, 39), min_size=1, max_size=20), st.sets(st.integers(0, 39)),
       st.integers(0, (1 << 64) - 1))  # fmt: skip
def test_rebuild_asks_for_exactly_what_the_candidates_lack(in_block, in_pool, salt):
    txs = [POOL[i] for i in sorted(in_block)]
    block = _block(txs)
    compact = compact_of(block, salt)
    found = rebuild(block.header, salt, COINBASE, compact.short_ids,
                    [(POOL[i].txid, POOL[i]) for i in in_pool])  # fmt: skip
    assert not found.collision
    expected = [n + 1 for n, tx in enumerate(txs) if POOL.index(tx) not in in_pool]
    assert found.missing == expected
    assert (found.block() is None) == bool(expected)
    assert found.fill(expected, [block.transactions[i] for i in expected])
    assert found.block() == block
    if expected:
        assert not found.fill(expected[:1], [COINBASE])  # a slot fills once


def test_repeated_ids_and_a_mismatched_candidate_are_collisions_or_a_wrong_root():
    txs = POOL[:5]
    block = _block(txs)
    salt = random.getrandbits(64)
    ids = compact_of(block, salt).short_ids
    repeated = rebuild(block.header, salt, COINBASE, (ids[0], ids[0], *ids[2:]),
                       [(tx.txid, tx) for tx in txs])  # fmt: skip
    assert repeated.collision and repeated.block() is None
    # Another transaction under tx 3's id (what an undetected collision looks like): the rebuild
    # completes, and the Merkle root gives it away.
    key = short_id_key(block.header, salt)
    outsider = POOL[30]
    swapped = (*ids[:2], short_id(key, outsider.txid), *ids[3:])
    found = rebuild(block.header, salt, COINBASE, swapped,
                    [(tx.txid, tx) for tx in (*txs, outsider)])  # fmt: skip
    assert not found.collision and not found.missing and found.block() is None
    assert all(len(i) == SHORT_ID_SIZE for i in ids)


def test_short_ids_depend_on_the_salt():
    block = _block(POOL[:10])
    assert compact_of(block, 1).short_ids != compact_of(block, 2).short_ids


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.lists(st.binary(min_size=32, max_size=32),
                                                     max_size=50))  # fmt: skip
def test_the_compiled_short_ids_are_the_definition(key, txids):
    """The C loop the rebuild uses (when built) gives BLAKE3_keyed(key, txid)[:6], as
    docs/PROTOCOL.md defines the short id; a txid that is not 32 bytes is refused."""
    import pytest
    from kernels.kernels_testlib import load_or_skip

    load_or_skip("cython")  # its extension holds the loop (CI fails rather than skips)
    from coinium.kernels import _ckernels

    assert _ckernels.short_ids(key, txids, SHORT_ID_SIZE) == [short_id(key, t) for t in txids]
    with pytest.raises(ValueError):
        _ckernels.short_ids(key, [*txids, b"\x00" * 31], SHORT_ID_SIZE)
    with pytest.raises(TypeError):
        _ckernels.short_ids(key, [*txids, bytearray(32)], SHORT_ID_SIZE)
