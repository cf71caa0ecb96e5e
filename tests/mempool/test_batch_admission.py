"""Batch admission (`Mempool.add_batch`, what RPC batches and TXS messages use) gives exactly the
verdicts, events and resulting pool of admitting the same transactions one by one with `add`.

Real parts: a regtest chain in a temporary LMDB datadir (alice and bob funded, carol with a used
nonce), real Ed25519 signatures (some forged), a real signature cache. Each example builds two
fresh pools on that chain, feeds one the batch and the other the same transactions one at a time,
and compares everything observable. The transactions collide on purpose: a few senders, nonces in
a narrow window (conflicts, gaps held as future nonces, nonces already used), fees that do and do
not outbid (replace-by-fee inside one batch), duplicates, bad signatures, and a pool small enough
that some admissions evict packages or are refused as full.
"""

from __future__ import annotations

import asyncio

import pytest
from helpers import key
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pool_helpers import CHAIN_ID, make_pool, mine_on, publish

from coinium.chain.builder import generate
from coinium.chain.chainstate import ChainState
from coinium.chain.sigcache import SignatureCache
from coinium.core.params import REGTEST
from coinium.core.transaction import Transaction, sign_transfer
from coinium.core.units import COIN
from coinium.mempool.policy import MempoolPolicy
from coinium.mempool.pool import Mempool, MempoolEntry, MempoolReject

NOW = 1_800_000_000
SENDERS = [key(1), key(2), key(3)]  # alice, bob, carol
RECIPIENT = key(9)


@pytest.fixture(scope="module")
def shared_chain(tmp_path_factory):
    """alice and bob hold a block reward each; carol got coins and then used nonces 0 and 1."""
    chain = ChainState(tmp_path_factory.mktemp("batch") / "chain", REGTEST, sync=False)
    alice, bob, carol = SENDERS
    generate(chain, 1, alice.account)
    generate(chain, 1, bob.account)
    pool = Mempool(REGTEST, chain.get_account)
    pool.add(sign_transfer(alice, CHAIN_ID, carol.account, 10 * COIN, 1000, 0))
    publish(pool, chain, mine_on(chain, pool.select_for_block(), bob.account))
    spent = [sign_transfer(carol, CHAIN_ID, bob.account, COIN, 1000, n) for n in range(2)]
    publish(pool, chain, mine_on(chain, spent, bob.account))
    assert chain.get_account(carol.account).nonce == 2
    yield chain
    chain.close()


@st.composite
def transactions(draw) -> Transaction:
    sender = draw(st.sampled_from(SENDERS))
    nonce = draw(st.integers(0, 5))
    fee = draw(st.sampled_from([0, 150, 1000, 1500, 5000, 20_000]))
    amount = draw(st.sampled_from([1, COIN, 40 * COIN]))  # the last overdraws a chain or two
    memo = draw(st.sampled_from([b"", b"m", b"memo" * 8]))
    tx = sign_transfer(sender, CHAIN_ID, RECIPIENT.account, amount, fee, nonce, memo)
    if draw(st.integers(0, 9)) == 0:  # a forged signature
        tx = tx.with_signature(bytes(64) if draw(st.booleans()) else tx.signature[::-1])
    return tx


batches = st.lists(transactions(), min_size=1, max_size=24).flatmap(
    lambda txs: st.lists(st.sampled_from(txs), max_size=4).map(lambda dups: txs + dups))
policies = st.sampled_from([
    MempoolPolicy(),
    MempoolPolicy(max_bytes=3_200, max_future_per_sender=2),  # evictions, "mempool full"
    MempoolPolicy(min_relay_fee_rate=0, max_future_txs=1),
])  # fmt: skip


def _outcome(result: MempoolEntry | None | MempoolReject | Exception):
    if isinstance(result, MempoolReject):
        return ("reject", result.reason, result.code, result.detail)
    if isinstance(result, MempoolEntry):
        return ("entry", result.txid, result.sequence, result.fee_rate)
    return ("held",)


def _state(pool: Mempool, recorder) -> tuple:
    return (
        [(e.txid, e.sender, e.sequence, e.time) for e in pool.entries()],
        pool.sequence,
        sorted(item.txid for item in pool.future.older_than(NOW + 1)),
        pool.usage,
        pool.min_fee_rate(NOW),
        [(e.kind, e.txid, e.sequence, e.reason) for e in recorder.events],
    )


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=batches, policy=policies, decoded=st.booleans())
def test_batch_admission_gives_the_verdicts_of_one_by_one(shared_chain, batch, policy, decoded):
    one, one_events = make_pool(shared_chain, policy=policy, signature_cache=SignatureCache())
    many, many_events = make_pool(shared_chain, policy=policy, signature_cache=SignatureCache())
    try:
        singles = []
        for tx in batch:
            try:
                singles.append(one.add(tx, NOW))
            except MempoolReject as reject:
                singles.append(reject)
        # ``decoded`` as the P2P and RPC paths say it: objects fresh from their bytes.
        fed = [Transaction.decode(tx.raw) for tx in batch] if decoded else batch
        batched = asyncio.run(many.add_batch(fed, NOW, decoded=decoded))
        assert [_outcome(r) for r in batched] == [_outcome(r) for r in singles]
        for r in singles:  # what the examples exercised (--hypothesis-show-statistics)
            event(r.reason if isinstance(r, MempoolReject) else _outcome(r)[0])
        for e in one_events.events:
            if e.kind == "R":
                event(f"removed: {e.reason}")
        assert _state(many, many_events) == _state(one, one_events)
        assert many._verdicts == {}  # nothing left behind by refusals before the signature
    finally:
        one.close()
        many.close()


def test_a_batch_with_replacement_conflict_and_forgery_in_order(funded, alice, bob):
    """The cases the property covers, spelled out once: inside one batch a transaction is
    replaced by a better-paying one with its nonce, a lower-paying one for that nonce is then
    refused, a forged signature is refused with its reason, a used nonce with its own, and the
    valid rest is admitted in order."""
    pool, events = make_pool(funded)
    first = sign_transfer(alice, CHAIN_ID, bob.account, COIN, 1000, 0)
    better = sign_transfer(alice, CHAIN_ID, bob.account, COIN, 3000, 0)
    worse = sign_transfer(alice, CHAIN_ID, bob.account, COIN, 2000, 0)
    next_one = sign_transfer(alice, CHAIN_ID, bob.account, COIN, 1000, 1)
    forged = sign_transfer(bob, CHAIN_ID, alice.account, COIN, 1000, 0).with_signature(bytes(64))
    bob_ok = sign_transfer(bob, CHAIN_ID, alice.account, COIN, 1000, 0)
    results = asyncio.run(pool.add_batch([first, better, worse, next_one, forged, bob_ok]))
    assert isinstance(results[0], MempoolEntry) and isinstance(results[1], MempoolEntry)
    assert results[2].reason == "insufficient fee"
    assert isinstance(results[3], MempoolEntry)
    assert results[4].reason == "bad-txns-signature"
    assert isinstance(results[5], MempoolEntry)
    assert pool.txids() == [better.txid, next_one.txid, bob_ok.txid]
    assert [(e.kind, e.txid, e.reason) for e in events.events][:3] == [
        ("A", first.txid, None), ("R", first.txid, "replaced"), ("A", better.txid, None)]
    used = asyncio.run(pool.add_batch([sign_transfer(alice, CHAIN_ID, bob.account, 1, 1000, 0)]))
    assert used[0].reason == "insufficient fee"  # nonce 0 pending: a replacement that pays less
    pool.close()
