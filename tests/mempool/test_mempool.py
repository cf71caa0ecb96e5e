"""The mempool against a real regtest chain: admission and every reject reason, nonce chains,
block selection (a property test connects what it selects), block and reorg events, and the
bitcoind shapes of the sequence, getmempoolentry and getmempoolinfo."""

from __future__ import annotations

import tempfile

import pytest
from helpers import key
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pool_helpers import CHAIN_ID, NO_FLOOR, REWARD, Event, make_pool, mine_on, pay, publish

from coinium.chain.builder import generate
from coinium.chain.chainstate import AcceptStatus, ChainState
from coinium.core.account import Account
from coinium.core.params import MAIN, REGTEST
from coinium.core.transaction import Transaction, sign_transfer
from coinium.core.units import COIN, MAX_MONEY
from coinium.mempool import admission as admission_module
from coinium.mempool.policy import MempoolPolicy
from coinium.mempool.pool import (
    RPC_DESERIALIZATION_ERROR,
    RPC_VERIFY_ERROR,
    RPC_VERIFY_REJECTED,
    Mempool,
    MempoolReject,
)


def state(pool: Mempool):
    nonces = [pool.pending_nonce(key(n).account) for n in (1, 2, 3)]
    return pool.txids(), pool.sequence, pool.info(), nonces


# --- admission ----------------------------------------------------------------------------------
def test_admits_a_valid_transfer_and_announces_it(funded, alice, bob):
    pool, rec = make_pool(funded)
    assert pool.sequence == 1  # bitcoind's mempool_sequence on a fresh pool
    tx = pay(alice, bob, COIN, 0, fee=1440)
    entry = pool.add(tx, now=1234, height=2)
    assert entry.txid == tx.txid and entry.tx is tx and entry.sender == alice.account
    assert (entry.fee, entry.size, entry.fee_rate) == (1440, 144, 10_000)
    assert (entry.time, entry.height, entry.sequence) == (1234, 2, 1)
    assert (entry.vsize, entry.weight) == (144, 576)
    assert tx.txid in pool and len(pool) == 1 and pool.get(tx.txid) is entry
    assert pool.txids() == [tx.txid] and pool.entries() == [entry]
    assert rec.events == [Event("A", tx.txid, 1)]
    assert pool.sequence == 2
    assert pool.pending_nonce(alice.account) == 1 and pool.pending_nonce(bob.account) == 0
    pool.test_accept(pay(alice, bob, COIN, 1))  # the next nonce would be taken; nothing changes
    assert len(pool) == 1 and pool.sequence == 2 and len(rec.events) == 1


def _reject_cases(alice, bob):
    carol = key(3)
    first = pay(alice, bob, COIN, 0)
    forged = pay(alice, bob, COIN, 1)
    object.__setattr__(forged, "amount", 2 * COIN)  # fields no longer match the signed bytes
    return [
        ("coinbase", Transaction.coinbase(3, bob.account, COIN), "bad-txns-kind"),
        (
            "too much money",
            sign_transfer(alice, CHAIN_ID, bob.account, MAX_MONEY, 1, 1),
            "bad-txns-txouttotal-toolarge",
        ),
        (
            "other network",
            sign_transfer(alice, MAIN.chain_id, bob.account, COIN, 1000, 1),
            "bad-txns-signature",
        ),
        ("bad signature", pay(alice, bob, COIN, 1).with_signature(bytes(64)), "bad-txns-signature"),
        ("duplicate", first, "txn-already-in-mempool"),
        ("same nonce, same fee", pay(alice, bob, 2 * COIN, 0), "insufficient fee"),
        ("gap beyond the held window", pay(alice, bob, COIN, 1 + 26), "nonce-gap"),
        ("below the relay floor", pay(alice, bob, COIN, 1, fee=143), "min relay fee not met"),
        ("overspend", pay(alice, bob, REWARD - COIN, 1), "bad-txns-in-belowout"),
        ("unfunded", pay(carol, bob, 1, 0, fee=0), "bad-txns-in-belowout"),
        ("forged", forged, "TX decode failed"),
        ("bytes", first.raw, "TX decode failed"),
        ("none", None, "TX decode failed"),
    ], first


