"""Mempool policy against a real regtest chain: the fee floor, future nonces held and promoted,
replace-by-fee, size-limit eviction with the rolling minimum fee, and expiry."""

from __future__ import annotations

import pytest
from helpers import key
from pool_helpers import NO_FLOOR, REWARD, Event, make_pool, mine_on, pay, publish

from coinium.chain.builder import generate
from coinium.chain.chainstate import AcceptStatus
from coinium.core.units import COIN
from coinium.mempool.policy import MempoolPolicy, fee_for, halve
from coinium.mempool.pool import ENTRY_OVERHEAD, RPC_VERIFY_ERROR, MempoolReject

SLOT = 144 + ENTRY_OVERHEAD  # usage of one memo-less transfer


def reject_reason(pool, tx) -> str:
    with pytest.raises(MempoolReject) as info:
        pool.add(tx)
    return info.value.reason


# --- fee floor ----------------------------------------------------------------------------------
def test_min_relay_fee_rate(funded, alice, bob):
    pool, rec = make_pool(funded)  # default: 1000 units per 1000 bytes
    assert fee_for(1000, 144) == 144
    assert reject_reason(pool, pay(alice, bob, COIN, 0, fee=143)) == "min relay fee not met"
    assert pool.add(pay(alice, bob, COIN, 0, fee=144)) is not None
    info = pool.info()
    assert info["minrelaytxfee"] == info["mempoolminfee"] == 0.00001
    assert info["incrementalrelayfee"] == 0.00001 and info["fullrbf"] is True
    free, _ = make_pool(funded, policy=NO_FLOOR)
    free.add(pay(alice, bob, COIN, 0, fee=0))


# --- future nonces ------------------------------------------------------------------------------
def test_gap_is_held_then_promoted_in_order(funded, alice, bob):
    pool, rec = make_pool(funded)
    later = [pay(alice, bob, COIN, n) for n in (2, 3)]
    for tx in later:
        assert pool.add(tx) is None  # held: not in the pool, not announced
    assert len(pool) == 0 and rec.events == [] and len(pool.future) == 2
    assert pool.pending_nonce(alice.account) == 0
    assert reject_reason(pool, later[0]) == "txn-already-known"
    with pytest.raises(MempoolReject) as info:
        pool.test_accept(pay(alice, bob, 2 * COIN, 4))  # would only be held
    assert (info.value.reason, info.value.code) == ("nonce-gap", RPC_VERIFY_ERROR)

    pool.add(pay(alice, bob, COIN, 0))
    assert len(pool.future) == 2  # nonce 1 still missing
    gap = pool.add(pay(alice, bob, COIN, 1)).tx
    assert len(pool.future) == 0
    assert [e.nonce for e in pool.pending_transactions(alice.account)] == [0, 1, 2, 3]
    assert [e.txid for e in rec.events][1:] == [gap.txid, later[0].txid, later[1].txid]
    assert [e.sequence for e in rec.events] == [1, 2, 3, 4]
    generate(funded, 1, bob.account, pool.select_for_block())  # and they connect


def test_future_window_and_bounds(funded, alice, bob):
    carol = key(3)
    generate(funded, 1, carol.account)
    pool, _ = make_pool(funded, policy=MempoolPolicy(max_future_per_sender=3, max_future_txs=4))
    assert reject_reason(pool, pay(alice, bob, COIN, 4)) == "nonce-gap"  # 4 ahead of 0
    for n in (1, 2, 3):
        assert pool.add(pay(alice, bob, COIN, n, fee=1000 + n)) is None
    assert reject_reason(pool, pay(carol, bob, REWARD, 1)) == "bad-txns-in-belowout"  # alone
    pool.add(pay(bob, alice, COIN, 1, fee=2000))
    assert len(pool.future) == 4
    # Full: a newcomer paying no more than the cheapest held one is refused; one paying more
    # takes its place.
    assert reject_reason(pool, pay(carol, bob, COIN, 1, fee=1001)) == "future pool full"
    pool.add(pay(carol, bob, COIN, 1, fee=1500))
    held = {(item.sender, item.nonce) for item in pool.future}
    assert (alice.account, 1) not in held and (carol.account, 1) in held
    # A held transaction is replaced by one paying more for the same nonce, silently.
    assert reject_reason(pool, pay(bob, alice, 2 * COIN, 1, fee=2000)) == "insufficient fee"
    better = pay(bob, alice, 2 * COIN, 1, fee=4000)
    assert pool.add(better) is None and better.txid in pool.future


