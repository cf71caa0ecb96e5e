"""How ``coinium mine`` shows what it does: a live terminal table, plain lines, or JSON lines.

* `LiveDisplay` (a terminal, the default): a rich table redrawn twice a second: node, link
  (ZMQ or polling), height and target, hash rate per worker (each CPU process and each GPU,
  named) and in total, blocks found, accepted,
  rejected (with the node's last reason) and stale, how fast workers switched to new work, and
  the last few events.
* `LineSink` (stdout is not a terminal): one readable line per event that matters.
* `JsonSink` (``--json``): every event as one JSON object per line, for scripts:
  ``{"event": "accepted", "time": <unix s>, "t_mono": <monotonic s>, "hash": ..., ...}``.

Every sink is called from several threads (the miner's, the worker pool's reader, the tip
watcher); the miner serializes the calls.
"""

from __future__ import annotations

import json
import sys
import time
from collections import deque
from typing import IO, Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from coinium.mining.engine import MinerEvent
from coinium.mining.stats import MinerStats

# Events too frequent or too internal for the human views.
QUIET = {"hashrate", "switched", "roll"}


def si_rate(value: float) -> str:
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.2f} {suffix}H/s"
    return f"{value:.0f} H/s"


# Each event's line where `describe` needs no logic: a template over the event's data ({short}:
# the block hash's first 16 hex digits).
_LINES = {
    "connected": "connected: mining at height {height}",
    "disconnected": "node unavailable ({error}); retrying with backoff",
    "work": "work: height {height}, {transactions} txs, generation {generation} ({trigger})",
    "found": "found block {short} at height {height} (worker {worker})",
    "accepted": "accepted block {short} at height {height}",
    "rejected": "REJECTED block {short} at height {height}: {reason}",
    "stale": "block {short} found on stale work, not submitted ({reason})",
    "submit-failed": "could not submit {short}: {error} (will retry if still on the tip)",
    "worker-restarted": "worker {worker} died; restarted as pid {pid}",
    "error": "error: {message}",
    "done": "done: {accepted} blocks accepted",
    "stopped": "stopped: {accepted} accepted, {rejected} rejected, {stale_blocks} stale, "
               "{hashes:,} hashes",
}


def describe(event: MinerEvent) -> str | None:
    """One line for a person, or None for events not worth a line."""
    d = event.data
    kind = event.kind
    short = (d.get("hash") or "")[:16]
    if kind == "start":
        gpus = [label for label in d.get("labels", []) if label.startswith("gpu")]
        line = f"started {d['processes']} CPU worker processes"
        if gpus:
            line += f" and {len(gpus)} GPU worker{'s' if len(gpus) > 1 else ''}: {', '.join(gpus)}"
        return line + f" (pids {d['pids']})"
    if kind == "notify":
        where = d.get("address") or f"every {d.get('interval')} s"
        return f"new tips by {d['mode']} ({where})"
    if kind == "newtip":
        return f"new tip {short or '?'} ({d['source']})" if d["source"] != "node" else None
    template = _LINES.get(kind)
    return None if template is None else template.format_map({**d, "short": short})


class JsonSink:
    def __init__(self, stream: IO[str] | None = None):
        self.stream = stream or sys.stdout

    def __call__(self, event: MinerEvent) -> None:
        self.stream.write(json.dumps(event.as_dict(), default=str, separators=(",", ":")) + "\n")
        self.stream.flush()


class LineSink:
    def __init__(self, stream: IO[str] | None = None):
        self.stream = stream or sys.stdout

    def __call__(self, event: MinerEvent) -> None:
        line = describe(event)
        if line is None or event.kind in QUIET:
            return
        stamp = time.strftime("%H:%M:%S", time.localtime(event.wall))
        self.stream.write(f"{stamp} {line}\n")
        self.stream.flush()


class LiveDisplay:
    """A rich Live view of a miner; use as a context manager around the mining run."""

    def __init__(self, stats: MinerStats, node_url: str, console: Console | None = None):
        self.stats = stats
        self.node_url = node_url
        self.console = console or Console()
        self.link = "?"
        self.pids: list[int] = []
        self.labels: list[str] = []
        self.events: deque[str] = deque(maxlen=8)
        self._live = Live(console=self.console, refresh_per_second=2, transient=False,
                          get_renderable=self.render)  # fmt: skip

    def __enter__(self) -> LiveDisplay:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._live.__exit__(*exc)

    def __call__(self, event: MinerEvent) -> None:
        if event.kind == "notify":
            self.link = event.data["mode"] + (f" {event.data['address']}"
                                              if event.data.get("address") else "")  # fmt: skip
        elif event.kind == "start" or event.kind == "worker-restarted":
            self.pids = list(event.data.get("pids") or self.pids)
            self.labels = list(event.data.get("labels") or self.labels)
            if event.kind == "worker-restarted" and event.data["worker"] < len(self.pids):
                self.pids[event.data["worker"]] = event.data["pid"]
        line = describe(event)
        if line is not None and event.kind not in QUIET and event.kind != "work":
            stamp = time.strftime("%H:%M:%S", time.localtime(event.wall))
            self.events.append(f"{stamp} {line}")

    def render(self) -> Group:
        snap = self.stats.snapshot()
        status = Text()
        status.append("coinium mine", style="bold")
        status.append(f"  node {self.node_url}  ")
        status.append("connected" if snap["connected"] else "waiting for the node",
                      style="green" if snap["connected"] else "yellow")  # fmt: skip
        status.append(f"  new tips: {self.link}")
        target = snap["target"]
        chain = Text(f"height {snap['height'] if snap['height'] is not None else '-'}   "
                     f"target {target[:24] + '…' if target else '-'}")  # fmt: skip

        workers = Table(box=None, pad_edge=False)
        workers.add_column("worker")
        workers.add_column("pid", justify="right")
        workers.add_column("hash rate", justify="right")
        workers.add_column("hashes", justify="right")
        rows = zip(snap["worker_hashrates"], snap["worker_hashes"], strict=True)
        for i, (rate, count) in enumerate(rows):
            pid = str(self.pids[i]) if i < len(self.pids) else ""
            label = self.labels[i] if i < len(self.labels) else str(i)
            workers.add_row(label, pid, si_rate(rate), f"{count:,}")
        workers.add_row("total", "", si_rate(snap["hashrate"]), f"{snap['hashes']:,}",
                        style="bold")  # fmt: skip

        blocks = Text(f"blocks: {snap['found']} found, {snap['accepted']} accepted, "
                      f"{snap['rejected']} rejected, {snap['stale_blocks']} stale")  # fmt: skip
        if snap["last_reject"]:
            blocks.append(f"  (last rejection: {snap['last_reject']})", style="red")
        switch = snap["tip_switch_ms"] or snap["job_switch_ms"]
        timing = Text(
            f"new work reaches every worker in {switch['median']:.1f} ms median "
            f"({switch['count']} switches); stale share {100 * snap['stale_share']:.4f}%"
            if switch else "waiting for work"
        )  # fmt: skip
        recent = Text("\n".join(self.events), style="dim")
        return Group(status, chain, workers, blocks, timing, recent)
