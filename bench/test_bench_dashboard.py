"""The dashboard's cost to the node: block-connect throughput with 50 live WebSocket clients vs
none, block connect -> WebSocket frame at a client, and a /metrics scrape.

    PYTHONPATH=. python -m pytest bench/test_bench_dashboard.py -s -q    # prints the report

An in-process regtest node with ``--dashboard`` is fed a chain of ``BLOCKS`` pre-mined blocks of
``TXS`` transfers each through `Node.submit_block` (as P2P or submitblock would), once with no
live client and once with ``CLIENTS`` clients connected from another process (browsers are other
processes, normally on other machines: here the clients' process runs at nice 19, so that on a
2-core box the node gets the CPU first, as it would with the browsers elsewhere); alternated
``ROUNDS`` times, each run on a fresh datadir. Three views of the cost, as
the shared development machine makes wall time noisy: wall-clock throughput (median of the rounds),
throughput per CPU second of the node's process (``time.process_time``: other processes' load
does not count), and the share of the connect time spent in the hub itself (its listener call
and its fan-out, timed around the real methods).
Latency: from the moment the node hands a connected block to its listeners (a listener here
stamps it) to each client's arrival of the first frame naming that block or a later one (frames
for tips closer than 50 ms are shared: `coinium.web.live.BLOCK_COALESCE_S`), both on the
system-wide monotonic clock. Scrape: ``SCRAPES`` GETs of /metrics over HTTP on loopback.

Targets (issue 16): throughput with 50 clients >= 98% of none; p95 latency < 200 ms; a scrape
< 10 ms.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from coinium.chain.builder import generate
from coinium.chain.chainstate import AcceptStatus, ChainState
from coinium.config import build_options
from coinium.core.params import REGTEST
from coinium.core.transaction import sign_transfer
from coinium.crypto.keys import PrivateKey
from coinium.node import Node

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "dashboard.json"
sys.path.insert(0, str(HERE.parent / "tests" / "functional"))
from nodeproc import free_port  # noqa: E402

BLOCKS = 150
TXS = 100
CLIENTS = 50
ROUNDS = 5
SCRAPES = 200
RICH = PrivateKey(b"\xd0" + bytes(31))


def build_chain(folder: Path) -> list:
    """BLOCKS blocks (after one that pays RICH), each of TXS transfers from RICH."""
    with ChainState(folder, REGTEST, sync=False) as chain:
        blocks = generate(chain, 1, RICH.account)
        nonce = 0
        for _ in range(BLOCKS):
            txs = []
            for _tx in range(TXS):
                recipient = PrivateKey(b"\xd1" + nonce.to_bytes(31, "big")).account
                txs.append(sign_transfer(RICH, REGTEST.chain_id, recipient, 1000, 10, nonce))
                nonce += 1
            blocks += generate(chain, 1, RICH.account, txs)
    return blocks


class Stamp:
    """A chain listener that notes when each block was handed to the listeners."""

    def __init__(self):
        self.at: dict[int, float] = {}  # height -> when the listeners heard of it

    def block_connected(self, block) -> None:
        self.at[block.height] = time.monotonic()

    def block_disconnected(self, block) -> None:
        pass

    def tip_updated(self, tip) -> None:
        pass


async def run(blocks: list, clients: int, folder: Path) -> dict:
    port = free_port()
    options = build_options("regtest", folder, {
        "dashboard": True, "dashboard_port": port, "rpc_port": free_port(),
        "p2p_port": free_port(), "bind": "127.0.0.1", "persistmempool": False,
    })  # fmt: skip
    node = Node(options)
    await node.start()
    stamp = Stamp()
    node.listeners.append(stamp)
    hub = node.dashboard.hub
    fanout = [0.0]
    real_tip_updated = hub.tip_updated

    def timed_tip_updated(tip) -> None:
        t0 = time.perf_counter()
        real_tip_updated(tip)
        fanout[0] += time.perf_counter() - t0

    real_broadcast = hub.broadcast

    def timed_broadcast(event) -> None:
        t0 = time.perf_counter()
        real_broadcast(event)
        fanout[0] += time.perf_counter() - t0

    # Instance attributes: what the node's listener call and the hub's call_soon look up.
    hub.tip_updated = timed_tip_updated
    hub.broadcast = timed_broadcast
    proc = None
    arrivals_file = folder / "arrivals.json"
    try:
        if clients:
            proc = subprocess.Popen(
                ["nice", "-n", "19", sys.executable, str(HERE / "dashboard_clients.py"),
                 f"ws://127.0.0.1:{port}/ws", str(clients), str(arrivals_file)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
            loop = asyncio.get_running_loop()
            assert (await loop.run_in_executor(None, proc.stdout.readline)).strip() == "ready"
            while len(node.dashboard.hub.clients) < clients:
                await asyncio.sleep(0.05)
        started, cpu_started = time.perf_counter(), time.process_time()
        for block in blocks:
            result = await node.submit_block(block)
            assert result.status == AcceptStatus.NEW_TIP, result
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        txs = sum(len(block.transactions) for block in blocks)
        report = {"clients": clients, "seconds": elapsed, "tx_per_s": txs / elapsed,
                  "tx_per_cpu_s": txs / cpu, "fanout_share": fanout[0] / elapsed}  # fmt: skip
        if clients:
            await asyncio.sleep(1.0)  # the last frames arrive
            proc.stdin.write("\n")
            proc.stdin.close()
            proc.wait(30)
            arrivals = json.loads(arrivals_file.read_text())
            assert len(arrivals) == clients
            latencies = []
            for frames in arrivals:
                assert frames and frames[-1][0] == blocks[-1].height, "a client missed the tip"
                for height, connected_at in stamp.at.items():
                    first = next(t for h, t in frames if h >= height)
                    latencies.append((first - connected_at) * 1000)
            report["frames_per_client"] = statistics.median(len(f) for f in arrivals)
            latencies.sort()
            report["latency_ms_median"] = statistics.median(latencies)
            report["latency_ms_p95"] = latencies[int(0.95 * (len(latencies) - 1))]
            report["shed"] = node.dashboard.hub.shed_count
        else:
            async with aiohttp.ClientSession() as session:
                times = []
                for _ in range(SCRAPES):
                    t0 = time.perf_counter()
                    async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                        await response.read()
                    times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            report["scrape_ms_median"] = statistics.median(times)
            report["scrape_ms_p95"] = times[int(0.95 * (len(times) - 1))]
        return report
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        await node.shutdown()


def test_dashboard_costs():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        blocks = build_chain(tmp / "source")
        runs: dict[int, list[dict]] = {0: [], CLIENTS: []}
        for r in range(ROUNDS):
            for clients in (0, CLIENTS):
                report = asyncio.run(run(blocks, clients, tmp / f"run-{r}-{clients}"))
                print(f"round {r}: {clients:2d} clients: {report['tx_per_s']:,.0f} tx/s, "
                      f"{report['tx_per_cpu_s']:,.0f} tx per CPU s", flush=True)  # fmt: skip
                runs[clients].append(report)

    def median(clients: int, key: str) -> float:
        return statistics.median(r[key] for r in runs[clients])

    wall = median(CLIENTS, "tx_per_s") / median(0, "tx_per_s")
    cpu = median(CLIENTS, "tx_per_cpu_s") / median(0, "tx_per_cpu_s")
    share = median(CLIENTS, "fanout_share")
    p95 = statistics.median(r["latency_ms_p95"] for r in runs[CLIENTS])
    p50 = statistics.median(r["latency_ms_median"] for r in runs[CLIENTS])
    scrape = statistics.median(r["scrape_ms_median"] for r in runs[0])
    scrape95 = statistics.median(r["scrape_ms_p95"] for r in runs[0])
    shed = sum(r["shed"] for r in runs[CLIENTS])
    print(f"\nblock connect, {BLOCKS} blocks of {TXS} transfers, medians of {ROUNDS} rounds:")
    print(f"  wall clock: {median(0, 'tx_per_s'):,.0f} tx/s with no live client, "
          f"{median(CLIENTS, 'tx_per_s'):,.0f} with {CLIENTS}: ratio {wall:.3f} (target >= 0.98)")
    print(f"  per CPU second of the node: {median(0, 'tx_per_cpu_s'):,.0f} vs "
          f"{median(CLIENTS, 'tx_per_cpu_s'):,.0f}: ratio {cpu:.3f}")
    print(f"  the hub's fan-out to {CLIENTS} clients: {100 * share:.2f}% of the connect time "
          f"(throughput ratio from it alone {1 - share:.4f})")
    frames = statistics.median(r["frames_per_client"] for r in runs[CLIENTS])
    print(f"block connect -> WebSocket frame at a client ({CLIENTS} clients): median {p50:.1f} ms,"
          f" p95 {p95:.1f} ms (target p95 < 200 ms); clients shed {shed}; {frames:.0f} frames "
          f"per client for {BLOCKS} blocks")
    print(f"/metrics scrape: median {scrape:.2f} ms, p95 {scrape95:.2f} ms (target < 10 ms)")
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"runs": runs, "wall_ratio": wall, "cpu_ratio": cpu,
                               "fanout_share": share}, indent=2))  # fmt: skip