def test_held_transaction_waits_for_funds_and_drops_when_its_nonce_is_taken(funded, alice, bob):
    carol = key(3)
    pool, rec = make_pool(funded)
    pool.add(pay(alice, bob, 30 * COIN, 0))
    assert pool.add(pay(alice, bob, 25 * COIN, 2)) is None  # fundable alone, not after 0 and 1
    pool.add(pay(alice, carol, COIN, 1))
    assert len(pool) == 2 and len(pool.future) == 1  # 31 + 25 coins > 50: it waits
    publish(pool, funded, mine_on(funded, pool.select_for_block(), alice.account))  # +50 coins
    assert [e.nonce for e in pool.pending_transactions(alice.account)] == [2]
    assert len(pool.future) == 0

    # bob's held nonce 2 is dropped when a block takes nonce 2 with another transaction.
    assert pool.add(pay(bob, alice, COIN, 2)) is None
    rival = [pay(bob, alice, COIN, n) for n in range(3)]
    publish(pool, funded, mine_on(funded, rival, carol.account))
    assert len(pool.future) == 0 and not pool.pending_transactions(bob.account)
    assert all(e.kind == "A" for e in rec.events if e.txid in {t.txid for t in rival})


# --- replace-by-fee -----------------------------------------------------------------------------
def test_replacement_needs_a_higher_rate_and_more_fees(funded, alice, bob):
    pool, rec = make_pool(funded)
    old = pool.add(pay(alice, bob, COIN, 0, fee=10_000)).tx
    child = pool.add(pay(alice, bob, COIN, 1, fee=10_000)).tx
    assert reject_reason(pool, old) == "txn-already-in-mempool"
    same_rate = pay(alice, bob, 2 * COIN, 0, fee=10_000)
    assert reject_reason(pool, same_rate) == "insufficient fee"  # rule 6
    too_little = pay(alice, bob, 2 * COIN, 0, fee=10_100)  # +100 < 144 for its 144 bytes
    with pytest.raises(MempoolReject, match="not enough additional fees") as info:
        pool.add(too_little)
    assert info.value.reason == "insufficient fee"
    big = pay(alice, bob, 2 * COIN, 0, fee=15_000, memo=b"m" * 200)  # more fee, lower rate
    assert reject_reason(pool, big) == "insufficient fee"
    assert pool.txids() == [old.txid, child.txid] and len(rec.events) == 2

    new = pay(alice, bob, 2 * COIN, 0, fee=10_144)
    seq = pool.sequence
    entry = pool.add(new)
    assert rec.events[2:] == [Event("R", old.txid, seq, "replaced"),
                              Event("A", new.txid, seq + 1)]  # fmt: skip
    assert entry.sequence == seq + 1
    # The later nonce stays: the balance still covers it.
    assert [e.txid for e in pool.pending_transactions(alice.account)] == [new.txid, child.txid]
    assert pool.total_fee == 10_144 + 10_000
    result = mine_on(funded, pool.select_for_block(), bob.account)
    assert result.status == AcceptStatus.NEW_TIP


