"""A pool of worker processes that search nonces with the compiled kernel.

Each worker takes a job (header, target, its own disjoint nonce range) from its queue and scans
the range in chunks of roughly 20 ms with `coinium.kernels.pow_search`. Between chunks it compares
the job's generation with a shared counter: the pool bumps the counter to make every worker drop
stale work at once (within one chunk), without polling queues. Found nonces, exhausted ranges and
hash counts come back on one result queue, read by a thread that hands them to a callback.

Workers are separate processes (spawned, not forked, so they inherit no sockets or threads from
the node) because a nonce search is pure CPU work and each one keeps a core busy.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger("coinium.miner")

CHUNK_SECONDS = 0.02
REPORT_SECONDS = 0.5
MAX_NONCE = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class Job:
    generation: int
    header: bytes
    target: int
    start_nonce: int
    count: int


@dataclass(frozen=True, slots=True)
class WorkerEvent:
    kind: str  # "found", "exhausted", "hashes"
    worker: int
    generation: int
    nonce: int = 0
    hashes: int = 0


def split_nonce_space(workers: int, start: int = 0, end: int = MAX_NONCE) -> list[tuple[int, int]]:
    """Disjoint (start, count) ranges covering start..end, one per worker."""
    total = end - start + 1
    size = total // workers
    ranges = []
    for i in range(workers):
        first = start + i * size
        count = size if i < workers - 1 else total - size * (workers - 1)
        ranges.append((first, count))
    return ranges


def _worker_main(index: int, jobs: mp.Queue, results: mp.Queue, generation) -> None:
    import signal

    from coinium import kernels  # imported in the child: the compiled backend loads here

    # Ctrl-C reaches the whole process group; the pool that owns this worker stops it cleanly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    chunk = 1 << 14
    while True:
        job: Job | None = jobs.get()
        if job is None:
            return
        nonce, end = job.start_nonce, job.start_nonce + job.count
        hashes, last_report = 0, time.monotonic()
        while nonce < end and generation.value == job.generation:
            count = min(chunk, end - nonce)
            started = time.perf_counter()
            found, done = kernels.pow_search(job.header, job.target, nonce, count)
            elapsed = time.perf_counter() - started
            hashes += done
            if found is not None:
                results.put(WorkerEvent("found", index, job.generation, nonce=found, hashes=hashes))
                hashes = 0
                break
            nonce += count
            # Keep each chunk near CHUNK_SECONDS so stale work is dropped quickly.
            if elapsed < CHUNK_SECONDS / 2 and chunk < 1 << 30:
                chunk *= 2
            elif elapsed > CHUNK_SECONDS * 2 and chunk > 1 << 10:
                chunk //= 2
            now = time.monotonic()
            if now - last_report >= REPORT_SECONDS:
                results.put(WorkerEvent("hashes", index, job.generation, hashes=hashes))
                hashes, last_report = 0, now
        else:
            if nonce >= end:
                results.put(WorkerEvent("exhausted", index, job.generation, hashes=hashes))
                hashes = 0
        if hashes:
            results.put(WorkerEvent("hashes", index, job.generation, hashes=hashes))


class WorkerPool:
    """N nonce-search processes sharing one stop flag (the job generation) and a result queue."""

    def __init__(self, processes: int, on_event: Callable[[WorkerEvent], None]):
        if processes < 1:
            raise ValueError("a worker pool needs at least one process")
        self.size = processes
        self._ctx = mp.get_context("spawn")
        self._generation = self._ctx.Value("Q", 0, lock=False)
        self._results: mp.Queue = self._ctx.Queue()
        self._jobs: list[mp.Queue] = []
        self._procs: list[mp.process.BaseProcess] = []
        self._on_event = on_event
        self._closing = False
        self._current: list[Job] = []
        for index in range(processes):
            self._jobs.append(self._ctx.Queue())
            self._procs.append(self._spawn(index))
        self._reader = threading.Thread(target=self._read_results, name="miner-results",
                                        daemon=True)  # fmt: skip
        self._reader.start()

    def _spawn(self, index: int) -> mp.process.BaseProcess:
        proc = self._ctx.Process(
            target=_worker_main,
            args=(index, self._jobs[index], self._results, self._generation),
            name=f"coinium-miner-{index}",
            daemon=True,
        )
        proc.start()
        return proc

    @property
    def generation(self) -> int:
        return self._generation.value

    def start_job(self, header: bytes, target: int, ranges: Sequence[tuple[int, int]]) -> int:
        """Give every worker its range of a new job; older work is dropped. Returns the job id."""
        if len(ranges) != self.size:
            raise ValueError("one nonce range per worker")
        generation = self._generation.value + 1
        self._generation.value = generation
        self._current = [Job(generation, header, target, s, c) for s, c in ranges]
        for queue, job in zip(self._jobs, self._current):
            queue.put(job)
        return generation

    def stop_job(self) -> None:
        self._generation.value += 1
        self._current = []

    def restart_dead_workers(self) -> int:
        """Replace workers that died (and give them the current job again); returns how many."""
        restarted = 0
        for index, proc in enumerate(self._procs):
            if not proc.is_alive() and not self._closing:
                log.warning("miner worker %d died (exit code %s); restarting it", index,
                            proc.exitcode)  # fmt: skip
                self._procs[index] = self._spawn(index)
                if self._current:
                    self._jobs[index].put(self._current[index])
                restarted += 1
        return restarted

    def worker_pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def _read_results(self) -> None:
        while True:
            event = self._results.get()
            if event is None:
                return
            try:
                self._on_event(event)
            except Exception:  # noqa: BLE001 - a callback bug must not kill the reader
                log.exception("miner event handler failed")

    def close(self, timeout: float = 5.0) -> None:
        self._closing = True
        self._generation.value += 1
        for queue in self._jobs:
            queue.put(None)
        deadline = time.monotonic() + timeout
        for proc in self._procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.terminate()
                proc.join(1.0)
        self._results.put(None)
        self._reader.join(timeout)
        for queue in [*self._jobs, self._results]:
            queue.close()
            queue.join_thread()
