"""The mining loop against an in-memory node: blocks, stale work, rejections, reconnects,
extra-nonce rolls, dead workers, new tips."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from helpers import key
from mining_helpers import Collector, alive, wait_until

from coinium import kernels
from coinium.consensus.pow import decode_compact
from coinium.core.block import Block
from coinium.core.units import COIN
from coinium.mining.engine import Miner, MinerConfig, SourceUnavailable
from coinium.mining.work import Template, meets
from coinium.mining.workers import WorkerEvent

PAYOUT = key(42).account
REGTEST_BITS = 0x207FFFFF


class FakeNode:
    """A node reduced to what a miner sees: a tip, templates on it, submitblock's verdicts."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tip = b"\x11" * 32
        self.height = 10
        self.down = False
        self.reject_next: str | None = None
        self.no_answer_next = False  # submitblock: the block is lost on the way
        self.accept_then_vanish = False  # submitblock: accepted, then the answer is lost
        self.submitted: list[Block] = []
        self.accepted: list[Block] = []
        self.templates = 0

    def get_template(self) -> Template:
        with self.lock:
            if self.down:
                raise SourceUnavailable("the node is down")
            self.templates += 1
            return Template(2, self.height + 1, self.tip, bytes(32), REGTEST_BITS,
                            decode_compact(REGTEST_BITS), (), 50 * COIN, 1000, 2000,
                            time.monotonic())  # fmt: skip

    def submit_block(self, block: Block) -> str | None:
        with self.lock:
            if self.down:
                raise SourceUnavailable("the node is down")
            if self.no_answer_next:
                self.no_answer_next = False
                raise SourceUnavailable("connection reset")
            self.submitted.append(block)
            if self.reject_next is not None:
                reason, self.reject_next = self.reject_next, None
                return reason
            if block.header.prev_hash != self.tip or block.height != self.height + 1:
                return "inconclusive"
            if not meets(block.hash, decode_compact(block.header.bits)):
                return "high-hash"
            self.tip, self.height = block.hash, block.height
            self.accepted.append(block)
            if self.accept_then_vanish:
                self.accept_then_vanish = False
                raise SourceUnavailable("connection reset after the block was taken")
            return None

    def block_elsewhere(self) -> bytes:
        """Another miner's block becomes the tip."""
        with self.lock:
            self.tip, self.height = os.urandom(32), self.height + 1
            return self.tip


@pytest.fixture
def run_miner():
    miners: list[Miner] = []

    def start(node: FakeNode, **options) -> tuple[Miner, Collector]:
        options.setdefault("processes", 2)
        options.setdefault("backoff_initial", 0.05)
        options.setdefault("backoff_max", 0.2)
        events = Collector()
        miner = Miner(node, MinerConfig(payout=PAYOUT, **options), events)
        miners.append(miner)
        miner.start()
        return miner, events

    yield start
    for miner in miners:
        miner.stop()


def kinds(events: Collector, kind: str) -> list[dict]:
    return [e.data for e in events.snapshot() if e.kind == kind]


def first(kind: str, **match):
    def predicate(items):
        for e in items:
            if e.kind == kind and all(e.data.get(k) == v for k, v in match.items()):
                return e.data
        return None

    return predicate


def a_valid_nonce(miner: Miner, worker: int = 0) -> tuple[WorkerEvent, Block]:
    """A find on a worker's current job, as the worker would report it."""
    job = miner.pool.current_jobs()[worker]
    unit = miner._units[job.job]
    nonce, _ = kernels.pow_search(job.header, unit.template.target, job.start_nonce, 1000)
    return WorkerEvent("found", worker, job.generation, nonce=nonce, job=job.job), unit.block(nonce)