def test_every_reject_reason_leaves_the_pool_unchanged(funded, alice, bob):
    pool, rec = make_pool(funded)
    cases, first = _reject_cases(alice, bob)
    pool.add(first)
    before, events = state(pool), list(rec.events)
    codes = {}
    for name, tx, reason in cases:
        for attempt in (pool.test_accept, pool.add):
            with pytest.raises(MempoolReject) as info:
                attempt(tx)
            assert info.value.reason == reason, name
            codes[reason] = info.value.code
        assert state(pool) == before and rec.events == events, name
    assert codes["nonce-gap"] == RPC_VERIFY_ERROR
    assert codes["TX decode failed"] == RPC_DESERIALIZATION_ERROR
    assert {c for r, c in codes.items() if r not in ("nonce-gap", "TX decode failed")} == {
        RPC_VERIFY_REJECTED
    }


def test_used_nonce_is_bad_txns_nonce(funded, alice, bob):
    generate(funded, 1, bob.account, [pay(alice, bob, COIN, 0)])
    pool, _ = make_pool(funded)
    with pytest.raises(MempoolReject) as info:
        pool.add(pay(alice, bob, 2 * COIN, 0))
    assert (info.value.reason, info.value.code) == ("bad-txns-nonce", RPC_VERIFY_REJECTED)
    assert pool.pending_nonce(alice.account) == 1
    pool.add(pay(alice, bob, 2 * COIN, 1))


def test_full_pool_and_oversize_tx_are_refused(funded, alice, bob, monkeypatch):
    small, _ = make_pool(funded, policy=MempoolPolicy(max_bytes=1000))
    with pytest.raises(MempoolReject, match="mempool full"):
        small.add(pay(alice, bob, COIN, 0))
    pool, _ = make_pool(funded)
    monkeypatch.setattr(admission_module, "DEFAULT_BLOCK_MAX_BYTES", 150)
    with pytest.raises(MempoolReject) as info:
        pool.add(pay(alice, bob, COIN, 0, memo=b"x" * 10))
    assert info.value.reason == "tx-size" and len(pool) == 0


def test_nonce_chain_and_cumulative_balance(funded, alice, bob):
    pool, _ = make_pool(funded, policy=NO_FLOOR)
    chain_txs = [pay(alice, bob, 20 * COIN, n, fee=COIN) for n in range(2)]
    for tx in chain_txs:
        pool.add(tx)
    assert pool.pending_nonce(alice.account) == 2
    # 2 x 21 coins pending: 8 left, so a 10-coin third transfer is refused, an 8-coin one fits.
    with pytest.raises(MempoolReject, match="bad-txns-in-belowout"):
        pool.add(pay(alice, bob, 10 * COIN, 2, fee=0))
    last = pay(alice, bob, 8 * COIN, 2, fee=0)
    pool.add(last)
    ids = [tx.txid for tx in (*chain_txs, last)]
    assert [e.txid for e in pool.pending_transactions(alice.account)] == ids
    middle = pool.entry_info(ids[1])
    assert middle["depends"] == [ids[0].hex()] and middle["spentby"] == [ids[2].hex()]
    assert (middle["ancestorcount"], middle["descendantcount"]) == (2, 2)
    assert middle["fees"]["ancestor"] == 2.0 and middle["fees"]["descendant"] == 1.0


# --- block templates ----------------------------------------------------------------------------
def test_selection_by_fee_rate_keeps_each_sender_in_nonce_order(funded, alice, bob):
    pool, _ = make_pool(funded, policy=NO_FLOOR)
    a0 = pool.add(pay(alice, bob, COIN, 0, fee=100)).tx  # cheap parent ...
    a1 = pool.add(pay(alice, bob, COIN, 1, fee=90_000)).tx  # ... of the richest child
    b0 = pool.add(pay(bob, alice, COIN, 0, fee=5_000)).tx
    b1 = pool.add(pay(bob, alice, COIN, 1, fee=50)).tx
    assert pool.select_for_block() == [b0, a0, a1, b1]
    assert pool.select_for_block(max_count=2) == [b0, a0]
    assert pool.select_for_block(max_bytes=144 * 3) == [b0, a0, a1]
    assert pool.select_for_block(max_bytes=143) == []
    [block] = generate(funded, 1, bob.account, pool.select_for_block())
    assert len(block.transactions) == 5


