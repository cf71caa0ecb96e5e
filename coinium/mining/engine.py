"""The mining loop behind both ``coinium mine`` and ``coinium node --mine``.

`Miner` takes work from a `WorkSource` (a node over RPC, or the node it runs in), spreads it over
a `WorkerPool`, and hands found blocks back to the source. It runs on its own thread; other
threads tell it about new tips with `Miner.new_tip` (a ZMQ ``hashblock`` subscriber, a poller, or
the node's chain listener), and everything it does is reported as `MinerEvent` values to one
callback (a live display, JSON lines, or the node's log).

The loop, once per template::

    get a template ─► a work unit (coinbase + extra-nonce, Merkle root, header) ─► every worker
    gets a disjoint range of its nonces ─► wait for: a find, a used-up range (roll a new unit for
    that worker), a new tip, the refresh interval (new mempool transactions), or stop

Rules that keep the work honest:

* A new tip retires the current work at once (`WorkerPool.stop_job`, the shared stop flag), from
  the notifying thread, before the new template is even fetched: every worker drops stale work
  within one search chunk (~20 ms).
* A find is checked against the target again and submitted only if its work is still on the best
  tip the miner knows. Finds on work retired by a new tip are counted as stale and never sent; a
  find on work retired only by a template refresh (same parent) is still a valid block and is
  sent. No block hash is ever submitted twice; a rejected block is reported with the node's
  reason (BIP22 strings) and left alone.
* The source failing (`SourceUnavailable`: the node is restarting or gone) stops the workers and
  retries with exponential backoff; a block whose submission got no answer is sent again after
  reconnecting if the node's tip is still its parent (or counted as accepted if the node's tip
  is the block itself). A worker process that dies is replaced and given fresh work.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from coinium.core.block import Block
from coinium.mining.stats import MinerStats
from coinium.mining.work import ExtraNonce, Template, WorkUnit, make_unit, meets, nonce_ranges
from coinium.mining.workers import NONCE_SPACE, WorkerEvent, WorkerPool

log = logging.getLogger("coinium.miner")

TICK_SECONDS = 0.5  # how often the loop looks at dead workers and the stats clock
SUBMITTED_KEPT = 4096
GENERATIONS_KEPT = 64


class SourceUnavailable(Exception):
    """The node cannot give work or take a block right now (not running, restarting, busy)."""


class SourceFatal(Exception):
    """Mining cannot go on with this node (for example it is on another network)."""


class WorkSource(Protocol):
    def get_template(self) -> Template:
        """The next block to mine; raises `SourceUnavailable` or `SourceFatal`."""
        ...

    def submit_block(self, block: Block) -> str | None:
        """None when the block became the tip, else the node's BIP22 reason ("inconclusive",
        "duplicate", "high-hash", ...); raises `SourceUnavailable` when there was no answer."""
        ...


@dataclass(frozen=True, slots=True)
class MinerEvent:
    kind: str
    data: dict[str, Any]
    t: float = field(default_factory=time.monotonic)  # system-wide monotonic clock
    wall: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return {"event": self.kind, "time": round(self.wall, 6), "t_mono": self.t, **self.data}


@dataclass(frozen=True, slots=True)
class MinerConfig:
    processes: int
    payout: bytes  # the 20-byte account id the coinbase pays
    refresh_seconds: float = 5.0  # a fresh template (new mempool transactions) this often
    interval: float = 0.0  # pause after each find (regtest and demos)
    max_blocks: int | None = None  # stop after this many accepted blocks
    local_target: int | None = None  # search for hashes at or below this too (never easier)
    nonce_span: int = NONCE_SPACE  # nonces per header, split over its workers (tests shrink it)
    backoff_initial: float = 0.5
    backoff_max: float = 8.0
    stats_interval: float = 0.0  # emit "hashrate" events this often (0: never)
    extra_tag: bytes | None = None  # extra-nonce prefix (random per session by default)
    gpu_devices: tuple[int, ...] = ()  # CUDA devices, one GPU worker each, after the CPU ones
    gpu_names: tuple[str, ...] = ()  # their names, for the display (optional)

    def __post_init__(self) -> None:
        if self.processes < 0 or self.workers < 1:
            raise ValueError("a miner needs at least one worker (CPU process or GPU)")
        if len(set(self.gpu_devices)) != len(self.gpu_devices):
            raise ValueError("a GPU is listed twice")
        if len(self.payout) != 20:
            raise ValueError("the payout is a 20-byte account id")
        if not self.workers <= self.nonce_span <= NONCE_SPACE:
            raise ValueError("nonce_span must give every worker at least one nonce")

    @property
    def workers(self) -> int:
        """CPU worker processes plus one worker per GPU."""
        return self.processes + len(self.gpu_devices)

    def worker_labels(self) -> list[str]:
        """How a person sees each worker: "cpu 3", "gpu 0 (NVIDIA H200)"."""
        labels = [f"cpu {i}" for i in range(self.processes)]
        for i, device in enumerate(self.gpu_devices):
            name = self.gpu_names[i] if i < len(self.gpu_names) else ""
            labels.append(f"gpu {device}" + (f" ({name})" if name else ""))
        return labels


@dataclass(slots=True)
class _Generation:
    started: float  # when the pool was handed the job
    trigger: str  # what made this work: "start", "newtip", "refresh", "found", "reconnect"
    tip_seen: float | None  # when the new tip that caused it was seen, if one did
    acked: set[int] = field(default_factory=set)
    reported: bool = False


class Miner:
    def __init__(self, source: WorkSource, config: MinerConfig,
                 on_event: Callable[[MinerEvent], None] | None = None):  # fmt: skip
        self.source = source
        self.config = config
        self.stats = MinerStats(config.workers)
        self.error: BaseException | None = None
        self.on_event = on_event  # may be set after construction, before start
        self._emit_lock = threading.Lock()
        self._lock = threading.RLock()  # retiring work, generation records
        self._inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stopping = threading.Event()
        self._done = threading.Event()
        self._extra = ExtraNonce(config.extra_tag)
        self._pool: WorkerPool | None = None
        self._thread: threading.Thread | None = None
        # Work state (the mining thread's; the lock guards what other threads read).
        self._template: Template | None = None
        self._target = 0
        self._active: int | None = None  # generation of the work the workers are on
        self._units: OrderedDict[int, WorkUnit] = OrderedDict()  # job id -> unit
        self._generations: OrderedDict[int, _Generation] = OrderedDict()
        self._retired: OrderedDict[int, str] = OrderedDict()  # generation -> why it was retired
        self._known_tip: bytes | None = None  # the best tip we know of (template or notice)
        self._tip_seen: float | None = None  # when an unhandled new tip was seen
        self._tip_epoch = 0  # counts tip notices; work fetched before the latest is outdated
        self._work_epoch = 0  # the epoch the current work was fetched in
        self._submitted: OrderedDict[bytes, None] = OrderedDict()
        self._unsent: Block | None = None  # found, submitted, no answer: try again later
        self._submitting: bytes | None = None  # our block in flight: its tip notice is no news
        self._last_stats = time.monotonic()

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Spawn the workers and the mining thread."""
        config = self.config
        self._pool = WorkerPool(config.processes, self._on_worker_event, config.gpu_devices)
        self._emit("start", processes=config.processes, pids=self._pool.worker_pids(),
                   payout=config.payout.hex(), gpus=list(config.gpu_devices),
                   labels=config.worker_labels())  # fmt: skip
        self._thread = threading.Thread(target=self._run, name="miner", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop mining and every worker process; safe from any thread, safe to call twice."""
        self._stopping.set()
        self._inbox.put(("stop", None))
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.close()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the mining thread to end (stop, max_blocks, a fatal error)."""
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def hashrate(self) -> float:
        return self.stats.total_rate()

    @property
    def pool(self) -> WorkerPool | None:
        return self._pool

    # --- news from other threads --------------------------------------------------------------
    def new_tip(self, tip_hash: bytes | None, source: str = "notify",
                seen_at: float | None = None) -> bool:  # fmt: skip
        """A new best block (None: something changed, hash unknown). Drops the current work at
        once and makes the loop fetch a template. Returns False for a tip already known."""
        seen = time.monotonic() if seen_at is None else seen_at
        with self._lock:
            if tip_hash is not None and tip_hash in (self._known_tip, self._submitting):
                return False
            if tip_hash is not None:
                self._known_tip = tip_hash
            self._retire("newtip")
            self._tip_epoch += 1
            epoch = self._tip_epoch
            if self._tip_seen is None:
                self._tip_seen = seen
        self._emit("newtip", hash=tip_hash.hex() if tip_hash else None, source=source)
        self._inbox.put(("tip", epoch))
        return True

    # --- the worker pool's reader thread ------------------------------------------------------
    def _on_worker_event(self, event: WorkerEvent) -> None:
        kind = event.kind
        if event.hashes:
            self.stats.add_hashes(event.worker, event.hashes, event.t or None)
        if kind == "started":
            self._acknowledge(event)
        elif kind == "stopped":
            self._count_stale(event)
        elif kind in ("found", "exhausted"):
            self._inbox.put(("worker", event))

    def _acknowledge(self, event: WorkerEvent) -> None:
        with self._lock:
            record = self._generations.get(event.generation)
            if record is None or record.reported:
                return
            record.acked.add(event.worker)
            if len(record.acked) < self.config.workers:
                return
            record.reported = True
            job_latency = event.t - record.started
            tip_latency = event.t - record.tip_seen if record.tip_seen is not None else None
        # Every worker has acknowledged: the later acks arrive after the earlier, so event.t is
        # the last worker's switch time. The first work waits for the workers to spawn: not a
        # switch.
        if record.trigger != "start":
            self.stats.add_switch(job_latency, tip_latency)
        data: dict[str, Any] = {"generation": event.generation, "trigger": record.trigger,
                                "job_ms": round(1e3 * job_latency, 3)}  # fmt: skip
        if tip_latency is not None:
            data["tip_ms"] = round(1e3 * tip_latency, 3)
        self._emit("switched", **data)

    def _count_stale(self, event: WorkerEvent) -> None:
        """A worker dropped work after the stop flag moved: the part of its last chunk done
        after a new tip retired the work was stale."""
        with self._lock:
            reason = self._retired.get(event.generation)
        retired_at = self._pool.retired_at.get(event.generation) if self._pool else None
        if reason != "newtip" or retired_at is None or event.chunk_hashes <= 0:
            return
        span = event.t - event.chunk_start
        after = event.t - max(retired_at, event.chunk_start)
        if span > 0 and after > 0:
            self.stats.add_stale_hashes(event.chunk_hashes * min(1.0, after / span))

    # --- the mining thread --------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        except SourceFatal as exc:
            self.error = exc
            self._emit("error", message=str(exc), fatal=True)
        except Exception as exc:  # noqa: BLE001 - report, then stop cleanly
            log.exception("the miner stopped on an unexpected error")
            self.error = exc
            self._emit("error", message=f"{type(exc).__name__}: {exc}", fatal=True)
        finally:
            with self._lock:
                self._retire("stop")
            if self._pool is not None:
                self._pool.close()
            self._emit("stopped", **self.stats.snapshot())
            self._done.set()

    def _loop(self) -> None:
        backoff = self.config.backoff_initial
        trigger = "start"
        while not self._stopping.is_set():
            self._check_workers()
            epoch = self._tip_epoch
            try:
                template = self.source.get_template()
            except SourceUnavailable as exc:
                with self._lock:
                    self._retire("disconnected")
                if self.stats.connected or trigger == "start":
                    self.stats.set(connected=False)
                    self._emit("disconnected", error=str(exc), retry_in=backoff)
                else:
                    log.debug("node still unavailable (%s); next try in %.1f s", exc, backoff)
                trigger = "reconnect"
                if not self._sleep(backoff, wake_on_tip=True):
                    return
                backoff = min(backoff * 2, self.config.backoff_max)
                continue
            backoff = self.config.backoff_initial
            if not self.stats.connected:
                self.stats.set(connected=True)
                self._emit("connected", height=template.height,
                           prev=template.prev_hash.hex())  # fmt: skip
            if self._tip_epoch != epoch:
                continue  # a new tip was announced while we asked: this template may be older
            if self._unsent is not None:
                settled = self._settle_unsent(template)
                if settled == "done":
                    return
                if settled is not None:
                    trigger = settled
                    continue
            if not self._begin(template, trigger, epoch):
                continue
            outcome = self._mine()
            if outcome in ("stop", "done"):
                return
            trigger = outcome
            if outcome == "found" and self.config.interval > 0:
                if not self._sleep(self.config.interval, wake_on_tip=False):
                    return

    def _begin(self, template: Template, trigger: str, epoch: int) -> bool:
        """New work for every worker: one unit split into disjoint nonce ranges. False if a new
        tip was announced since the template was asked for (fetch again)."""
        config = self.config
        target = template.target
        if config.local_target is not None:
            target = min(target, config.local_target)
        unit = make_unit(template, config.payout, self._extra.next())
        ranges = nonce_ranges(config.workers, config.nonce_span)
        assert self._pool is not None
        with self._lock:
            if self._tip_epoch != epoch:
                return False
            tip_seen, self._tip_seen = self._tip_seen, None
            self._known_tip = template.prev_hash
            self._work_epoch = epoch
            self._template, self._target = template, target
            started = time.monotonic()
            previous = self._pool.generation
            generation = self._pool.start_job(unit.header_bytes, target, ranges)
            self._retired.setdefault(previous, "replaced")
            self._active = generation
            self._remember(self._generations, generation,
                           _Generation(started, "newtip" if tip_seen else trigger, tip_seen))
            for job in self._pool.current_jobs():
                if job is not None:
                    self._remember(self._units, job.job, unit, GENERATIONS_KEPT * 4 *
                                   config.workers)  # fmt: skip
        self.stats.set(height=template.height, target=target)
        self._emit("work", height=template.height, prev=template.prev_hash.hex(),
                   target=f"{target:064x}", bits=f"{template.bits:08x}",
                   transactions=len(template.transactions), generation=generation,
                   extra=unit.extra.hex(), timestamp=unit.header.timestamp,
                   trigger="newtip" if tip_seen else trigger)  # fmt: skip
        return True

    def _mine(self) -> str:
        """Wait for the current work to end; returns why: "found", "newtip", "refresh",
        "disconnected", "stop" or "done"."""
        deadline = time.monotonic() + self.config.refresh_seconds
        while True:
            if self._stopping.is_set():
                return "stop"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                with self._lock:
                    self._retire("refresh")
                return "refresh"
            try:
                kind, item = self._inbox.get(timeout=min(remaining, TICK_SECONDS))
            except queue.Empty:
                self._tick()
                continue
            if kind == "stop":
                return "stop"
            if kind == "tip":
                if item <= self._work_epoch:
                    continue  # announced before this work's template was fetched
                return "newtip"
            outcome = self._worker_result(item)
            if outcome is not None:
                return outcome
            self._tick()

    def _worker_result(self, event: WorkerEvent) -> str | None:
        if event.kind == "exhausted":
            self._roll(event.worker, event.generation)
            return None
        return self._found(event)

    def _roll(self, worker: int, generation: int) -> None:
        """A worker used up its nonces: give it a header of its own (a new extra-nonce)."""
        assert self._pool is not None and self._template is not None
        with self._lock:
            if generation != self._active:
                return
            unit = make_unit(self._template, self.config.payout, self._extra.next())
            job = self._pool.assign(worker, unit.header_bytes, self._target, 0,
                                    self.config.nonce_span, generation=generation)  # fmt: skip
            if job is None:
                return
            self._remember(self._units, job.job, unit, GENERATIONS_KEPT * 4 * self.config.workers)
        self.stats.bump("rolls")
        self._emit("roll", worker=worker, generation=generation, extra=unit.extra.hex())

    def _found(self, event: WorkerEvent) -> str | None:
        unit = self._units.get(event.job)
        if unit is None:
            log.warning("worker %d found a nonce for an unknown job %d", event.worker, event.job)
            return None
        block = unit.block(event.nonce)
        if not meets(block.hash, unit.template.target):
            self._emit("error", message=f"worker {event.worker} reported nonce {event.nonce} "
                       "that does not meet the target", fatal=False)  # fmt: skip
            return None
        with self._lock:
            current = event.generation == self._active
            reason = self._retired.get(event.generation)
            on_tip = unit.template.prev_hash == self._known_tip
            if not current and reason == "found":
                self.stats.bump("extra_finds")  # a second find on work we already found on
                return None
            if not on_tip or not (current or reason in ("refresh", "replaced")):
                stale = True
            else:
                stale = False
                self._retire("found")  # our block will be the new tip: all of this is done
        if stale:
            self.stats.bump("stale_blocks")
            self._emit("stale", hash=block.hash.hex(), height=block.height, worker=event.worker,
                       reason=reason or "tip moved")  # fmt: skip
            return None
        self.stats.bump("found")
        self._emit("found", hash=block.hash.hex(), height=block.height, worker=event.worker,
                   nonce=event.nonce)  # fmt: skip
        return self._submit(block)

    def _submit(self, block: Block, again: bool = False) -> str:
        if block.hash in self._submitted and not again:
            return "found"  # never the same block twice
        self._remember(self._submitted, block.hash, None, SUBMITTED_KEPT)
        self._submitting = block.hash
        try:
            reason = self.source.submit_block(block)
        except SourceUnavailable as exc:
            self._unsent = block
            self._emit("submit-failed", hash=block.hash.hex(), height=block.height,
                       error=str(exc))  # fmt: skip
            return "disconnected"
        self._unsent = None
        if reason is None:
            return self._accepted(block)
        self.stats.bump("rejected")
        self.stats.set(last_reject=reason)
        self._emit("rejected", hash=block.hash.hex(), height=block.height, reason=reason)
        log.warning("block %s at height %d rejected: %s", block.hash.hex(), block.height, reason)
        return "found"

    def _accepted(self, block: Block) -> str:
        with self._lock:
            self._known_tip = block.hash  # its own notice is not news
        self.stats.bump("accepted")
        self._emit("accepted", hash=block.hash.hex(), height=block.height)
        if self.config.max_blocks is not None and self.stats.accepted >= self.config.max_blocks:
            self._emit("done", accepted=self.stats.accepted)
            return "done"
        return "found"

    def _settle_unsent(self, template: Template) -> str | None:
        """After a reconnect: send again a block that got no answer, if it still fits. Returns
        the outcome ("found", "done", "disconnected"), or None if it is stale (mine on)."""
        block, self._unsent = self._unsent, None
        assert block is not None
        if template.prev_hash == block.hash:
            return self._accepted(block)  # the node took it before it went away
        if template.prev_hash == block.header.prev_hash:
            return self._submit(block, again=True)
        self.stats.bump("stale_blocks")
        self._emit("stale", hash=block.hash.hex(), height=block.height, worker=None,
                   reason="tip moved while the node was away")  # fmt: skip
        return None

    # --- helpers ------------------------------------------------------------------------------
    def _retire(self, reason: str) -> None:
        """Stop the workers on the current work (caller holds the lock)."""
        if self._active is None or self._pool is None:
            return
        retired = self._pool.stop_job()
        self._remember(self._retired, retired, reason, GENERATIONS_KEPT)
        self._active = None

    def _sleep(self, seconds: float, wake_on_tip: bool) -> bool:
        """Wait (handling worker results); False if asked to stop."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                kind, item = self._inbox.get(timeout=min(remaining, TICK_SECONDS))
            except queue.Empty:
                self._tick()
                continue
            if kind == "stop" or self._stopping.is_set():
                return False
            if kind == "tip" and wake_on_tip:
                return True
            if kind == "worker":
                self._worker_result(item)  # late finds: counted, never submitted here
        return not self._stopping.is_set()

    def _tick(self) -> None:
        self._check_workers()
        now = time.monotonic()
        if self.config.stats_interval > 0 and now - self._last_stats >= self.config.stats_interval:
            self._last_stats = now
            rates = self.stats.worker_rates(now)
            cpu = self.config.processes
            gpus = {str(d): round(r, 1)
                    for d, r in zip(self.config.gpu_devices, rates[cpu:], strict=True)}
            self._emit("hashrate", hashrate=round(sum(rates), 1),
                       workers=[round(r, 1) for r in rates], cpu=round(sum(rates[:cpu]), 1),
                       gpus=gpus)  # fmt: skip

    def _check_workers(self) -> None:
        if self._pool is None or self._stopping.is_set():
            return
        restarted = self._pool.restart_dead_workers(requeue=False)
        for worker in restarted:
            self.stats.bump("restarts")
            self._emit("worker-restarted", worker=worker, pid=self._pool.worker_pids()[worker])
            if self._active is not None:
                self._roll(worker, self._active)

    @staticmethod
    def _remember(table: OrderedDict, key: Any, value: Any, keep: int = GENERATIONS_KEPT) -> None:
        table[key] = value
        while len(table) > keep:
            table.popitem(last=False)

    def report(self, kind: str, **data: Any) -> None:
        """Send an event of another part (the tip watcher) through the miner's event sink."""
        self._emit(kind, **data)

    def _emit(self, kind: str, **data: Any) -> None:
        if self.on_event is None:
            return
        event = MinerEvent(kind, data)
        with self._emit_lock:
            try:
                self.on_event(event)
            except Exception:  # noqa: BLE001 - a display bug must not stop the miner
                log.exception("miner event handler failed")