def test_mines_blocks_on_the_tip_paying_the_payout(run_miner):
    node = FakeNode()
    miner, events = run_miner(node, max_blocks=3)
    assert miner.wait(60), "the miner did not stop after 3 blocks"
    assert miner.error is None
    assert len(node.accepted) == 3 == miner.stats.accepted
    prev = b"\x11" * 32
    for block in node.accepted:
        assert block.header.prev_hash == prev
        prev = block.hash
        coinbase = block.transactions[0]
        assert coinbase.recipient == PAYOUT and coinbase.amount == 50 * COIN
    submitted = [b.hash for b in node.submitted]
    assert len(submitted) == len(set(submitted))
    assert kinds(events, "done") == [{"accepted": 3}]
    assert not any(alive(pid) for pid in miner.pool.worker_pids())


def test_a_block_found_on_stale_work_is_not_submitted(run_miner):
    node = FakeNode()
    miner, events = run_miner(node, local_target=0)  # the workers find nothing by themselves
    events.wait_for(first("switched"), what="workers on the first work")
    stale_find, stale_block = a_valid_nonce(miner)
    new_tip = node.block_elsewhere()
    assert miner.new_tip(new_tip, source="test")
    events.wait_for(first("work", prev=new_tip.hex()), what="work on the new tip")
    miner._on_worker_event(stale_find)  # the find arrives after the tip moved
    stale = events.wait_for(first("stale"), what="the stale find")
    assert stale["hash"] == stale_block.hash.hex() and stale["reason"] == "newtip"
    assert node.submitted == [] and miner.stats.stale_blocks == 1
    # A known tip is no news.
    assert not miner.new_tip(new_tip, source="test")


def test_a_find_on_refreshed_work_with_the_same_parent_is_still_submitted(run_miner):
    node = FakeNode()
    miner, events = run_miner(node, local_target=0, refresh_seconds=0.3)
    events.wait_for(first("switched"), what="workers on the first work")
    find, block = a_valid_nonce(miner)
    events.wait_for(first("work", trigger="refresh"), what="a refresh")
    miner._on_worker_event(find)
    events.wait_for(first("accepted", hash=block.hash.hex()), what="the block accepted")
    assert node.accepted == [block]


def test_a_rejected_block_is_reported_with_the_reason_and_never_resubmitted(run_miner):
    node = FakeNode()
    node.reject_next = "bad-cb-amount"
    miner, events = run_miner(node, max_blocks=2)
    assert miner.wait(60)
    rejected = kinds(events, "rejected")
    assert len(rejected) == 1 and rejected[0]["reason"] == "bad-cb-amount"
    assert miner.stats.rejected == 1 and miner.stats.last_reject == "bad-cb-amount"
    assert len(node.accepted) == 2
    hashes = [b.hash for b in node.submitted]
    assert len(hashes) == len(set(hashes)) == 3
    assert rejected[0]["hash"] not in {b.hash.hex() for b in node.accepted}


def test_waits_for_the_node_and_reconnects(run_miner):
    node = FakeNode()
    node.down = True
    miner, events = run_miner(node, local_target=0, refresh_seconds=0.3)
    events.wait_for(first("disconnected"), what="the miner noticing the node is down")
    wait_until(lambda: node.templates == 0 and miner.stats.connected is False, 5)
    node.down = False
    events.wait_for(first("connected"), what="the reconnect")
    events.wait_for(first("switched"), what="workers on work")
    # The node goes away while the miner works: the workers stop, then start again.
    node.down = True
    events.wait_for(lambda items: len([e for e in items if e.kind == "disconnected"]) == 2,
                    what="the second disconnect")  # fmt: skip
    wait_until(lambda: miner.pool.current_jobs() == [None, None], 5, message="idle workers")
    node.down = False
    events.wait_for(lambda items: len([e for e in items if e.kind == "connected"]) == 2,
                    what="the second reconnect")  # fmt: skip
    assert miner.error is None and not miner.done


def test_a_block_with_no_answer_is_sent_again_after_reconnecting(run_miner):
    node = FakeNode()
    node.no_answer_next = True
    miner, events = run_miner(node, max_blocks=1)
    assert miner.wait(60)
    failed = kinds(events, "submit-failed")
    assert len(failed) == 1
    assert [b.hash.hex() for b in node.accepted] == [failed[0]["hash"]]