def test_selection_skips_a_sender_whose_next_tx_does_not_fit(funded, alice, bob):
    pool, _ = make_pool(funded, policy=NO_FLOOR)
    big = pool.add(pay(alice, bob, COIN, 0, fee=10_000, memo=b"m" * 200)).tx  # 344 bytes
    pool.add(pay(alice, bob, COIN, 1, fee=10_000))
    small = pool.add(pay(bob, alice, COIN, 0, fee=10)).tx
    assert pool.select_for_block(max_bytes=300) == [small]  # alice's nonce 1 waits on nonce 0
    assert pool.select_for_block(max_bytes=344) == [big]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    txs=st.lists(
        st.tuples(
            st.integers(0, 2),
            st.integers(0, 30 * COIN),
            st.integers(0, 50_000),
            st.integers(0, 256),
        ),  # fmt: skip
        max_size=24,
    ),
    max_count=st.integers(0, 30),
    max_bytes=st.integers(0, 6_000),
)
def test_selection_always_connects(txs, max_count, max_bytes):
    keys = [key(1), key(2), key(3)]
    with tempfile.TemporaryDirectory() as tmp, ChainState(tmp, REGTEST, sync=False) as chain:
        for k in keys:
            generate(chain, 1, k.account)
        pool, rec = make_pool(chain, policy=NO_FLOOR)
        for sender, amount, fee, memo_len in txs:
            k = keys[sender]
            tx = sign_transfer(k, CHAIN_ID, keys[(sender + 1) % 3].account, amount, fee,
                               pool.pending_nonce(k.account), b"\x07" * memo_len)  # fmt: skip
            try:
                pool.add(tx)
            except MempoolReject as exc:
                assert exc.reason == "bad-txns-in-belowout"
        pending = {k.account: [e.tx for e in pool.pending_transactions(k.account)] for k in keys}
        selected = pool.select_for_block(max_bytes, max_count)
        assert len(selected) <= max_count and sum(tx.size for tx in selected) <= max_bytes
        for chain_txs in pending.values():  # a prefix of every sender's chain
            picked = [tx for tx in selected if chain_txs and tx.sender == chain_txs[0].sender]
            assert picked == chain_txs[: len(picked)]
        if max_count >= len(pool) and max_bytes >= pool.total_bytes:
            assert len(selected) == len(pool)
        before = pool.sequence
        result = mine_on(chain, selected, keys[0].account)
        assert result.status == AcceptStatus.NEW_TIP, result.error
        publish(pool, chain, result)
        assert pool.sequence == before + len(selected)  # block inclusion counts, unannounced
        assert all(e.kind == "A" for e in rec.events)
        assert sorted(pool.txids()) == sorted(
            tx.txid for txs_ in pending.values() for tx in txs_ if tx not in selected
        )
        # What stays is still a valid chain from each new confirmed state.
        rest = pool.select_for_block()
        assert mine_on(chain, rest, keys[1].account).status == AcceptStatus.NEW_TIP


# --- chain events -------------------------------------------------------------------------------
def test_connected_block_removes_included_transactions_silently(funded, alice, bob):
    pool, rec = make_pool(funded)
    txs = [pool.add(pay(alice, bob, COIN, n)).tx for n in range(3)]
    publish(pool, funded, mine_on(funded, txs[:2], bob.account))
    assert pool.txids() == [txs[2].txid]
    assert [e.kind for e in rec.events] == ["A", "A", "A"]
    assert pool.sequence == 6  # 3 adds + 2 block removals
    assert pool.pending_nonce(alice.account) == 3
    assert pool.entry_info(txs[2].txid)["depends"] == []


def test_an_empty_pool_follows_blocks_and_takes_back_a_reorg(funded, alice, bob):
    """An empty pool skips a connected block's bookkeeping (a sync's case), yet refuses a nonce
    the block used and takes back what a reorg disconnects."""
    pool, rec = make_pool(funded)
    fork_point = funded.tip.hash
    confirmed = pay(alice, bob, COIN, 0)
    publish(pool, funded, mine_on(funded, [confirmed], bob.account))  # never in this pool
    assert len(pool) == 0 and pool.tip_height == funded.height
    with pytest.raises(MempoolReject, match="bad-txns-nonce"):
        pool.add(pay(alice, bob, COIN, 0, fee=2000))
    second = pool.add(pay(alice, bob, COIN, 1)).tx
    publish(pool, funded, mine_on(funded, pool.select_for_block(), bob.account))
    assert len(pool) == 0
    rec.events.clear()
    # The other branch confirms the first transaction again, not the second: only the second
    # comes back (the first is confirmed on the new chain).
    parent, included = fork_point, [confirmed]
    for _ in range(3):
        result = mine_on(funded, included, alice.account, parent=parent, extra=b"side")
        parent, included = result.block_hash, []
    assert len(result.disconnected) == 2
    publish(pool, funded, result)
    assert pool.txids() == [second.txid]
    assert [(e.kind, e.txid) for e in rec.events] == [("A", second.txid)]


