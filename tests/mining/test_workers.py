"""The nonce-search worker pool: jobs, the shared stop flag, events, dead and orphaned workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mining_helpers import Collector, alive, wait_until

from coinium import kernels
from coinium.mining.workers import NONCE_SPACE, WorkerEvent, WorkerPool, split_nonce_space

REPO = Path(__file__).resolve().parents[2]
EASY = (1 << 256) - 1  # every hash meets it
NEVER = 0  # no hash meets it (a BLAKE3 hash of zero is not going to turn up)


class Events(Collector):
    def of(self, kind: str, generation: int | None = None) -> list[WorkerEvent]:
        return [e for e in self.snapshot()
                if e.kind == kind and (generation is None or e.generation == generation)]


def started_by_all(pool: WorkerPool, generation: int):
    return lambda items: len({e.worker for e in items
                              if e.kind == "started" and e.generation == generation}) == pool.size


@pytest.fixture
def pool_factory():
    pools: list[WorkerPool] = []

    def make(processes: int = 2) -> tuple[WorkerPool, Events]:
        events = Events()
        pool = WorkerPool(processes, events)
        pools.append(pool)
        return pool, events

    yield make
    for pool in pools:
        pool.close()


def header(seed: int) -> bytes:
    return bytes((seed + i) % 256 for i in range(124))


def test_split_nonce_space_is_disjoint_and_covers_everything():
    for workers in (1, 2, 3, 7, 16):
        ranges = split_nonce_space(workers)
        assert ranges[0][0] == 0
        assert sum(count for _, count in ranges) == NONCE_SPACE
        for (s1, c1), (s2, _) in zip(ranges, ranges[1:], strict=False):
            assert s1 + c1 == s2
    assert split_nonce_space(3, 10, 19) == [(10, 3), (13, 3), (16, 4)]
    with pytest.raises(ValueError):
        split_nonce_space(0)


def test_every_worker_finds_the_first_nonce_of_its_range(pool_factory):
    pool, events = pool_factory(2)
    ranges = split_nonce_space(2)
    generation = pool.start_job(header(1), EASY, ranges)
    found = events.wait_for(lambda items: [e for e in items if e.kind == "found"]
                            if len({e.worker for e in items if e.kind == "found"}) == 2 else None,
                            what="two finds")  # fmt: skip
    assert {(e.worker, e.nonce) for e in found} == {(0, ranges[0][0]), (1, ranges[1][0])}
    assert all(e.generation == generation and e.hashes == 1 for e in found)
    jobs = {job.job: job for job in pool.current_jobs()}
    assert {e.job for e in found} == set(jobs)


def test_a_found_nonce_meets_the_target(pool_factory):
    pool, events = pool_factory(1)
    target = 1 << 248  # about one hash in 256
    pool.start_job(header(2), target, [(1000, 1 << 20)])
    [event] = events.wait_for(lambda items: [e for e in items if e.kind == "found"], what="a find")
    raw = bytearray(header(2))
    raw[116:124] = event.nonce.to_bytes(8, "little")
    assert kernels.pow_search(bytes(raw), target, event.nonce, 1) == (event.nonce, 1)
    # ... and it is the first one of the range.
    assert kernels.pow_search(header(2), target, 1000, 1 << 20)[0] == event.nonce


def test_a_new_job_reaches_every_worker_and_the_old_one_stops(pool_factory):
    pool, events = pool_factory(2)
    first = pool.start_job(header(3), NEVER, split_nonce_space(2))
    events.wait_for(started_by_all(pool, first), what="workers on the first job")
    events.wait_for(lambda items: any(e.kind == "hashes" for e in items), what="progress")
    switched_at = time.monotonic()
    second = pool.start_job(header(4), NEVER, split_nonce_space(2))
    assert second == first + 1 and pool.generation == second
    events.wait_for(started_by_all(pool, second), what="workers on the second job")
    stopped = events.wait_for(lambda items: [e for e in items if e.kind == "stopped"]
                              if len([e for e in items if e.kind == "stopped"]) == 2 else None,
                              what="both workers stopping")  # fmt: skip
    assert {e.generation for e in stopped} == {first}
    for event in stopped:  # the last chunk began before the flag moved (t: when it ended)
        assert event.chunk_start < pool.retired_at[first] <= time.monotonic()
        assert event.t >= event.chunk_start and event.chunk_hashes > 0
    assert pool.retired_at[first] >= switched_at
    acks = [e.t for e in events.of("started", second)]
    assert max(acks) - switched_at < 2.0  # generous: a loaded CI machine; bench/ measures it


def test_stop_job_idles_every_worker(pool_factory):
    pool, events = pool_factory(2)
    generation = pool.start_job(header(5), NEVER, split_nonce_space(2))
    events.wait_for(started_by_all(pool, generation), what="workers started")
    assert pool.stop_job() == generation
    events.wait_for(lambda items: len([e for e in items if e.kind == "stopped"]) == 2,
                    what="both workers stopping")  # fmt: skip
    assert pool.current_jobs() == [None, None]
    assert all(e.generation == generation for e in events.snapshot())


def test_a_used_up_range_is_reported_and_a_worker_can_be_given_more(pool_factory):
    pool, events = pool_factory(2)
    generation = pool.start_job(header(6), NEVER, [(0, 5000), (5000, 5000)])
    exhausted = events.wait_for(lambda items: [e for e in items if e.kind == "exhausted"]
                                if len([e for e in items if e.kind == "exhausted"]) == 2 else None,
                                what="two used-up ranges")  # fmt: skip
    assert sum(e.hashes for e in events.items if e.generation == generation) == 10_000
    assert {e.worker for e in exhausted} == {0, 1}
    job = pool.assign(1, header(7), EASY, 77, 10)
    assert job is not None and job.generation == generation
    [found] = events.wait_for(lambda items: [e for e in items if e.kind == "found"], what="find")
    assert (found.worker, found.nonce, found.job) == (1, 77, job.job)
    # An assignment for a generation that is over is refused.
    pool.stop_job()
    assert pool.assign(0, header(8), EASY, 0, 10, generation=generation) is None


def test_bad_jobs_are_refused(pool_factory):
    pool, _ = pool_factory(1)
    with pytest.raises(ValueError):
        pool.start_job(header(1)[:91], NEVER, [(0, 10)])
    with pytest.raises(ValueError):
        pool.start_job(header(1), NEVER, [(NONCE_SPACE - 5, 10)])
    with pytest.raises(ValueError):
        pool.start_job(header(1), NEVER, [(0, 10), (10, 10)])
    assert pool.generation == 0


def test_a_dead_worker_is_restarted_and_works_again(pool_factory):
    pool, events = pool_factory(2)
    generation = pool.start_job(header(9), NEVER, split_nonce_space(2))
    events.wait_for(started_by_all(pool, generation), what="workers started")
    victim = pool.worker_pids()[1]
    os.kill(victim, signal.SIGKILL)
    restarted = wait_until(pool.restart_dead_workers, 10, message="the dead worker restarted")
    assert restarted == [1]
    assert pool.worker_pids()[1] != victim and pool.alive() == [True, True]
    # It got its job again and reports on it.
    events.wait_for(lambda items: len([e for e in items if e.kind == "started"
                                       and e.worker == 1]) == 2, what="the new worker's start")
    new = pool.start_job(header(10), NEVER, split_nonce_space(2))
    events.wait_for(started_by_all(pool, new), what="both workers on new work")


def test_close_stops_every_process_and_is_idempotent(pool_factory):
    pool, events = pool_factory(3)
    generation = pool.start_job(header(11), NEVER, split_nonce_space(3))
    events.wait_for(started_by_all(pool, generation), what="workers started")
    pids = pool.worker_pids()
    pool.close()
    pool.close()
    assert not any(alive(pid) for pid in pids)


ORPHAN_SCRIPT = """
import sys, time
from coinium.mining.workers import WorkerPool, split_nonce_space
if __name__ == "__main__":
    pool = WorkerPool(2, lambda event: None)
    pool.start_job(bytes(124), 0, split_nonce_space(2))
    print(" ".join(map(str, pool.worker_pids())), flush=True)
    time.sleep(120)
"""


def test_workers_exit_when_their_parent_is_killed(tmp_path):
    script = tmp_path / "orphan.py"
    script.write_text(ORPHAN_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              env=env)  # fmt: skip
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(p) for p in pids)
        parent.kill()
        parent.wait(10)
        wait_until(lambda: not any(alive(p) for p in pids), 10, message="orphans to exit")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