def test_a_block_the_node_took_before_vanishing_counts_as_accepted(run_miner):
    node = FakeNode()
    node.accept_then_vanish = True
    miner, events = run_miner(node, max_blocks=1)
    assert miner.wait(60)
    assert len(node.submitted) == 1 == len(node.accepted)
    assert [e["hash"] for e in kinds(events, "accepted")] == [node.accepted[0].hash.hex()]


def test_used_up_ranges_roll_the_extra_nonce_and_no_header_repeats(run_miner):
    node = FakeNode()
    span = 1 << 19  # tiny: a few ms per range
    miner, events = run_miner(node, local_target=0, nonce_span=span, refresh_seconds=60)
    def rolls(items):
        workers = [e.data["worker"] for e in items if e.kind == "roll"]
        return len(workers) >= 12 and set(workers) == {0, 1}

    events.wait_for(rolls, what="a dozen rolls, by both workers")
    miner.stop()
    extras = [e["extra"] for e in kinds(events, "work") + kinds(events, "roll")]
    assert len(extras) == len(set(extras))  # every header is new: no two workers share one
    assert {e["worker"] for e in kinds(events, "roll")} == {0, 1}
    assert miner.stats.rolls >= 12
    # Each roll followed a range used up in full.
    assert sum(miner.stats.hashes) >= span + (miner.stats.rolls - 2) * span


def test_a_dead_worker_is_restarted_with_fresh_work(run_miner):
    node = FakeNode()
    miner, events = run_miner(node, local_target=0)
    events.wait_for(first("switched"), what="workers on work")
    victim = miner.pool.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    restarted = events.wait_for(first("worker-restarted"), what="the restart")
    assert restarted["worker"] == 0 and restarted["pid"] != victim and alive(restarted["pid"])
    events.wait_for(first("roll", worker=0), what="fresh work for the new worker")
    before = miner.stats.hashes[0]
    wait_until(lambda: miner.stats.hashes[0] > before, 10, message="the new worker hashing")
    assert miner.stats.restarts == 1


def test_a_new_tip_moves_every_worker_to_new_work(run_miner):
    node = FakeNode()
    miner, events = run_miner(node, local_target=0)
    events.wait_for(first("switched"), what="workers on work")
    # Hashing, not just started: on a loaded machine a worker may not have begun its first
    # chunk yet, and work dropped before any hash is no stale work.
    wait_until(lambda: all(n > 0 for n in miner.stats.hashes), 10, message="workers hashing")
    new_tip = node.block_elsewhere()
    seen = time.monotonic()
    assert miner.new_tip(new_tip, source="test", seen_at=seen)
    switched = events.wait_for(first("switched", trigger="newtip"), what="the switch")
    assert 0 < switched["tip_ms"] < 2000  # generous for a loaded machine; bench/ measures it
    work = events.wait_for(first("work", prev=new_tip.hex()), what="the new work")
    assert work["height"] == node.height + 1
    wait_until(lambda: miner.stats.stale_hashes > 0, 5, message="stale hashes counted")
    assert miner.stats.stale_hashes < sum(miner.stats.hashes)


def test_stop_ends_every_worker_process(run_miner):
    node = FakeNode()
    miner, events = run_miner(node, local_target=0, processes=3)
    events.wait_for(first("switched"), what="workers on work")
    pids = miner.pool.worker_pids()
    assert all(alive(p) for p in pids)
    miner.stop()
    miner.stop()
    assert miner.done and not any(alive(p) for p in pids)
    assert kinds(events, "stopped")[0]["hashes"] > 0


def test_hash_rates_are_reported_per_worker(run_miner):
    node = FakeNode()
    miner, events = run_miner(node, local_target=0, stats_interval=0.5)
    report = events.wait_for(lambda items: next((e.data for e in items if e.kind == "hashrate"
                                                 and all(e.data["workers"])), None),
                             what="a hashrate report from both workers")  # fmt: skip
    assert len(report["workers"]) == 2 and report["hashrate"] > 0
    assert miner.hashrate > 0