def test_block_with_a_conflicting_tx_evicts_and_revalidates(funded, alice, bob):
    pool, rec = make_pool(funded)
    ours = [pool.add(pay(alice, bob, COIN, n)).tx for n in range(3)]
    # Another alice transaction with nonce 0 confirms and leaves her 2 coins.
    theirs = pay(alice, bob, REWARD - 2 * COIN, 0, fee=0)
    publish(pool, funded, mine_on(funded, [theirs], bob.account))
    # nonce 1 still fits (1 coin + 1000 units of 2 coins), nonce 2 no longer does.
    assert pool.txids() == [ours[1].txid]
    removed = [e for e in rec.events if e.kind == "R"]
    assert [(e.txid, e.reason) for e in removed] == [(ours[0].txid, "conflict"),
                                                     (ours[2].txid, "reorg")]  # fmt: skip


def test_reorg_takes_back_disconnected_transactions(funded, alice, bob):
    carol = key(3)
    pool, rec = make_pool(funded)
    fork_point = funded.tip.hash
    confirmed = [pay(alice, bob, COIN, 0), pay(alice, carol, 2 * COIN, 1)]
    for tx in confirmed:
        pool.add(tx)
    for _ in confirmed:  # one block each, so block order and disconnection order differ
        publish(pool, funded, mine_on(funded, pool.select_for_block(max_count=1), bob.account))
    later = pool.add(pay(alice, bob, COIN, 2)).tx  # pending on top of the confirmed ones
    spend_gift = pool.add(pay(carol, bob, COIN, 0)).tx  # carol spends what the block gave her
    assert len(pool) == 2
    rec.events.clear()

    parent = fork_point
    for _ in range(3):
        result = mine_on(funded, [], alice.account, parent=parent, extra=b"side")
        parent = result.block_hash
    assert len(result.disconnected) == 2 and len(result.connected) == 3
    seq = pool.sequence
    publish(pool, funded, result)

    assert [(e.kind, e.txid, e.sequence, e.reason) for e in rec.events] == [
        ("A", confirmed[0].txid, seq, None),  # back in block order ...
        ("A", confirmed[1].txid, seq + 1, None),
        ("R", spend_gift.txid, seq + 2, "reorg"),  # ... then what lost its funds
    ]
    assert [e.txid for e in pool.pending_transactions(alice.account)] == [
        confirmed[0].txid, confirmed[1].txid, later.txid]  # fmt: skip
    assert pool.pending_nonce(alice.account) == 3
    assert pool.get(confirmed[0].txid).height == funded.height
    # The template puts them back in nonce order and connects.
    assert pool.select_for_block() == [*confirmed, later]
    publish(pool, funded, mine_on(funded, pool.select_for_block(), bob.account))
    assert len(pool) == 0


def test_reorg_to_a_conflicting_branch_drops_silently_and_evicts(funded, alice, bob):
    pool, rec = make_pool(funded)
    fork_point = funded.tip.hash
    old = pay(alice, bob, COIN, 0)
    pool.add(old)
    publish(pool, funded, mine_on(funded, [old], bob.account))
    pending = pool.add(pay(alice, bob, COIN, 1)).tx
    # bob holds 2 rewards + 1 coin; the other branch leaves him 1 reward + 40 coins.
    miner_spend = pool.add(pay(bob, alice, REWARD + 45 * COIN, 0)).tx
    rec.events.clear()
    # The other branch spends alice's nonce 0 differently and leaves her 10 coins.
    rival = pay(alice, bob, REWARD - 10 * COIN, 0, fee=0)
    side = mine_on(funded, [rival], alice.account, parent=fork_point, extra=b"rival")
    result = mine_on(funded, [], alice.account, parent=side.block_hash)
    publish(pool, funded, result)
    assert old.txid not in pool  # its nonce is taken on the new chain: dropped, unannounced
    assert pending.txid in pool
    assert [(e.kind, e.txid, e.reason) for e in rec.events] == [
        ("R", miner_spend.txid, "reorg")]  # fmt: skip
    assert funded.get_account(alice.account) == Account(10 * COIN + 2 * REWARD, 1)


