"""What a miner counts: hash rates per worker, blocks, stale work, and how fast work switches.

Thread-safe: the pool's reader thread adds hashes and acknowledgements, the mining loop adds
blocks, and a display or an RPC reads snapshots.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from typing import Any

RATE_WINDOW = 10.0  # seconds of samples behind a hash rate
LATENCY_KEPT = 1000


class MinerStats:
    def __init__(self, workers: int, window: float = RATE_WINDOW):
        self.workers = workers
        self.window = window
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._samples: list[deque[tuple[float, int]]] = [deque() for _ in range(workers)]
        self.hashes = [0] * workers
        self.found = 0
        self.accepted = 0
        self.rejected = 0
        self.stale_blocks = 0  # found on work whose tip had moved: not submitted
        self.extra_finds = 0  # more finds on work we had already found a block on (regtest)
        self.rolls = 0  # extra-nonce rolls after a worker used up its nonce range
        self.restarts = 0  # dead workers replaced
        self.stale_hashes = 0.0  # hashes done on work after a new tip made it stale
        self.height: int | None = None
        self.target: int | None = None
        self.last_reject: str | None = None
        self.connected = False
        # From a new tip being seen (ZMQ, poll, the node) to every worker on the new work.
        self.tip_latencies: deque[float] = deque(maxlen=LATENCY_KEPT)
        # From the pool being handed a job to every worker on it.
        self.job_latencies: deque[float] = deque(maxlen=LATENCY_KEPT)

    # --- hashes -------------------------------------------------------------------------------
    def add_hashes(self, worker: int, count: int, when: float | None = None) -> None:
        if count <= 0:
            return
        when = time.monotonic() if when is None else when
        with self._lock:
            self.hashes[worker] += count
            self._samples[worker].append((when, count))

    def add_stale_hashes(self, count: float) -> None:
        with self._lock:
            self.stale_hashes += count

    def worker_rates(self, now: float | None = None) -> list[float]:
        """Hashes per second of each worker over the last ``window`` seconds."""
        now = time.monotonic() if now is None else now
        span = max(1e-9, min(self.window, now - self.started))
        rates = []
        with self._lock:
            for samples in self._samples:
                while samples and samples[0][0] < now - self.window:
                    samples.popleft()
                rates.append(sum(n for _, n in samples) / span)
        return rates

    def total_rate(self, now: float | None = None) -> float:
        return sum(self.worker_rates(now))

    # --- latencies ----------------------------------------------------------------------------
    def add_switch(self, job_latency: float, tip_latency: float | None) -> None:
        with self._lock:
            self.job_latencies.append(job_latency)
            if tip_latency is not None:
                self.tip_latencies.append(tip_latency)

    def set(self, **fields: Any) -> None:
        with self._lock:
            for name, value in fields.items():
                setattr(self, name, value)

    def bump(self, name: str, by: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + by)

    def snapshot(self) -> dict[str, Any]:
        rates = self.worker_rates()
        with self._lock:
            total = sum(self.hashes)
            tips = list(self.tip_latencies)
            jobs = list(self.job_latencies)
            return {
                "workers": self.workers,
                "hashrate": sum(rates),
                "worker_hashrates": rates,
                "hashes": total,
                "worker_hashes": list(self.hashes),
                "found": self.found,
                "accepted": self.accepted,
                "rejected": self.rejected,
                "stale_blocks": self.stale_blocks,
                "extra_finds": self.extra_finds,
                "rolls": self.rolls,
                "restarts": self.restarts,
                "stale_hashes": round(self.stale_hashes),
                "stale_share": self.stale_hashes / total if total else 0.0,
                "height": self.height,
                "target": f"{self.target:064x}" if self.target is not None else None,
                "last_reject": self.last_reject,
                "connected": self.connected,
                "uptime": time.monotonic() - self.started,
                "tip_switch_ms": _summary(tips),
                "job_switch_ms": _summary(jobs),
            }


def _summary(seconds: list[float]) -> dict[str, float] | None:
    if not seconds:
        return None
    ordered = sorted(seconds)
    return {
        "count": len(ordered),
        "median": 1e3 * statistics.median(ordered),
        "p90": 1e3 * ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
        "max": 1e3 * ordered[-1],
    }
