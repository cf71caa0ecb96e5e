"""Where a relaying node's event loop goes per transaction, without the sockets.

    PYTHONPATH=. python bench/relay_profile.py [--txs N] [--batch B] [--echo] [--gc-freeze]
                                               [--cprofile [--top N]]

Starts a real regtest `Node` in this process (tmp datadir, real LMDB, no listener) with two
peers of protocol 3 made by hand, as a node in the middle of a line has them: ``upstream`` sends
``N`` signed transfers as TXS frames of ``B`` (what the node before it relays), handed to
`Dispatcher.receive` as the reader task would; what the node relays to ``downstream`` is taken
off that peer's send queue as its sender task would. ``--echo`` also hands every frame the
downstream peer got back to the node from it, as a node used to get them (the XPUB carried a
batch back to its source): what such an echo costs. It prints the event loop thread's CPU per
transaction (`time.thread_time`), in phases: the frames' decode (`Dispatcher.receive`), the TXS
handler around the admission (dedupe, bookkeeping), the admission (`Mempool.add_batch`, the
signatures' wait included, their check on the worker thread not) and the relay's flush; and the
process CPU (all threads). ``--gc-freeze`` calls `gc.freeze()` once the node has started, to
show what the garbage collector's passes over the node's long-lived objects cost. It imports
`coinium` from the tree it sits in: to compare two trees, run each tree's copy.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import pstats
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for path in (REPO / "tests", REPO / "bench", REPO):
    sys.path.insert(0, str(path))

from phase_clock import PhaseClock  # noqa: E402
from test_bench_mempool import AMOUNT, FEE, FUNDING_FEE, MINER, RICH  # noqa: E402

from coinium.config import build_options  # noqa: E402
from coinium.core.params import REGTEST  # noqa: E402
from coinium.core.transaction import sign_transfer  # noqa: E402
from coinium.crypto.address import encode_address  # noqa: E402
from coinium.crypto.hashes import blake3_256  # noqa: E402
from coinium.crypto.keys import PrivateKey  # noqa: E402
from coinium.mempool.pool import Mempool  # noqa: E402
from coinium.node import Node  # noqa: E402
from coinium.p2p.dispatch import Dispatcher  # noqa: E402
from coinium.p2p.messages import (  # noqa: E402
    MsgType,
    Tip,
    TxMsg,
    TxsMsg,
    Version,
    decode,
    encode,
)
from coinium.p2p.peer import Peer, PeerState  # noqa: E402
from coinium.p2p.txbatch import TxBatcher  # noqa: E402
from coinium.p2p.txrelay import TxRelay  # noqa: E402
from coinium.rpc.server import RpcContext  # noqa: E402

NONCES = 20
PHASES = [  # (label, class, method): timed on the event loop's thread
    ("decoding frames (Dispatcher.receive)", Dispatcher, "receive"),
    ("the TXS handler, admission included", TxRelay, "_on_txs"),
    ("  the admission (Mempool.add_batch)", Mempool, "add_batch"),
    ("the relay's flush (TxBatcher.flush)", TxBatcher, "flush"),
]
CLOCK = PhaseClock()
_spent = CLOCK.spent


def time_phases() -> None:
    for label, cls, name in PHASES:
        setattr(cls, name, CLOCK.wrap(label, getattr(cls, name)))
    gc.callbacks.append(_time_collections)


_collection_started = [0.0]
_collections: dict[int, int] = {}  # generation -> passes
GC_LABEL = "  of all that, the garbage collector's passes"


def _time_collections(phase: str, info: dict) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    if phase == "start":
        _collection_started[0] = time.thread_time()
    else:
        CLOCK.add(GC_LABEL, time.thread_time() - _collection_started[0])
        _collections[info["generation"]] = _collections.get(info["generation"], 0) + 1


def hand_made_peer(node: Node, n: int) -> Peer:
    peer = Peer(1000 + n, inbound=True, key=bytes([n]) * 32)
    peer.state = PeerState.ACTIVE
    peer.version = Version(3, REGTEST.chain_id, REGTEST.genesis_hash, 1, int(time.time()), n,
                           Tip(0, bytes(32), 0), 0, 0, "", "/relay-profile/")  # fmt: skip
    node.p2p.peers[peer.id] = peer
    peer.tasks.append(asyncio.create_task(node.p2p.dispatch.worker(peer)))
    return peer


async def run(n_txs: int, batch: int, echo: bool, profile: bool, top: int,
              freeze: bool) -> None:  # fmt: skip
    senders = [PrivateKey(blake3_256(b"bench relay sender %d" % i))
               for i in range(n_txs // NONCES)]  # fmt: skip
    funding = [sign_transfer(RICH, REGTEST.chain_id, key.account, NONCES * (AMOUNT + FEE),
                             FUNDING_FEE, i) for i, key in enumerate(senders)]  # fmt: skip
    transfers = [sign_transfer(key, REGTEST.chain_id, senders[(i + 1) % len(senders)].account,
                               AMOUNT, FEE, nonce)
                 for nonce in range(NONCES) for i, key in enumerate(senders)]  # fmt: skip
    frames = [encode(TxsMsg(tuple(transfers[i : i + batch])))
              for i in range(0, len(transfers), batch)]  # fmt: skip
    datadir = Path(tempfile.mkdtemp(prefix="coinium-relay-profile-"))
    options = build_options(network="regtest", datadir=datadir, flags={
        "rpc_port": 0, "p2p_port": 0, "print_to_console": False, "mine": False,
        "listen": False, "persistmempool": False})  # fmt: skip
    node = Node(options)
    await node.start()
    try:
        await _generate(node, RICH)
        for start in range(0, len(funding), 1000):
            await node.p2p.txs.accept_batch(funding[start : start + 1000], None)
        await _generate(node, MINER)
        assert len(node.mempool) == 0
        upstream, downstream = hand_made_peer(node, 1), hand_made_peer(node, 2)
        if freeze:
            gc.freeze()  # what the node holds from its start: out of every later pass
        profiler = cProfile.Profile() if profile else None
        _spent.clear()
        _collections.clear()
        relayed = 0
        thread_cpu, cpu, wall = time.thread_time(), time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        for frame in frames:
            node.p2p.dispatch.receive(upstream, frame, "request")
        while relayed < len(transfers):
            await asyncio.sleep(0.001)
            while (out := downstream.queue.pop_nowait()) is not None:
                if out[0] != MsgType.TXS:
                    continue  # a ping, say
                relayed += int.from_bytes(out[1:3], "little")
                if echo:
                    node.p2p.dispatch.receive(downstream, out, "gossip")
        while upstream.inbox.qsize() or downstream.inbox.qsize():
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.01)  # the last echo's handler
        if profiler is not None:
            profiler.disable()
        wall = time.perf_counter() - wall
        cpu = time.process_time() - cpu
        thread_cpu = time.thread_time() - thread_cpu
        assert len(node.mempool) == len(transfers), len(node.mempool)
        back = [decode(f) for f in iter(upstream.queue.pop_nowait, None)]
        assert not [m for m in back if isinstance(m, (TxMsg, TxsMsg))], "sent back to its source"
        per = 1e6 / len(transfers)
        print(f"{len(transfers):,} transfers in TXS frames of {batch} through a relaying node"
              f"{' (downstream echoes each frame)' if echo else ''}: {len(transfers) / wall:,.0f}"
              f" tx/s, {cpu * per:.1f} us process CPU per transaction"
              f"{' (under cProfile)' if profile else ''}")  # fmt: skip
        print(f"{'event loop thread, all of it':<50} {thread_cpu * per:6.1f} us per transaction")
        for label, spent in _spent.items():
            print(f"{label:<50} {spent * per:6.1f}")
        rest = thread_cpu - sum(v for k, v in _spent.items() if not k.startswith(" "))
        print(f"{'the rest (the event loop, the bench)':<50} {rest * per:6.1f}")
        if _collections:
            print("garbage collector passes by generation:", dict(sorted(_collections.items())))
        if profiler is not None:
            out_text = io.StringIO()
            pstats.Stats(profiler, stream=out_text).sort_stats("tottime").print_stats(top)
            print(out_text.getvalue())
    finally:
        await node.shutdown()


async def _generate(node: Node, key: PrivateKey) -> None:
    address = encode_address(REGTEST.address_prefix, key.account)
    body = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "generatetoaddress",
                       "params": [1, address]})  # fmt: skip
    status, reply = await node.rpc.process(body.encode(), RpcContext(node, node.rpc, "bench"))
    assert status == 200 and "error" not in reply, reply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--txs", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--echo", action="store_true")
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() once the node has started (what it would save)")
    args = parser.parse_args()
    if not args.cprofile:
        time_phases()
    asyncio.run(run(args.txs, args.batch, args.echo, args.cprofile, args.top, args.gc_freeze))


if __name__ == "__main__":
    main()