def test_replacement_drops_descendants_it_leaves_unfunded_and_pays_for_them(funded, alice, bob):
    pool, rec = make_pool(funded)
    n0 = pool.add(pay(alice, bob, 10 * COIN, 0)).tx
    n1 = pool.add(pay(alice, bob, 20 * COIN, 1)).tx
    n2 = pool.add(pay(alice, bob, 15 * COIN, 2)).tx
    # 25 + 20 coins still fit in 50, 15 more do not: n2 must go, and the replacement pays for it.
    pays_for_one = pay(alice, bob, 25 * COIN, 0, fee=1000 + 144)
    with pytest.raises(MempoolReject, match="less fees than conflicting txs"):
        pool.add(pays_for_one)
    overdraft = pay(alice, bob, 49 * COIN + 1, 0, fee=COIN)  # 1 unit more than she holds
    assert reject_reason(pool, overdraft) == "bad-txns-in-belowout"
    replacement = pay(alice, bob, 25 * COIN, 0, fee=2000 + 144)
    pool.add(replacement)
    assert rec.removed() == [(n0.txid, "replaced"), (n2.txid, "replaced")]
    assert [e.txid for e in pool.pending_transactions(alice.account)] == [replacement.txid,
                                                                            n1.txid]  # fmt: skip
    assert pool.pending_nonce(alice.account) == 2


def test_replacement_limit(funded, alice, bob):
    pool, _ = make_pool(funded)
    for n in range(101):
        pool.add(pay(alice, bob, 1000, n))
    # Leaves 1000 units, less than any later nonce needs: all 100 would go.
    everything = pay(alice, bob, REWARD - COIN - 1000, 0, fee=COIN)
    assert reject_reason(pool, everything) == "too many potential replacements"
    assert len(pool) == 101


# --- size limit ---------------------------------------------------------------------------------
def test_eviction_takes_the_lowest_package_and_raises_the_floor(funded, alice, bob):
    carol = key(3)
    generate(funded, 1, carol.account)
    pool, rec = make_pool(funded, policy=MempoolPolicy(max_bytes=3 * SLOT))
    a0 = pool.add(pay(alice, bob, COIN, 0, fee=50_000)).tx
    a1 = pool.add(pay(alice, bob, COIN, 1, fee=2_000)).tx  # the cheapest suffix: alone
    b0 = pool.add(pay(bob, alice, COIN, 0, fee=5_000)).tx
    assert pool.usage == 3 * SLOT
    # Not better than the cheapest package: refused, nothing evicted, but the floor goes up.
    assert reject_reason(pool, pay(carol, bob, COIN, 0, fee=2_000)) == "mempool full"
    assert len(pool) == 3 and rec.removed() == []
    floor = 2_000 * 1000 // 144 + 1000
    assert pool.min_fee_rate() == floor
    assert reject_reason(pool, pay(carol, bob, COIN, 0, fee=1_999)) == "mempool min fee not met"
    # Paying more evicts a1 (not a0, which it follows), raising the floor to a1's rate + 1000.
    c0 = pool.add(pay(carol, bob, COIN, 0, fee=3_000)).tx
    assert rec.removed() == [(a1.txid, "sizelimit")]
    assert pool.txids() == [a0.txid, b0.txid, c0.txid]
    assert pool.info()["mempoolminfee"] == floor / COIN
    # The sender's own chain is never evicted to make room for its next nonce.
    with pytest.raises(MempoolReject, match="mempool full"):
        pool.add(pay(carol, bob, COIN, 1, fee=30_000))
    assert [t for t, _ in rec.removed()] == [a1.txid]


def test_a_cheap_parent_with_a_rich_child_is_scored_as_a_package(funded, alice, bob):
    carol = key(3)
    generate(funded, 1, carol.account)
    pool, rec = make_pool(funded, policy=MempoolPolicy(max_bytes=3 * SLOT))
    p0 = pool.add(pay(alice, bob, COIN, 0, fee=200)).tx  # 1,388 units/kB alone ...
    p1 = pool.add(pay(alice, bob, COIN, 1, fee=90_000)).tx  # ... but pays for by its child
    b0 = pool.add(pay(bob, alice, COIN, 0, fee=3_000)).tx
    pool.add(pay(carol, bob, COIN, 0, fee=4_000))
    assert rec.removed() == [(b0.txid, "sizelimit")]  # the lowest descendant score
    assert p0.txid in pool and p1.txid in pool


