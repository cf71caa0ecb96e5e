"""The signature cache is used: a signature the mempool checked is not checked again when its
block connects, nor when the transaction comes back after a reorg.

No mocks: the real verifier runs every time; `counting` only wraps it (the mempool and the block
rules both call ``coinium.kernels.verify_batch``) to count the signatures it is handed."""

from __future__ import annotations

import pytest
from helpers import key
from pool_helpers import make_pool, mine_on, pay, publish

from coinium import kernels
from coinium.chain.chainstate import AcceptStatus
from coinium.chain.sigcache import SignatureCache
from coinium.core.units import COIN


@pytest.fixture
def counted(monkeypatch) -> list[int]:
    """Signatures handed to the real kernel, one number per call."""
    calls: list[int] = []
    real = kernels.verify_batch

    def counting(public_keys, messages, signatures, *args, **kwargs):
        calls.append(len(signatures))
        return real(public_keys, messages, signatures, *args, **kwargs)

    monkeypatch.setattr(kernels, "verify_batch", counting)
    return calls


def test_admitted_transactions_are_not_checked_again_when_their_block_connects(
    funded, alice, bob, counted
):
    cache = SignatureCache()
    funded.signature_filter = cache.contains  # as the node wires it
    pool, _ = make_pool(funded, signature_cache=cache)
    pooled = [pool.add(pay(alice, bob, COIN, n)).tx for n in range(3)]
    assert counted == [1, 1, 1]  # checked once each at admission
    assert all(funded.signature_filter(tx) for tx in pooled)

    counted.clear()
    result = mine_on(funded, pool.select_for_block(), bob.account)
    assert result.status == AcceptStatus.NEW_TIP
    assert counted == []  # the block connected without checking them

    # A transaction the pool never saw is checked when its block connects, alone.
    stranger = pay(bob, alice, COIN, 0)
    assert not funded.signature_filter(stranger)
    publish(pool, funded, result)
    result = mine_on(funded, [stranger, pool.add(pay(alice, bob, COIN, 3)).tx], bob.account)
    assert result.status == AcceptStatus.NEW_TIP
    assert counted == [1, 1]  # the pooled one at admission, the stranger at connection


def test_reorg_takes_transactions_back_without_checking_them(funded, alice, bob, counted):
    cache = SignatureCache()
    funded.signature_filter = cache.contains
    pool, rec = make_pool(funded, signature_cache=cache)
    fork_point = funded.tip.hash
    txs = [pay(alice, bob, COIN, n) for n in range(2)]
    result = mine_on(funded, txs, bob.account)  # never in the pool: checked by the block
    publish(pool, funded, result)
    assert counted == [2]

    counted.clear()
    parent = fork_point
    for _ in range(2):
        result = mine_on(funded, [], alice.account, parent=parent, extra=b"side")
        parent = result.block_hash
    publish(pool, funded, result)
    assert pool.txids() == [tx.txid for tx in txs] and counted == []  # back, unchecked
    assert all(cache.contains(tx) for tx in txs)  # and vouched for at their next connection
    assert mine_on(funded, pool.select_for_block(), bob.account).status == AcceptStatus.NEW_TIP
    assert counted == []


def test_a_cached_transaction_is_readmitted_without_a_check(funded, alice, bob, counted):
    cache = SignatureCache()
    pool, _ = make_pool(funded, signature_cache=cache)
    tx = pay(alice, bob, COIN, 0)
    pool.add(tx, now=0)
    pool.expire(now=10**9)
    assert tx.txid not in pool and counted == [1]
    pool.add(tx)
    assert tx.txid in pool and counted == [1]
    # Without a cache every admission checks.
    plain, _ = make_pool(funded)
    plain.add(tx)
    assert counted == [1, 1]


def test_preverify_checks_in_batches_and_the_verdicts_are_used(funded, alice, bob, counted):
    pool, _ = make_pool(funded)
    carol = key(3)
    txs = [pay(alice, bob, COIN, n) for n in range(3)]
    forged = pay(bob, alice, COIN, 0).with_signature(bytes(64))
    unfunded_but_signed = pay(carol, bob, COIN, 0)
    assert pool.preverify([*txs, forged, unfunded_but_signed, txs[0]]) == 5
    results = pool.add_many([*txs, forged, unfunded_but_signed])  # queued already: no new work
    assert [r.txid for r in results[:3]] == [tx.txid for tx in txs]
    assert results[3].reason == "bad-txns-signature"  # the batch verdict, not a second check
    assert results[4].reason == "bad-txns-in-belowout"
    assert counted == [5]  # one kernel call for the lot
    pool.close()
