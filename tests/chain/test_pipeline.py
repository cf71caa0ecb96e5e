"""accept_blocks (signatures checked ahead in a worker, commits batched) gives exactly what
accept_block one block at a time gives: the same results, invalid marks, stored bytes."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from helpers import key

from coinium import kernels
from coinium.chain import pipeline
from coinium.chain.builder import build_block, generate, mine
from coinium.chain.chainstate import AcceptStatus, ChainState
from coinium.chain.sigcache import SignatureCache
from coinium.core.params import REGTEST
from coinium.core.transaction import sign_transfer
from coinium.store.chainstore import DATABASES, BatchLostError, ChainStore

CID = REGTEST.chain_id
NOW = int(time.time()) + 60


def snapshot(chain: ChainState) -> dict[str, dict[bytes, bytes]]:
    with chain.store.read() as txn:
        return {name: {bytes(k): bytes(v) for k, v in chain.store.cursor(txn, name)}
                for name in DATABASES}  # fmt: skip


def outcome(chain: ChainState, results) -> tuple:
    return (
        [(r.status, r.block_hash, r.reason, [b.hash for b in r.connected],
          [b.hash for b in r.disconnected]) for r in results],
        {h: (e.status, e.sequence, e.chainwork) for h, e in chain.index.items()},
        list(chain.main_chain),
        snapshot(chain),
    )  # fmt: skip


@pytest.fixture
def stream(tmp_path):
    """Blocks built on a scratch chain, in an order that exercises every outcome: valid blocks
    with transfers, a bad signature, a stateful failure and its child, a duplicate, an orphan
    resolved by its parent, and a longer side branch that makes a reorg."""
    alice, bob, carol = key(1), key(2), key(3)
    blocks = []
    with ChainState(tmp_path / "scratch", REGTEST) as x:
        b1, b2 = generate(x, 2, alice.account)
        spend = [sign_transfer(alice, CID, bob.account, 1_000 + i, 1, i) for i in range(20)]
        (b3,) = generate(x, 1, carol.account, spend[:10])
        good = sign_transfer(alice, CID, carol.account, 5, 1, 10)
        forged = dataclasses.replace(good, amount=6)
        bad_sig = mine(build_block(x, [forged], carol.account))
        bad_nonce = mine(build_block(x, [sign_transfer(alice, CID, bob.account, 5, 1, 99)],
                                     carol.account))  # fmt: skip
        assert x.accept_block(bad_nonce).status == AcceptStatus.INVALID
        child_of_bad = mine(build_block(x, [], carol.account, parent=bad_nonce.hash))
        (b4,) = generate(x, 1, carol.account, spend[10:15])
        (b5,) = generate(x, 1, carol.account, spend[15:])
        (b6,) = generate(x, 1, carol.account)
        side = []
        parent = b3.hash
        for _ in range(5):  # a branch from b3 one block longer than the main chain
            block = mine(build_block(x, [], bob.account, parent=parent, extra=b"side"))
            x.accept_block(block)
            side.append(block)
            parent = block.hash
        blocks = [b1, b2, b3, bad_sig, bad_nonce, child_of_bad, b3, b5, b4, b6, *side]
    return blocks


def test_accept_blocks_equals_accept_block_in_a_loop(tmp_path, stream, monkeypatch):
    monkeypatch.setattr(pipeline, "BATCH_TRANSACTIONS", 4)  # commit every few blocks
    with ChainState(tmp_path / "loop", REGTEST) as one, ChainState(tmp_path / "pipe", REGTEST) \
            as many:  # fmt: skip
        looped = [one.accept_block(b, NOW) for b in stream]
        piped = many.accept_blocks(stream, NOW)
        assert outcome(many, piped) == outcome(one, looped)
    statuses = [r.status for r in looped]
    assert AcceptStatus.INVALID in statuses and AcceptStatus.ORPHAN in statuses
    assert any(r.disconnected for r in looped)  # the side branch won
    reasons = {r.reason for r in looped}
    assert {"bad-txns-signature", "bad-txns-nonce", "bad-prevblk"} <= reasons


@pytest.mark.parametrize("batch", [1, 10**9])
def test_one_commit_per_block_or_one_at_the_end(tmp_path, stream, monkeypatch, batch):
    monkeypatch.setattr(pipeline, "BATCH_TRANSACTIONS", batch)
    with ChainState(tmp_path / "loop", REGTEST) as one, ChainState(tmp_path / "pipe", REGTEST) \
            as many:  # fmt: skip
        looped = [one.accept_block(b, NOW) for b in stream]
        assert outcome(many, many.accept_blocks(stream, NOW)) == outcome(one, looped)
    # Everything is on disk when accept_blocks returns.
    with ChainState(tmp_path / "pipe", REGTEST) as reopened:
        assert reopened.tip.hash == stream[-1].hash


def test_signatures_are_checked_ahead_not_on_the_chain_thread(tmp_path, stream, monkeypatch):
    calls: list[tuple[str, int]] = []
    verify = kernels.verify_batch

    def counting(keys, messages, signatures):
        calls.append((threading.current_thread().name, len(keys)))
        return verify(keys, messages, signatures)

    monkeypatch.setattr(kernels, "verify_batch", counting)
    with ChainState(tmp_path / "pipe", REGTEST) as chain:
        results = chain.accept_blocks(stream, NOW)
    assert results[2].status == AcceptStatus.NEW_TIP  # 10 transfers
    on_chain_thread = [n for name, n in calls if not name.startswith("sigcheck")]
    # Only the forged signature (checked again, to raise) and the orphan b5, checked again when
    # b4 brings it out of the orphan pool (accept_block checks an orphan twice, too).
    assert on_chain_thread == [1, 5]
    assert sum(n for name, n in calls if name.startswith("sigcheck")) == 22


def test_checks_ahead_then_accept_block_one_at_a_time(tmp_path, stream, monkeypatch):
    """What a network sync does: check_signatures_ahead as blocks arrive (from another thread),
    accept_block later, one call each."""
    calls: list[str] = []
    verify = kernels.verify_batch

    def counting(keys, messages, signatures):
        calls.append(threading.current_thread().name)
        return verify(keys, messages, signatures)

    with ChainState(tmp_path / "loop", REGTEST) as one, ChainState(tmp_path / "ahead", REGTEST) \
            as ahead:  # fmt: skip
        looped = [one.accept_block(b, NOW) for b in stream]
        monkeypatch.setattr(kernels, "verify_batch", counting)
        arrivals = threading.Thread(target=lambda: [ahead.check_signatures_ahead(b)
                                                    for b in stream])  # fmt: skip
        arrivals.start()
        arrivals.join()
        results = [ahead.accept_block(b, NOW) for b in stream]
        assert outcome(ahead, results) == outcome(one, looped)
    assert calls.count("MainThread") == 2  # the forged signature and the orphan, as above


def test_a_failing_worker_leaves_the_checks_to_the_chain_thread(tmp_path, stream, monkeypatch):
    def broken(*args):
        raise RuntimeError("kernel exploded")

    monkeypatch.setattr(pipeline, "known_good_signatures", broken)  # what the worker runs
    with ChainState(tmp_path / "loop", REGTEST) as one, ChainState(tmp_path / "pipe", REGTEST) \
            as many:  # fmt: skip
        looped = [one.accept_block(b, NOW) for b in stream]
        assert outcome(many, many.accept_blocks(stream, NOW)) == outcome(one, looped)


def test_the_cache_and_the_worker_never_vouch_for_a_changed_transaction(tmp_path):
    alice, bob = key(1), key(2)
    cache = SignatureCache()
    with ChainState(tmp_path / "scratch", REGTEST) as x, \
            ChainState(tmp_path / "pipe", REGTEST) as chain:  # fmt: skip
        blocks = generate(x, 1, alice.account)
        good = sign_transfer(alice, CID, bob.account, 5, 1, 0)
        cache.add(good)
        forged = dataclasses.replace(good, amount=6)
        bad = mine(build_block(x, [forged], bob.account))
        fine = mine(build_block(x, [good], bob.account, extra=b"2"))
        chain.signature_filter = cache.contains
        results = chain.accept_blocks([*blocks, bad, fine], NOW)
    assert [r.status for r in results] == [AcceptStatus.NEW_TIP, AcceptStatus.INVALID,
                                           AcceptStatus.NEW_TIP]  # fmt: skip
    assert results[1].reason == "bad-txns-signature"


def test_lost_batch_reloads_the_chain_from_the_store(tmp_path, stream, monkeypatch):
    monkeypatch.setattr(pipeline, "BATCH_TRANSACTIONS", 4)
    with ChainState(tmp_path / "pipe", REGTEST) as chain:
        store = chain.store
        real_flush = store.flush
        flushes = []

        def flaky_flush():
            flushes.append(1)
            if len(flushes) == 2:  # the second commit fails: its writes are gone
                batch = store._batch
                batch.txn.abort()
                batch.txn, batch.done = None, []
                raise BatchLostError("simulated")
            real_flush()

        monkeypatch.setattr(store, "flush", flaky_flush)
        with pytest.raises(BatchLostError):
            chain.accept_blocks(stream, NOW)
        in_memory = (chain.height, chain.tip.hash, sorted(chain.index))
    with ChainState(tmp_path / "pipe", REGTEST) as reopened:
        assert (reopened.height, reopened.tip.hash, sorted(reopened.index)) == in_memory
        assert 0 < reopened.height < 6


def test_batch_writes_land_whole_or_not_at_all(tmp_path):
    """In a batch: a failing write leaves nothing and keeps the earlier ones; the map grows
    when full (the pending writes are made again on the larger map)."""
    with ChainStore(tmp_path / "store", "regtest", map_size=1 << 20) as store:
        with store.batch():
            for i in range(40):  # ~4 MiB: the 1 MiB map grows on the way
                store.write(lambda txn, i=i: store.put(txn, "blocks", b"%04d" % i, bytes(100_000)))

            def half_then_fail(txn):
                store.put(txn, "meta", b"half", b"x")
                raise ValueError("rule broken")

            with pytest.raises(ValueError):
                store.write(half_then_fail)
            store.write(lambda txn: store.put(txn, "meta", b"after", b"y"))
            with store.read() as txn:  # the failure committed the writes before it
                assert store.get(txn, "blocks", b"0039") is not None
                assert store.get(txn, "meta", b"after") is None  # pending until the flush
        with store.read() as txn:
            assert len(list(store.cursor(txn, "blocks"))) == 40
            assert store.get(txn, "meta", b"half") is None
            assert store.get(txn, "meta", b"after") == b"y"


def test_checks_ahead_are_bounded_and_the_oldest_kept(tmp_path, stream):
    checker = pipeline.SignatureChecker(CID, max_pending=2)
    try:
        assert checker.submit(stream[2]) and checker.submit(stream[3])
        assert checker.submit(stream[2])  # already there
        assert not checker.submit(stream[7])  # full: the chain needs the older ones first
        assert checker.filter_for(stream[2], None)(stream[2].transactions[1])
        assert checker.submit(stream[7])  # room again
        checker.discard(stream[3].hash)
        assert checker.filter_for(stream[3], None) is None  # discarded: nothing done ahead
    finally:
        checker.close()


def test_cyclic_gc_is_paused_per_block_and_left_as_found(tmp_path, stream):
    import gc

    with ChainState(tmp_path / "c", REGTEST) as chain:
        chain.accept_blocks(stream[:3], NOW)
        assert gc.isenabled()
        gc.disable()
        try:
            chain.accept_block(stream[3], NOW)
            assert not gc.isenabled()  # paused by someone else: still paused
        finally:
            gc.enable()


def test_a_node_process_settles_the_collector_for_a_long_run():
    """settle_for_node (Node.run, once started): the collector stays on, scans the young
    generation less often, and leaves what the process held at start out of later passes."""
    import gc

    from coinium.chain.gc_pause import NODE_THRESHOLDS, settle_for_node

    thresholds = gc.get_threshold()
    try:
        settle_for_node()
        assert gc.isenabled() and gc.get_threshold() == NODE_THRESHOLDS
        assert gc.get_freeze_count() > 1000 and NODE_THRESHOLDS[0] > thresholds[0]
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
