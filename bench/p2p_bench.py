"""Peer-to-peer benchmarks with real node processes on 127.0.0.1.

    PYTHONPATH=. python bench/p2p_bench.py propagation --topology line --txs 1
    PYTHONPATH=. python bench/p2p_bench.py propagation --topology random --txs 2000
    PYTHONPATH=. python bench/p2p_bench.py txrelay
    PYTHONPATH=. python bench/p2p_bench.py sync
    PYTHONPATH=. python bench/p2p_bench.py sync --million   # ~1 min (+1 min the first time)
    PYTHONPATH=. python bench/p2p_bench.py all        # everything, JSON in bench/out/p2p.json

propagation: N nodes (8) wired by ``--connect`` as a line or a random connected graph (each node
dials 2 random earlier ones); blocks enter at node 0 and each node's ``hashblock`` ZMQ
notification is timestamped by this process, so a block's propagation time is the last node's
notification minus node 0's; with ``--prefill`` each block's transactions are first sent to node 0
and relayed into every mempool (the common case, where compact blocks pay off), and the bytes all
nodes sent for the block (``getnettotals``) are reported. Blocks of 1 transaction (the coinbase)
come from ``generatetoaddress``; blocks of 2,000 transfers are built and mined here (a local
ChainState that mirrors the nodes' chain, 40 funded senders) and handed to node 0 with
``submitblock``; without ``--prefill`` every node checks 2,000 signatures it has never seen (no
mempool, no signature cache).

txrelay: 4 nodes in a line; 5,000 signed transfers go to node 0 in JSON-RPC batches of 500; the
rate is transactions over the time until the last node's mempool holds them all (``hashtx``
notifications counted per node, or with ``--poll`` each node's getmempoolinfo every 10 ms: the
notifications cost every node a ZMQ message per transaction, ~40 us of CPU per transaction
summed over the four), with each node's CPU time per transaction (all its threads, from /proc:
independent of what else the machine runs). ``--txs N`` sets the count.

sync: a chain of 2,000 empty blocks on two nodes, then a third node starts with both as peers;
blocks/s over the time from its start to its tip matching theirs. With ``--txs-blocks B`` the
chain is B blocks of 2,000 transfers instead, for transactions/s. With ``--million`` a source node
serves the sync bench's chain (1,000,000 transfers in 500 blocks of 2,000, bench/out/sync-source-v2,
built the first time) and a fresh node ``--connect``ed to it syncs it: tx/s, blocks/s, both nodes'
CPU seconds and the bytes that crossed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import zmq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "functional"))
sys.path.insert(0, str(REPO / "tests"))

from nodeproc import NodeProcess, free_port, peer_address, sync_blocks, wait_until  # noqa: E402

from coinium.chain.builder import build_block, generate, mine  # noqa: E402
from coinium.chain.chainstate import ChainState  # noqa: E402
from coinium.core.params import REGTEST  # noqa: E402
from coinium.core.transaction import sign_transfer  # noqa: E402
from coinium.crypto.address import encode_address  # noqa: E402
from coinium.crypto.keys import PrivateKey  # noqa: E402

FEE = 10_000
SENDERS = 40


class Net:
    """Node processes, each with hashblock/hashtx notifications this process timestamps."""

    def __init__(self, base: Path, hashtx: bool = True):
        self.base = base
        # hashtx costs every node a ZMQ message per admitted and per confirmed transaction;
        # only the relay bench counts them (propagation waits on getmempoolinfo).
        self.hashtx = hashtx
        self.nodes: list[NodeProcess] = []
        self.ctx = zmq.Context()
        self.subs: list[zmq.Socket] = []
        self.poller = zmq.Poller()
        self.arrivals: list[dict[str, float]] = []  # per node: block hash -> time
        self.tx_counts: list[int] = []
        self.tx_last: list[float] = []

    def start(self, name: str, args: list[str]) -> NodeProcess:
        port = free_port()
        address = f"tcp://127.0.0.1:{port}"
        tx_args = (f"--zmqpubhashtx={address}", "--zmqpubhashtxhwm=0") if self.hashtx else ()
        node = NodeProcess(self.base / name, extra_args=(
            f"--zmqpubhashblock={address}", *tx_args, "--log-level=warning", *args))  # fmt: skip
        node.start()
        sub = self.ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.setsockopt(zmq.RCVHWM, 0)
        sub.connect(address)
        self.poller.register(sub, zmq.POLLIN)
        self.nodes.append(node)
        self.subs.append(sub)
        self.arrivals.append({})
        self.tx_counts.append(0)
        self.tx_last.append(0.0)
        return node

    def pump(self, timeout_ms: int = 10) -> None:
        for sock, _ in self.poller.poll(timeout_ms):
            while True:
                try:
                    topic, body, _ = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                now = time.perf_counter()
                i = self.subs.index(sock)
                if topic == b"hashblock":
                    self.arrivals[i].setdefault(body.hex(), now)
                else:
                    self.tx_counts[i] += 1
                    self.tx_last[i] = now

    def wait_block(self, block_hash: str, timeout: float = 60.0) -> list[float]:
        deadline = time.monotonic() + timeout
        while not all(block_hash in a for a in self.arrivals):
            if time.monotonic() > deadline:
                raise TimeoutError(f"block {block_hash[:16]} did not reach every node")
            self.pump()
        return [a[block_hash] for a in self.arrivals]

    def warm_up(self) -> None:
        """ZMQ subscribers join late: mine until every node's notification comes through."""
        for _ in range(50):
            (block_hash,) = self.nodes[0].rpc("generatetoaddress", 1, miner_address())
            try:
                self.wait_block(block_hash, timeout=2)
                return
            except TimeoutError:
                continue
        raise TimeoutError("notifications never arrived")

    def bans(self) -> int:
        """Bans across the network: an honest benchmark must cause none."""
        return sum(len(node.rpc("listbanned")) for node in self.nodes)

    def stop(self) -> None:
        for sub in self.subs:
            sub.close(0)
        self.ctx.term()
        for node in self.nodes:
            node.stop()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU time of a process's live threads by kind: its main thread (the node's event loop),
    libzmq's I/O threads, and the rest (the mempool's signature worker among them; threads that
    already ended count in the process's total only)."""
    kinds = {"event loop": 0.0, "zmq io": 0.0, "other threads": 0.0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended meanwhile
        kind = "event loop" if task.name == str(pid) else \
            "zmq io" if comm.startswith("ZMQbg") else "other threads"  # fmt: skip
        kinds[kind] += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return kinds


def peak_rss_mib(pid: int) -> int:
    """A process's peak resident memory (VmHWM, Linux /proc), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return 0


def miner_address() -> str:
    return encode_address(REGTEST.address_prefix, PrivateKey((7).to_bytes(32, "big")).account)


def senders() -> list[PrivateKey]:
    return [PrivateKey((1000 + i).to_bytes(32, "big")) for i in range(SENDERS)]


def topology_args(net_nodes: list[NodeProcess], i: int, topology: str,
                  rng: random.Random) -> list[str]:  # fmt: skip
    if i == 0:
        return []
    if topology == "line":
        targets = [i - 1]
    else:
        targets = sorted({rng.randrange(i) for _ in range(2)})
    return [f"--connect={peer_address(net_nodes[t])}" for t in targets]


class Mirror:
    """A local chain that follows node 0 block for block, to build full blocks offline."""

    def __init__(self, base: Path):
        self.chain = ChainState(base / "mirror", REGTEST, sync=False)
        self.keys = senders()
        self.nonces = [0] * len(self.keys)

    def fund(self, node: NodeProcess) -> None:
        """One block per sender pays it a coinbase; node 0 gets them with submitblock."""
        for key in self.keys:
            (block,) = generate(self.chain, 1, key.account)
            assert node.rpc("submitblock", block.encode().hex()) is None

    def full_blocks(self, count: int, txs: int) -> list:
        blocks = []
        per_sender = -(-txs // len(self.keys))
        for _ in range(count):
            batch = []
            for s, key in enumerate(self.keys):
                for _ in range(per_sender):
                    if len(batch) == txs:
                        break
                    batch.append(sign_transfer(key, REGTEST.chain_id, self.keys[(s + 1) % len(
                        self.keys)].account, 1, FEE, self.nonces[s]))
                    self.nonces[s] += 1
            coinbase_to = PrivateKey((7).to_bytes(32, "big")).account
            block = mine(build_block(self.chain, batch, coinbase_to))
            assert self.chain.accept_block(block).status.value == "new-tip"
            blocks.append(block)
        return blocks

    def close(self) -> None:
        self.chain.close()


def catch_up(mirror: Mirror, node: NodeProcess) -> None:
    """Give the mirror every block node 0 has that it lacks (the warm-up blocks)."""
    from coinium.core.block import Block

    for height in range(mirror.chain.height + 1, node.rpc("getblockcount") + 1):
        raw = node.rpc("getblock", node.rpc("getblockhash", height), 0)
        mirror.chain.accept_block(Block.decode(bytes.fromhex(raw)))


# --- benchmarks ----------------------------------------------------------------------------------
def _prefill(net: Net, block) -> None:
    """Give node 0 the block's transactions (one JSON-RPC batch) and wait until every node's
    mempool holds them: the block then finds its transactions known everywhere."""
    body = [{"jsonrpc": "2.0", "id": j, "method": "sendrawtransaction", "params": [tx.raw.hex()]}
            for j, tx in enumerate(block.transactions[1:])]  # fmt: skip
    node0 = net.nodes[0]
    _, _, raw = node0.http(json.dumps(body).encode(), {"Authorization": node0.auth_header()})
    assert all(r.get("error") is None for r in json.loads(raw))
    want = len(block.transactions) - 1
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if all(n.rpc("getmempoolinfo")["size"] >= want for n in net.nodes):
            return
        net.pump(50)
    raise TimeoutError("the transactions did not reach every mempool")


def _bytes_sent(net: Net) -> int:
    return sum(n.rpc("getnettotals")["totalbytessent"] for n in net.nodes)


def propagation(base: Path, topology: str, nodes: int, blocks: int, txs: int,
                seed: int = 1, prefill: bool = False) -> dict:  # fmt: skip
    rng = random.Random(seed)
    net = Net(base, hashtx=False)
    mirror = Mirror(base) if txs > 1 else None
    try:
        for i in range(nodes):
            net.start(f"n{i}", topology_args(net.nodes, i, topology, rng))
        if mirror is not None:
            mirror.fund(net.nodes[0])
        sync_blocks(net.nodes, timeout=120)
        net.warm_up()
        sync_blocks(net.nodes, timeout=60)
        prepared = []
        if mirror is not None:
            catch_up(mirror, net.nodes[0])
            print(f"  building {blocks} blocks of {txs} transfers...", flush=True)
            prepared = mirror.full_blocks(blocks, txs)
        times, sent, offsets = [], [], []
        for i in range(blocks):
            if mirror is not None:
                block = prepared[i]
                if prefill:
                    _prefill(net, block)
                before = _bytes_sent(net)
                assert net.nodes[0].rpc("submitblock", block.encode().hex()) is None
                block_hash = block.hash.hex()
            else:
                (block_hash,) = net.nodes[0].rpc("generatetoaddress", 1, miner_address())
            arrival = net.wait_block(block_hash)
            times.append(max(arrival) - arrival[0])
            offsets.append([a - arrival[0] for a in arrival])
            if mirror is not None:
                sent.append(_bytes_sent(net) - before)
        size = len(prepared[0].encode()) if prepared else None
        return {"bans": net.bans(), "topology": topology, "nodes": nodes, "blocks": blocks,
                "txs_per_block": txs, "mempools_prefilled": prefill,
                "block_bytes": size,
                "bytes_sent_per_block": statistics.median(sent) if sent else None,
                "median_ms": 1000 * statistics.median(times),
                "worst_ms": 1000 * max(times),
                "p90_ms": 1000 * sorted(times)[int(0.9 * len(times))],
                # where the time goes: each node's median arrival after the first's
                "per_node_median_ms": [round(1000 * statistics.median(o), 1)
                                       for o in zip(*offsets, strict=True)]}  # fmt: skip
    finally:
        if mirror is not None:
            mirror.close()
        net.stop()


def txrelay(base: Path, nodes: int = 4, count: int = 5000, poll: bool = False) -> dict:
    """``poll``: learn when each node holds them all from getmempoolinfo every 10 ms instead of
    from hashtx notifications, which cost every node a ZMQ message per transaction (the
    instrument's own share of the CPU, ~10 %: compare the two)."""
    net = Net(base, hashtx=not poll)
    mirror = Mirror(base)
    try:
        for i in range(nodes):
            net.start(f"n{i}", topology_args(net.nodes, i, "line", random.Random(0)))
        mirror.fund(net.nodes[0])
        sync_blocks(net.nodes, timeout=120)
        net.warm_up()
        keys, per = mirror.keys, -(-count // SENDERS)
        txs = [sign_transfer(keys[s], REGTEST.chain_id, keys[(s + 1) % SENDERS].account, 1, FEE, n)
               for n in range(per) for s in range(SENDERS)][:count]  # fmt: skip
        # The node's ZMQ subscriber may still be settling for hashtx: start counting from zero.
        for _ in range(20):
            net.pump(50)
        net.tx_counts = [0] * nodes
        cpu_before = [process_cpu_seconds(n.proc.pid) for n in net.nodes]
        threads_before = [thread_cpu_seconds(n.proc.pid) for n in net.nodes]
        started = time.perf_counter()
        for i in range(0, count, 500):
            body = [{"jsonrpc": "2.0", "id": j, "method": "sendrawtransaction",
                     "params": [tx.raw.hex()]}
                    for j, tx in enumerate(txs[i : i + 500])]  # fmt: skip
            status, _, raw = net.nodes[0].http(json.dumps(body).encode(),
                                               {"Authorization": net.nodes[0].auth_header()})
            replies = json.loads(raw)
            assert all(r.get("error") is None for r in replies), replies[:3]
            net.pump(0)
        injected = time.perf_counter() - started
        deadline = time.monotonic() + 120
        if poll:
            held: list[float | None] = [None] * nodes
            while None in held and time.monotonic() < deadline:
                for k, node in enumerate(net.nodes):
                    if held[k] is None and node.rpc("getmempoolinfo")["size"] >= count:
                        held[k] = time.perf_counter()
                time.sleep(0.01)
            net.tx_last = [t if t is not None else math.inf for t in held]
        while not poll and min(net.tx_counts) < count and time.monotonic() < deadline:
            net.pump(20)
        cpu = [process_cpu_seconds(n.proc.pid) - before
               for n, before in zip(net.nodes, cpu_before, strict=True)]  # fmt: skip
        threads = [{kind: round((seconds - before[kind]) / count * 1e6, 1)
                    for kind, seconds in thread_cpu_seconds(n.proc.pid).items()}
                   for n, before in zip(net.nodes, threads_before, strict=True)]  # fmt: skip
        sizes = [n.rpc("getmempoolinfo")["size"] for n in net.nodes]
        elapsed = max(net.tx_last) - started
        return {"bans": net.bans(), "nodes": nodes, "topology": "line", "transactions": count,
                "held_by": "getmempoolinfo polls" if poll else "hashtx notifications",
                "mempool_sizes": sizes, "injection_s": injected, "all_nodes_s": elapsed,
                "tx_per_s": count / elapsed,
                # When each node held the last transaction, after node 0 did: the line's tail.
                "last_arrival_after_node0_ms": [round((t - net.tx_last[0]) * 1e3, 1)
                                                for t in net.tx_last],  # fmt: skip
                # CPU of each node process per transaction (all threads, /proc): what the
                # relay costs, whatever else the machine runs.
                "node_cpu_us_per_tx": [round(c / count * 1e6, 1) for c in cpu],
                # The same by thread: where a relaying node's time goes.
                "node_cpu_us_per_tx_by_thread": threads}  # fmt: skip
    finally:
        mirror.close()
        net.stop()


def sync(base: Path, blocks: int = 2000, txs_blocks: int = 0, txs: int = 2000) -> dict:
    net = Net(base)
    mirror = Mirror(base) if txs_blocks else None
    try:
        n0 = net.start("n0", [])
        n1 = net.start("n1", [f"--connect={peer_address(n0)}"])
        if mirror is not None:
            mirror.fund(n0)
            print(f"  building {txs_blocks} blocks of {txs} transfers...", flush=True)
            for block in mirror.full_blocks(txs_blocks, txs):
                assert n0.rpc("submitblock", block.encode().hex()) is None
            blocks, total_txs = txs_blocks + SENDERS, txs_blocks * txs
        else:
            for _ in range(0, blocks, 500):
                n0.rpc("generatetoaddress", min(500, blocks - n0.rpc("getblockcount")),
                       miner_address(), timeout=300)  # fmt: skip
            total_txs = 0
        tip = sync_blocks([n0, n1], timeout=300)
        started = time.perf_counter()
        late = NodeProcess(base / "late", extra_args=(
            f"--addnode={peer_address(n0)}", f"--addnode={peer_address(n1)}",
            "--log-level=warning"))  # fmt: skip
        late.start()
        wait_until(lambda: late.rpc("getbestblockhash") == tip, 600, interval=0.05,
                   message="the late joiner to sync")  # fmt: skip
        elapsed = time.perf_counter() - started
        bans = len(late.rpc("listbanned")) + net.bans()
        late.stop()
        height = n0.rpc("getblockcount")
        result = {"bans": bans, "blocks": height, "seconds": elapsed,
                  "blocks_per_s": height / elapsed}  # fmt: skip
        if total_txs:
            result.update(transactions=total_txs, tx_per_s=total_txs / elapsed)
        return result
    finally:
        if mirror is not None:
            mirror.close()
        net.stop()


def sync_million(base: Path, reference: bool = True) -> dict:
    """The million-transfer sync between two node processes: a source node serves a copy of the
    sync bench's chain (bench/out/sync-source-v2, built once by connect_setup.py), a fresh node
    ``--connect``ed to it downloads and validates all of it. Timed from the fresh node's start
    (process launch included) to its tip matching the source's.

    With ``reference``, the same chain is then synced in-process (`accept_blocks` over the raw
    blocks, as bench/test_bench_sync.py does), and the ratio of the two is reported: on a
    machine shared with other work, a reference measured in the same minutes."""
    result = network_sync_million(base)
    if reference:
        result["in_process_tx_per_s"] = in_process_sync(base / "reference")
        result["network_vs_in_process"] = round(
            result["tx_per_s"] / result["in_process_tx_per_s"], 3)  # fmt: skip
    return result


def network_sync_million(base: Path) -> dict:
    sys.path.insert(0, str(REPO / "bench"))
    from connect_setup import SYNC_BLOCK_TXS, SYNC_BLOCKS, ensure_sync_source

    print("  sync source (built the first time: ~1 min)...", flush=True)
    template = ensure_sync_source()
    source = NodeProcess(base / "source", extra_args=("--log-level=warning",))
    shutil.copytree(template, source.datadir)
    fresh = None
    try:
        source.start(timeout=120)
        tip, height = source.rpc("getbestblockhash"), source.rpc("getblockcount")
        address = peer_address(source)
        load = os.getloadavg()[0]
        source_cpu = process_cpu_seconds(source.proc.pid)
        fresh = NodeProcess(base / "fresh", extra_args=(
            f"--connect={address}", "--log-level=warning"))  # fmt: skip
        started = time.perf_counter()
        fresh.start(wait=False)
        fresh.wait_ready(120)
        ready = time.perf_counter() - started
        wait_until(lambda: fresh.rpc("getbestblockhash") == tip, 900, interval=0.1,
                   message="the fresh node to sync the million transfers")  # fmt: skip
        elapsed = time.perf_counter() - started
        cpu = {"fresh": process_cpu_seconds(fresh.proc.pid),
               "source": process_cpu_seconds(source.proc.pid) - source_cpu}
        peak_rss = peak_rss_mib(fresh.proc.pid)
        received = fresh.rpc("getnettotals")["totalbytesrecv"]
        sent = source.rpc("getnettotals")["totalbytessent"]
        bans = len(fresh.rpc("listbanned")) + len(source.rpc("listbanned"))
        transfers = SYNC_BLOCKS * SYNC_BLOCK_TXS
        return {"bans": bans, "blocks": height, "transactions": transfers, "seconds": elapsed,
                "tx_per_s": transfers / elapsed, "blocks_per_s": height / elapsed,
                "startup_s": ready,  # launch to the fresh node's RPC answering (inside seconds)
                "cpu_s": {k: round(v, 1) for k, v in cpu.items()},  # all threads, /proc
                "fresh_peak_rss_mib": peak_rss,
                "bytes_received_fresh": received, "bytes_sent_source": sent,
                "load_average_before": load}  # fmt: skip
    finally:
        if fresh is not None:
            fresh.stop()
        source.stop()


def in_process_sync(datadir: Path) -> float:
    """Transfers per second of the sync chain through a fresh ChainState in this process."""
    from connect_setup import SYNC_BLOCK_TXS, SYNC_BLOCKS, sync_blocks

    from coinium.chain.chainstate import AcceptStatus
    from coinium.chain.sigcache import SignatureCache
    from coinium.core.block import Block

    raws = sync_blocks()
    with ChainState(datadir, REGTEST) as chain:
        chain.signature_filter = SignatureCache().contains  # as the node wires it
        started = time.perf_counter()
        results = chain.accept_blocks(Block.decode(raw) for raw in raws)
        elapsed = time.perf_counter() - started
    assert all(r.status == AcceptStatus.NEW_TIP for r in results)
    return SYNC_BLOCKS * SYNC_BLOCK_TXS / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["propagation", "txrelay", "sync", "all"])
    parser.add_argument("--topology", choices=["line", "random"], default="line")
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--blocks", type=int, default=50)
    parser.add_argument("--txs", type=int, default=1)
    parser.add_argument("--txs-blocks", type=int, default=0)
    parser.add_argument("--poll", action="store_true",
                        help="txrelay: poll getmempoolinfo instead of counting hashtx")
    parser.add_argument("--million", action="store_true",
                        help="sync: the million-transfer chain (500 blocks of 2,000) instead")
    parser.add_argument("--no-reference", action="store_true",
                        help="sync --million: skip the in-process sync of the same chain")
    parser.add_argument("--prefill", action="store_true",
                        help="propagation: the block's transactions reach every mempool first")
    parser.add_argument("--out", default=str(REPO / "bench" / "out" / "p2p.json"))
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="coinium-p2p-bench-"))
    results = []
    try:
        runs = []
        if args.what in ("propagation", "all"):
            shapes = [(args.topology, args.txs)] if args.what == "propagation" else \
                [(t, n) for t in ("line", "random") for n in (1, 2000)]  # fmt: skip
            runs += [("propagation", lambda t=t, n=n, i=i: propagation(
                base / f"prop{i}", t, args.nodes, args.blocks, n, prefill=args.prefill))
                for i, (t, n) in enumerate(shapes)]  # fmt: skip
        if args.what in ("txrelay", "all"):
            count = args.txs if args.what == "txrelay" and args.txs > 1 else 5000
            runs.append(("txrelay", lambda: txrelay(base / "txrelay", count=count,
                                                    poll=args.poll)))
        if args.what == "sync" and args.million:
            runs.append(("sync-million", lambda: sync_million(
                base / "million", reference=not args.no_reference)))
        elif args.what in ("sync", "all"):
            runs.append(("sync", lambda: sync(base / "sync", args.blocks if args.what == "sync"
                                               and args.blocks != 50 else 2000, args.txs_blocks)))
            if args.what == "all":
                runs.append(("sync", lambda: sync(base / "synctx", txs_blocks=50)))
        for name, run in runs:
            print(f"{name}...", flush=True)
            result = {"bench": name, **run()}
            print("  " + json.dumps(result), flush=True)
            results.append(result)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(out.read_text()) if out.exists() and args.what != "all" else []
    out.write_text(json.dumps(previous + results, indent=2) + "\n")


if __name__ == "__main__":
    main()