def test_eviction_takes_later_nonces_with_the_evicted_one(funded, alice, bob):
    carol = key(3)
    generate(funded, 1, carol.account)
    pool, rec = make_pool(funded, policy=MempoolPolicy(max_bytes=4 * SLOT))
    a = [pool.add(pay(alice, bob, COIN, n, fee=fee)).tx for n, fee in enumerate((900, 800))]
    pool.add(pay(bob, alice, COIN, 0, fee=5_000))
    pool.add(pay(bob, alice, COIN, 1, fee=5_000))
    # A 344-byte newcomer needs more than one 144-byte slot: the cheapest package goes first
    # (alice's nonce 1 alone, 800), then the next (her nonce 0, now alone, 900).
    big = pay(carol, bob, COIN, 0, fee=100_000, memo=b"x" * 200)
    pool.add(big)
    assert [r for _, r in rec.removed()] == ["sizelimit", "sizelimit"]
    assert [t for t, _ in rec.removed()] == [a[1].txid, a[0].txid]  # nonce 1, then nonce 0
    assert pool.pending_transactions(alice.account) == []


def test_rolling_floor_decays_only_after_a_block(funded, alice, bob):
    pool, _ = make_pool(funded, policy=MempoolPolicy(max_bytes=SLOT))
    pool.add(pay(alice, bob, COIN, 0, fee=7_200), now=1_000)  # 50,000 units/kB
    pool.add(pay(bob, alice, COIN, 0, fee=14_400), now=1_000)  # evicts it
    assert pool.min_fee_rate(now=1_000) == 51_000
    assert pool.min_fee_rate(now=1_000 + 86_400) == 51_000  # no block since the raise
    publish(pool, funded, mine_on(funded, [], bob.account))
    # Now it decays; the pool is full (usage >= half the limit): a 12-hour half-life.
    assert pool.usage == SLOT
    assert pool.min_fee_rate(now=1_000 + 12 * 3600) == 25_500
    assert pool.min_fee_rate(now=1_000 + 24 * 3600) == 12_750
    assert pool.min_fee_rate(now=1_000 + 24 * 3600 + 5) == 12_750  # at most every 10 s
    # Under half the incremental fee rate it drops to nothing: the min relay fee rate rules.
    assert pool.min_fee_rate(now=1_000 + 24 * 3600 + 6 * 12 * 3600) == 1000
    assert pool._rolling_milli == 0


def test_halve_is_integer_and_close_to_the_real_thing():
    assert halve(1 << 40, 3600, 3600) == 1 << 39
    assert halve(1000, 0, 10) == 1000 and halve(0, 99, 10) == 0 and halve(5, 10**9, 1) == 0
    for value, elapsed, half_life in [(51_000_000, 4_321, 43_200), (10**12, 1, 3),
                                      (777_777, 100_000, 10_800)]:  # fmt: skip
        exact = value * 2 ** (-elapsed / half_life)
        assert abs(halve(value, elapsed, half_life) - exact) <= exact * 1e-6 + 1


# --- expiry -------------------------------------------------------------------------------------
def test_expiry_removes_old_entries_with_their_later_nonces(funded, alice, bob):
    day = 24 * 3600
    pool, rec = make_pool(funded, policy=MempoolPolicy(expiry_seconds=2 * day))
    old = pool.add(pay(alice, bob, COIN, 0), now=0).tx
    newer = pool.add(pay(alice, bob, COIN, 1), now=3 * day).tx  # depends on the old one
    bob_tx = pool.add(pay(bob, alice, COIN, 0), now=day).tx
    assert pool.add(pay(bob, alice, COIN, 5), now=0) is None  # held, as old
    assert pool.expire(now=2 * day) == 0  # exactly the age: stays
    assert pool.expire(now=2 * day + 1) == 2
    assert rec.removed() == [(old.txid, "expiry"), (newer.txid, "expiry")]
    assert pool.txids() == [bob_tx.txid] and len(pool.future) == 0
    assert pool.expire(now=3 * day + 1) == 1
    assert len(pool) == 0