def test_reorg_drops_a_chain_from_its_first_shortfall(funded, alice, bob):
    pool, rec = make_pool(funded, policy=NO_FLOOR)
    carol = key(3)
    fork_point = funded.tip.hash
    gift = pay(alice, carol, 10 * COIN, 0)
    publish(pool, funded, mine_on(funded, [gift], bob.account))
    spends = [pool.add(pay(carol, bob, 3 * COIN, n, fee=0)).tx for n in range(3)]
    rec.events.clear()
    # The new chain gives carol only 7 coins: two spends stay, the third goes.
    smaller = pay(alice, carol, 7 * COIN, 0)
    side = mine_on(funded, [smaller], bob.account, parent=fork_point, extra=b"less")
    publish(pool, funded, mine_on(funded, [], bob.account, parent=side.block_hash))
    assert pool.txids() == [spends[0].txid, spends[1].txid]
    assert [(e.txid, e.reason) for e in rec.events] == [(spends[2].txid, "reorg")]
    assert gift.txid not in pool  # alice's nonce 0 went to `smaller`


# --- sequence and listeners ---------------------------------------------------------------------
def test_sequence_numbers_strictly_increase_and_arrive_in_order(funded, alice, bob):
    pool, rec = make_pool(funded)

    class Broken:
        def transaction_added(self, *args):
            raise RuntimeError("subscriber bug")

        transaction_removed = transaction_added

    pool.listeners.insert(0, Broken())  # a failing subscriber must not stop the others
    ours = [pool.add(pay(alice, bob, COIN, n)).tx for n in range(3)]
    pool.add(pay(bob, alice, COIN, 0))
    publish(pool, funded, mine_on(funded, [pay(alice, bob, 5 * COIN, 0)], bob.account))
    publish(pool, funded, mine_on(funded, pool.select_for_block(max_count=1), bob.account))
    sequences = [e.sequence for e in rec.events]
    assert sequences == sorted(set(sequences)) and sequences[0] == 1
    assert rec.events[-1].sequence < pool.sequence
    assert ours[0].txid not in pool
    # Every add and removal took one number: 4 adds, 1 conflict, 1 block inclusion.
    assert pool.sequence == 1 + 4 + 1 + 1


# --- RPC shapes ---------------------------------------------------------------------------------
GETMEMPOOLENTRY_KEYS = [
    "vsize", "weight", "time", "height", "descendantcount", "descendantsize", "ancestorcount",
    "ancestorsize", "wtxid", "fees", "depends", "spentby", "bip125-replaceable", "unbroadcast",
]  # fmt: skip
GETMEMPOOLINFO_KEYS = [
    "loaded", "size", "bytes", "usage", "total_fee", "maxmempool", "mempoolminfee",
    "minrelaytxfee", "incrementalrelayfee", "unbroadcastcount", "fullrbf",
]  # fmt: skip


def test_entry_info_and_info_have_bitcoind_shapes(funded, alice, bob):
    pool, _ = make_pool(funded)
    info = pool.info()
    assert list(info) == GETMEMPOOLINFO_KEYS
    assert (info["size"], info["bytes"], info["total_fee"], info["loaded"]) == (0, 0, 0, True)
    first = pool.add(pay(alice, bob, COIN, 0, fee=25_000), now=99, height=2).tx
    second = pool.add(pay(alice, bob, COIN, 1, fee=50_000, memo=b"hi"), now=100, height=2).tx
    entry = pool.entry_info(first.txid)
    assert list(entry) == GETMEMPOOLENTRY_KEYS
    assert list(entry["fees"]) == ["base", "modified", "ancestor", "descendant"]
    assert entry == {
        "vsize": 144, "weight": 576, "time": 99, "height": 2,
        "descendantcount": 2, "descendantsize": 290, "ancestorcount": 1, "ancestorsize": 144,
        "wtxid": first.txid.hex(),
        "fees": {"base": 0.00025, "modified": 0.00025, "ancestor": 0.00025,
                 "descendant": 0.00075},
        "depends": [], "spentby": [second.txid.hex()],
        "bip125-replaceable": False, "unbroadcast": False,
    }  # fmt: skip
    info = pool.info()
    assert (info["size"], info["bytes"], info["total_fee"]) == (2, 290, 0.00075)
    assert info["usage"] > info["bytes"] and info["maxmempool"] == 300_000_000
    with pytest.raises(KeyError):
        pool.entry_info(bytes(32))
    assert pool.get(bytes(32)) is None and bytes(32) not in pool
    assert pool.get([]) is None and [] not in pool  # type: ignore[arg-type]
