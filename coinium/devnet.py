"""``coinium devnet``: a local regtest network of node processes on 127.0.0.1, with a live table.

Each node is a real ``coinium node`` process with its own datadir and ports. Node 0 starts first;
every later node learns the peer addresses of the nodes before it (``getnetworkinfo``'s
``localaddresses``) and is started with ``--addnode`` towards them as the topology says, so the
network is connected from the start (discovery may add links). The first ``--miners`` nodes mine
with one process each. Ctrl-C (or ``--duration``) stops every node: SIGTERM, then SIGKILL for any
that does not go within the timeout.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from base64 import b64encode
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from coinium.core.params import REGTEST
from coinium.crypto.address import encode_address
from coinium.crypto.keys import PrivateKey

STOP_TIMEOUT_S = 20.0
START_TIMEOUT_S = 60.0


class _Interrupted(BaseException):
    """Ctrl-C, seen once. Not a KeyboardInterrupt: with one (caught below), the process now and
    then still ended by SIGINT after its cleanup (exit status -2)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class DevNode:
    index: int
    base: Path
    miner: bool
    rpc_port: int = field(default_factory=_free_port)
    p2p_port: int = field(default_factory=_free_port)
    proc: subprocess.Popen | None = None
    peer_address: str = ""
    log: Any = None

    @property
    def datadir(self) -> Path:
        return self.base / REGTEST.data_subdir

    def rpc_batch(self, calls: list[tuple[str, list[Any]]], timeout: float = 5.0) -> list[Any]:
        """Several JSON-RPC calls in one HTTP request; an error gives None in its place."""
        cookie = (self.datadir / ".cookie").read_bytes().strip()
        body = json.dumps([{"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                           for i, (m, p) in enumerate(calls)]).encode()  # fmt: skip
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.rpc_port}/", data=body, method="POST",
            headers={"Authorization": "Basic " + b64encode(cookie).decode(),
                     "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=timeout) as response:
            replies = json.loads(response.read())
        results: list[Any] = [None] * len(calls)
        for reply in replies:
            if reply.get("error") is None:
                results[reply["id"]] = reply.get("result")
        return results

    def rpc(self, method: str, *params: Any) -> Any:
        return self.rpc_batch([(method, list(params))])[0]


def _start(node: DevNode, addnodes: list[str], mine_interval: float, log_level: str) -> None:
    command = [sys.executable, "-m", "coinium", "node", "--network", "regtest",
               "--datadir", str(node.base), "--rpc-port", str(node.rpc_port),
               "--p2p-port", str(node.p2p_port), "--bind", "127.0.0.1", "--log-level", log_level,
               *(f"--addnode={a}" for a in addnodes)]  # fmt: skip
    if node.miner:
        address = encode_address(REGTEST.address_prefix, PrivateKey(os.urandom(32)).account)
        command += ["--mine", "--miner-address", address, "--miner-processes", "1",
                    "--mine-interval", str(mine_interval)]  # fmt: skip
    node.base.mkdir(parents=True, exist_ok=True)
    node.log = open(node.base / "node.out", "ab")
    node.proc = subprocess.Popen(command, stdout=node.log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


def _wait_ready(node: DevNode) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if node.proc is not None and node.proc.poll() is not None:
            raise click.ClickException(f"node {node.index} exited; see {node.base / 'node.out'}")
        try:
            info = node.rpc("getnetworkinfo")
        except (OSError, ValueError, urllib.error.URLError):
            info = None
        if info and info.get("localaddresses"):
            node.peer_address = info["localaddresses"][0]["address"]
            return
        time.sleep(0.1)
    raise click.ClickException(f"node {node.index} did not answer within {START_TIMEOUT_S} s")


def _peers_of(index: int, topology: str, rng: random.Random) -> list[int]:
    """Which earlier nodes node ``index`` dials."""
    if index == 0:
        return []
    if topology == "line":
        return [index - 1]
    if topology == "star":
        return [0]
    # random: one random earlier node keeps it connected, a second one adds a cycle
    chosen = {rng.randrange(index)}
    if index > 1 and rng.random() < 0.5:
        chosen.add(rng.randrange(index))
    return sorted(chosen)


def _stop(nodes: list[DevNode]) -> None:
    for node in nodes:
        if node.proc is not None and node.proc.poll() is None:
            node.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for node in nodes:
        if node.proc is None:
            continue
        try:
            node.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            node.proc.kill()
            node.proc.wait(5)
        if node.log is not None:
            node.log.close()


def _row(node: DevNode) -> list[str]:
    calls = [("getblockcount", []), ("getbestblockhash", []), ("getnetworkinfo", []),
             ("getmempoolinfo", []), ("getmininginfo", [])]  # fmt: skip
    try:
        height, tip, net, pool, mining = node.rpc_batch(calls, timeout=2.0)
    except (OSError, ValueError, urllib.error.URLError):
        return [str(node.index), "down", "", "", "", "", ""]
    peers = f"{net['connections_in']} in / {net['connections_out']} out" if net else "?"
    rate = mining.get("localhashps", 0.0) if mining else 0.0
    return [str(node.index), str(height), (tip or "")[:16], peers,
            str(pool["size"]) if pool else "?", _hashrate(rate) if node.miner else "-",
            str(node.rpc_port)]  # fmt: skip


def _hashrate(rate: float) -> str:
    for unit in ("H/s", "kH/s", "MH/s", "GH/s"):
        if rate < 1000:
            return f"{rate:.1f} {unit}"
        rate /= 1000
    return f"{rate:.1f} TH/s"


def _table(nodes: list[DevNode], started: float):  # -> rich Table
    from rich.table import Table

    table = Table(title=f"coinium devnet: {len(nodes)} nodes, up {time.monotonic() - started:.0f} s"
                  " (Ctrl-C stops them all)")  # fmt: skip
    for column in ("node", "height", "tip", "peers", "mempool", "hash rate", "rpc port"):
        table.add_column(column)
    for node in nodes:
        table.add_row(*_row(node))
    return table


@click.command("devnet")
@click.option("--nodes", "count", type=click.IntRange(1, 64), default=4, show_default=True,
              help="How many node processes.")
@click.option("--miners", type=click.IntRange(0, 64), default=2, show_default=True,
              help="How many of them mine (one process each).")
@click.option("--topology", type=click.Choice(["random", "line", "star"]), default="random",
              show_default=True, help="Which earlier nodes each node dials.")
@click.option("--mine-interval", type=float, default=2.0, show_default=True,
              help="Seconds each miner waits between its blocks.")
@click.option("--datadir", type=click.Path(file_okay=False), default=None,
              help="Folder for the nodes' datadirs [default: a temporary one, deleted at exit].")
@click.option("--duration", type=float, default=None,
              help="Stop after this many seconds (for scripts) instead of waiting for Ctrl-C.")
@click.option("--refresh", type=float, default=1.0, show_default=True,
              help="Seconds between table updates.")
@click.option("--log-level", default="info", show_default=True, help="The nodes' log level.")
@click.option("--seed", type=int, default=None, help="Random seed of the topology.")
def devnet_command(count, miners, topology, mine_interval, datadir, duration, refresh,
                   log_level, seed) -> None:  # fmt: skip
    """Start a local regtest network of COUNT nodes on 127.0.0.1 and show it live."""
    from rich.console import Console
    from rich.live import Live

    def interrupt(signum, frame):
        # The nodes run in sessions of their own (Ctrl-C does not reach them): a second Ctrl-C
        # must not cut the cleanup short and leave them running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise _Interrupted

    signal.signal(signal.SIGINT, interrupt)
    rng = random.Random(seed)
    temporary = datadir is None
    base = Path(tempfile.mkdtemp(prefix="coinium-devnet-")) if temporary else Path(datadir)
    nodes = [DevNode(i, base / f"node{i}", i < miners) for i in range(count)]
    console = Console()
    started = time.monotonic()
    try:
        for node in nodes:
            addnodes = [nodes[j].peer_address for j in _peers_of(node.index, topology, rng)]
            _start(node, addnodes, mine_interval, log_level)
            _wait_ready(node)
            console.print(f"node {node.index}: {node.peer_address}"
                          + (" (mining)" if node.miner else ""))  # fmt: skip
        console.print(f"datadirs in {base}")
        with Live(_table(nodes, started), console=console, refresh_per_second=4,
                  auto_refresh=False) as live:  # fmt: skip
            while duration is None or time.monotonic() - started < duration:
                time.sleep(refresh)
                live.update(_table(nodes, started), refresh=True)
    except (KeyboardInterrupt, _Interrupted):
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        console.print("\nstopping the nodes...")
        _stop(nodes)
        if temporary:
            shutil.rmtree(base, ignore_errors=True)
