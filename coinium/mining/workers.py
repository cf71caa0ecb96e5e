"""A pool of worker processes that search nonces with the compiled kernel.

Each worker takes a job (header, target, its own disjoint nonce range) from its queue and scans
the range in chunks of roughly 20 ms with `coinium.kernels.pow_search`. Between chunks it compares
the job's generation with a shared counter: the pool bumps the counter to make every worker drop
stale work at once (within one chunk), without polling queues. Everything a worker has to say
comes back on its result pipe, read by one thread that hands it to a callback:

- ``started``: the worker began a job (``t``: when, on the system-wide monotonic clock, so the
  time from a new tip to every worker on new work can be measured across processes);
- ``hashes``: progress, about every ``REPORT_SECONDS`` (per-worker hash rates);
- ``stopped``: the job was dropped because the generation moved on; ``chunk_start``, ``t`` (its
  end) and ``chunk_hashes`` describe the last chunk, so the caller, knowing when the flag moved,
  can tell how many hashes went to work that was already stale;
- ``found``: a nonce meets the target (the worker then waits for its next job);
- ``exhausted``: the range is done without a find (the caller rolls the header).

GPU workers (one per device, `gpu_devices`) are the same loop in their own process around the
`cuda` kernel backend; their chunks are sized from the measured rate to keep one kernel launch near
`GPU_CHUNK_SECONDS`, so a new tip reaches a GPU within one launch while launch gaps stay a small
fraction of its time.

Workers are separate processes (spawned, not forked, so they inherit no sockets or threads from
the node) because a nonce search is pure CPU work and each one keeps a core busy. They ignore
SIGINT: Ctrl-C reaches the whole process group, and the parent decides when they stop (`close`).
A worker whose parent died (SIGKILL, a crash) notices within a second and exits.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing import connection as mp_connection
from multiprocessing.connection import Connection

from coinium.core.header import HEADER_SIZE

log = logging.getLogger("coinium.miner")

CHUNK_SECONDS = 0.02
GPU_CHUNK_SECONDS = 0.075  # one kernel launch: long enough that launch gaps cost ~0.1%
MAX_CPU_CHUNK = 1 << 30
MAX_GPU_CHUNK = 1 << 40
MIN_CHUNK = 1 << 10
REPORT_SECONDS = 0.5
PARENT_CHECK_SECONDS = 1.0
MAX_NONCE = (1 << 64) - 1
NONCE_SPACE = 1 << 64
_RETIRED_KEPT = 256  # generations whose retirement time is remembered


@dataclass(frozen=True, slots=True)
class Job:
    generation: int
    header: bytes
    target: int
    start_nonce: int
    count: int
    job: int = 0  # unique per assignment in this pool: events name the job they are about


@dataclass(frozen=True, slots=True)
class WorkerEvent:
    kind: str  # "started", "hashes", "stopped", "found", "exhausted"
    worker: int
    generation: int
    nonce: int = 0
    hashes: int = 0
    job: int = 0
    t: float = 0.0  # time.monotonic() in the worker when the event happened
    chunk_start: float = 0.0  # "stopped": when the last chunk began
    chunk_hashes: int = 0  # "stopped": hashes of the last chunk


def split_nonce_space(workers: int, start: int = 0, end: int = MAX_NONCE) -> list[tuple[int, int]]:
    """Disjoint (start, count) ranges covering start..end, one per worker."""
    total = end - start + 1
    if workers < 1 or total < workers:
        raise ValueError(f"cannot split {total} nonces over {workers} workers")
    size = total // workers
    ranges = []
    for i in range(workers):
        first = start + i * size
        count = size if i < workers - 1 else total - size * (workers - 1)
        ranges.append((first, count))
    return ranges


def _worker_main(index: int, jobs: Connection, results: Connection, generation,
                 parent_pid: int, gpu_device: int | None = None) -> None:  # fmt: skip
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us (see the module doc)
    from coinium import kernels  # imported in the child: the compiled backend loads here

    # A CPU worker uses the CPU backend even under COINIUM_KERNELS=cuda: GPUs get their own.
    pow_search = kernels.load_backend(kernels.BACKEND).pow_search
    seconds, largest = CHUNK_SECONDS, MAX_CPU_CHUNK
    if gpu_device is not None:
        try:
            gpu = kernels.load_backend("cuda")
            gpu.use_device(gpu_device)
        except (kernels.KernelBackendError, ValueError) as exc:
            log.error("GPU worker %d cannot use GPU %d: %s", index, gpu_device, exc)
            return  # the parent checked the device first: this is rare, and logged
        pow_search, seconds, largest = gpu.pow_search, GPU_CHUNK_SECONDS, MAX_GPU_CHUNK
        pow_search(bytes(HEADER_SIZE), 0, 0, 1)  # compile the kernel now, not in the first job
    try:
        _search_jobs(index, jobs, results, generation, parent_pid, pow_search, seconds, largest)
    except (BrokenPipeError, EOFError, ConnectionResetError):
        return  # the parent is gone or closed our pipes


def _next_job(jobs: Connection, parent_pid: int) -> Job | None:
    """Wait for a job (the latest, if several are queued); None means stop."""
    while not jobs.poll(PARENT_CHECK_SECONDS):
        if os.getppid() != parent_pid:
            return None  # orphaned: nobody will ever read our results
    job = jobs.recv()
    while job is not None and jobs.poll(0):
        job = jobs.recv()  # a later assignment replaces one not yet started
    return job


def next_chunk(chunk: int, done: int, elapsed: float, seconds: float, largest: int) -> int:
    """The next chunk's size: unchanged while a chunk takes ``seconds`` within a factor of two,
    else what the measured rate does in ``seconds`` (at most 8 times more at once: the first
    chunks of a GPU include compiling its kernel and say little about its rate)."""
    if seconds / 2 <= elapsed <= 2 * seconds:
        return chunk
    wanted = int(done * seconds / elapsed) if elapsed > 0 else chunk * 8
    return max(MIN_CHUNK, min(largest, chunk * 8, wanted))


def _search_jobs(index: int, jobs: Connection, results: Connection, generation,
                 parent_pid: int, pow_search, seconds: float = CHUNK_SECONDS,
                 largest: int = MAX_CPU_CHUNK) -> None:  # fmt: skip
    chunk = 1 << 14 if largest == MAX_CPU_CHUNK else MIN_CHUNK  # a GPU's first compiles a kernel
    while True:
        job = _next_job(jobs, parent_pid)
        if job is None:
            return
        if job.generation != generation.value:
            continue  # superseded while it waited
        started = time.monotonic()
        results.send(WorkerEvent("started", index, job.generation, job=job.job, t=started))
        nonce, end = job.start_nonce, job.start_nonce + job.count
        hashes, last_report = 0, started
        chunk_start, chunk_end, done = started, started, 0
        while nonce < end:
            if generation.value != job.generation:
                results.send(WorkerEvent("stopped", index, job.generation, hashes=hashes,
                                         job=job.job, t=chunk_end, chunk_start=chunk_start,
                                         chunk_hashes=done))  # fmt: skip
                break
            count = min(chunk, end - nonce)
            chunk_start = time.monotonic()
            found, done = pow_search(job.header, job.target, nonce, count)
            chunk_end = time.monotonic()
            hashes += done
            if found is not None:
                results.send(WorkerEvent("found", index, job.generation, nonce=found,
                                         hashes=hashes, job=job.job, t=chunk_end))  # fmt: skip
                break
            nonce += count
            # Keep each chunk near `seconds` so stale work is dropped quickly.
            chunk = next_chunk(chunk, done, chunk_end - chunk_start, seconds, largest)
            if chunk_end - last_report >= REPORT_SECONDS:
                results.send(WorkerEvent("hashes", index, job.generation, hashes=hashes,
                                         job=job.job, t=chunk_end))  # fmt: skip
                hashes, last_report = 0, chunk_end
                if os.getppid() != parent_pid:
                    return
        else:
            results.send(WorkerEvent("exhausted", index, job.generation, hashes=hashes,
                                     job=job.job, t=chunk_end))  # fmt: skip


class WorkerPool:
    """N nonce-search processes sharing one stop flag (the job generation).

    Each worker has its own pair of pipes (jobs in, events out), so a worker killed at any
    moment can hold no lock that the others need. ``on_event`` runs on the pool's reader thread,
    one event at a time.
    """

    def __init__(self, processes: int, on_event: Callable[[WorkerEvent], None],
                 gpu_devices: Sequence[int] = ()):  # fmt: skip
        """``processes`` CPU workers (indices 0..processes-1), then one worker per GPU in
        ``gpu_devices`` (CUDA device numbers)."""
        self.cpu_workers = processes
        self.gpu_devices = tuple(gpu_devices)
        processes += len(self.gpu_devices)
        if self.cpu_workers < 0 or processes < 1:
            raise ValueError("a worker pool needs at least one process")
        self.size = processes
        self._ctx = mp.get_context("spawn")
        self._generation = self._ctx.Value("Q", 0, lock=False)
        self._lock = threading.Lock()  # generation changes, job assignment, restarts
        self._job_conns: list[Connection] = [None] * processes  # type: ignore[list-item]
        self._result_conns: list[Connection] = [None] * processes  # type: ignore[list-item]
        self._procs: list[mp.process.BaseProcess] = [None] * processes  # type: ignore[list-item]
        self._on_event = on_event
        self._closing = False
        self._closed = False
        self._closed_event = threading.Event()
        self._draining: list[Connection] = []  # result pipes of dead workers, read to EOF
        self._current: list[Job | None] = [None] * processes
        self._next_job = 1
        self.retired_at: dict[int, float] = {}  # generation -> when the stop flag moved past it
        for index in range(processes):
            self._spawn(index)
        self._reader = threading.Thread(target=self._read_results, name="miner-results",
                                        daemon=True)  # fmt: skip
        self._reader.start()

    def _spawn(self, index: int) -> None:
        job_recv, job_send = self._ctx.Pipe(duplex=False)
        result_recv, result_send = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(
            target=_worker_main,
            args=(index, job_recv, result_send, self._generation, os.getpid(),
                  self.gpu_device(index)),
            name=f"coinium-miner-{index}",
            daemon=True,
        )
        proc.start()
        job_recv.close()  # the child's ends: closing ours lets EOF tell us it is gone
        result_send.close()
        if self._job_conns[index] is not None:
            self._job_conns[index].close()
        if self._result_conns[index] is not None:
            self._draining.append(self._result_conns[index])  # the reader closes it at EOF
        self._job_conns[index] = job_send
        self._result_conns[index] = result_recv
        self._procs[index] = proc

    def gpu_device(self, worker: int) -> int | None:
        """The CUDA device a worker drives, or None for a CPU worker."""
        if worker < self.cpu_workers:
            return None
        return self.gpu_devices[worker - self.cpu_workers]

    def _send(self, index: int, job: Job | None) -> None:
        try:
            self._job_conns[index].send(job)
        except (OSError, ValueError):
            pass  # a dead worker: restart_dead_workers gives its replacement work

    @property
    def generation(self) -> int:
        return self._generation.value

    def _bump(self) -> int:
        """Move the stop flag on (caller holds the lock); returns the new generation."""
        old = self._generation.value
        self._generation.value = old + 1
        self.retired_at[old] = time.monotonic()
        if len(self.retired_at) > _RETIRED_KEPT:
            del self.retired_at[min(self.retired_at)]
        return old + 1

    def _job(self, generation: int, header: bytes, target: int, start: int, count: int) -> Job:
        if len(header) != HEADER_SIZE:
            raise ValueError(f"a job's header is {HEADER_SIZE} bytes")
        if count < 1 or start < 0 or start + count > NONCE_SPACE:
            raise ValueError(f"nonce range {start}+{count} outside the u64 nonce")
        job = Job(generation, header, target, start, count, self._next_job)
        self._next_job += 1
        return job

    def start_job(self, header: bytes, target: int, ranges: Sequence[tuple[int, int]]) -> int:
        """Give every worker its range of a new job; older work is dropped. Returns the job's
        generation (`current_jobs` has the per-worker assignments)."""
        if len(ranges) != self.size:
            raise ValueError("one nonce range per worker")
        with self._lock:
            jobs = [self._job(0, header, target, s, c) for s, c in ranges]  # checked first
            generation = self._bump()
            self._current = [Job(generation, j.header, j.target, j.start_nonce, j.count, j.job)
                             for j in jobs]  # fmt: skip
            for index, job in enumerate(self._current):
                self._send(index, job)
        return generation

    def assign(self, worker: int, header: bytes, target: int, start: int, count: int,
               generation: int | None = None) -> Job | None:  # fmt: skip
        """Give one (idle) worker new work within the current generation, e.g. a rolled header
        after it exhausted its range. Returns None, assigning nothing, if ``generation`` is given
        and is no longer current."""
        with self._lock:
            current = self._generation.value
            if generation is not None and generation != current:
                return None
            job = self._job(current, header, target, start, count)
            self._current[worker] = job
            self._send(worker, job)
            return job

    def stop_job(self) -> int:
        """Every worker drops its work (within one chunk) and waits. Returns the generation
        that was retired."""
        with self._lock:
            retired = self._generation.value
            self._bump()
            self._current = [None] * self.size
            return retired

    def current_jobs(self) -> list[Job | None]:
        return list(self._current)

    def restart_dead_workers(self, requeue: bool = True) -> list[int]:
        """Replace workers that died; with ``requeue`` give them their current job again.
        Returns the indices of the workers restarted."""
        restarted = []
        with self._lock:
            for index, proc in enumerate(self._procs):
                if proc.is_alive() or self._closing:
                    continue
                log.warning("miner worker %d died (exit code %s); restarting it", index,
                            proc.exitcode)  # fmt: skip
                proc.join(0)
                self._spawn(index)
                job = self._current[index]
                if requeue and job is not None:
                    self._send(index, job)
                else:
                    self._current[index] = None
                restarted.append(index)
        return restarted

    def worker_pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def alive(self) -> list[bool]:
        return [p.is_alive() for p in self._procs]

    def _read_results(self) -> None:
        at_eof: set[Connection] = set()
        while not self._closed:
            with self._lock:
                for conn in [c for c in self._draining if c in at_eof]:
                    self._draining.remove(conn)
                    at_eof.discard(conn)
                    conn.close()
                conns = [c for c in (*self._result_conns, *self._draining) if c not in at_eof]
            if not conns:
                time.sleep(0.05)
                continue
            for conn in mp_connection.wait(conns, timeout=0.2):
                try:
                    event = conn.recv()
                except (EOFError, OSError):
                    at_eof.add(conn)  # that worker died; its replacement gets a new pipe
                    continue
                try:
                    self._on_event(event)
                except Exception:  # noqa: BLE001 - a callback bug must not kill the reader
                    log.exception("miner event handler failed")

    def close(self, timeout: float = 5.0) -> None:
        """Stop every worker (asked first, then terminated) and the reader. Safe to call twice."""
        with self._lock:
            if self._closing:
                closer = False
            else:
                closer = self._closing = True
        if not closer:  # another thread is closing: wait for it to finish
            self._closed_event.wait(timeout + 5.0)
            return
        with self._lock:
            self._bump()
            for index in range(self.size):
                self._send(index, None)
        deadline = time.monotonic() + timeout
        for proc in self._procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.terminate()
                proc.join(1.0)
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)
        self._closed = True
        self._reader.join(timeout)
        with self._lock:
            for conn in [*self._job_conns, *self._result_conns, *self._draining]:
                conn.close()
        self._closed_event.set()
