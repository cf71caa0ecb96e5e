"""Where a node's time goes when it admits transfers from JSON-RPC batches, or from P2P.

    PYTHONPATH=. python bench/profile_admission.py [--txs N] [--p2p] [--phases] [--gc-node]
                                                   [--cprofile [--top N] [--callers NAME ...]]

Starts a real regtest `Node` in this process (tmp datadir, real LMDB, no P2P listener), funds
``N/20`` senders, then hands it ``N`` signed transfers (20 nonces per sender, interleaved) as
JSON-RPC 2.0 batches of 1,000 ``sendrawtransaction`` calls through `RpcServer.process` (the
request body as the HTTP layer passes it, without the socket; the replies written to bytes as
the HTTP layer writes them), and prints the node's time per
transaction; ``--p2p`` admits the same transfers as P2P transaction batches would
(`TxRelay.accept_batch`). --phases prints the event loop thread's CPU time per transaction in
the admission's phases (`time.thread_time` around the functions that do them: no profiler, so
the figures are those of a normal run). --cprofile adds cProfile's top functions by own time (the
profiler slows Python-level code several times over: use it for where, not how much).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from phase_clock import PhaseClock  # noqa: E402
from test_bench_mempool import (  # noqa: E402
    AMOUNT,
    FEE,
    FUNDING_FEE,
    MINER,
    RICH,
    batch_bodies,
)

from coinium.chain.gc_pause import settle_for_node  # noqa: E402
from coinium.config import build_options  # noqa: E402
from coinium.core.params import REGTEST  # noqa: E402
from coinium.core.transaction import sign_transfer  # noqa: E402
from coinium.crypto.address import encode_address  # noqa: E402
from coinium.crypto.hashes import blake3_256  # noqa: E402
from coinium.crypto.keys import PrivateKey  # noqa: E402
from coinium.node import Node  # noqa: E402
from coinium.rpc.encoding import dumps_bytes  # noqa: E402
from coinium.rpc.server import RpcContext  # noqa: E402

NONCES = 20
# (label, class, functions of it): the phases --phases times on the event loop's thread (the
# first name the tree has: `preverify` before issue 18, so the same file measures both). What
# the top-level ones leave of the thread's time is the RPC machinery's (parsing the body, the
# calls' framing and parameters, the handlers' own steps, the replies) and the event loop's.
PHASES = [
    ("Mempool.add", "Mempool", ("add",)),
    ("  _check: the rules and the signature's verdict", "Mempool", ("_check",)),
    ("  _admit: insert, events", "Mempool", ("_admit",)),
    ("queueing the signatures (signing hashes)", "Mempool", ("queue_signatures", "preverify")),
    ("decoding the transactions (Transaction.decode)", "Transaction", ("decode",)),
]
CLOCK = PhaseClock()
_spent = CLOCK.spent


def time_phases() -> None:
    from coinium.core.transaction import Transaction
    from coinium.mempool.pool import Mempool

    classes = {"Mempool": Mempool, "Transaction": Transaction}
    for label, owner, names in PHASES:
        cls = classes[owner]
        name = next(n for n in names if hasattr(cls, n))
        setattr(cls, name, CLOCK.wrap(label, getattr(cls, name)))


async def _call(node: Node, method: str, *params: object) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 0, "method": method, "params": list(params)})
    status, reply = await node.rpc.process(body.encode(), RpcContext(node, node.rpc, "bench"))
    assert status == 200 and "error" not in reply, reply
    return reply["result"]


async def run(n_txs: int, profile: bool, top: int, p2p: bool, callers: list[str],
              gc_node: bool = False) -> None:
    senders = [PrivateKey(blake3_256(b"bench mempool sender %d" % i))
               for i in range(n_txs // NONCES)]  # fmt: skip
    funding = [sign_transfer(RICH, REGTEST.chain_id, key.account, NONCES * (AMOUNT + FEE),
                             FUNDING_FEE, i) for i, key in enumerate(senders)]  # fmt: skip
    transfers = [sign_transfer(key, REGTEST.chain_id, senders[(i + 1) % len(senders)].account,
                               AMOUNT, FEE, nonce)
                 for nonce in range(NONCES) for i, key in enumerate(senders)]  # fmt: skip
    bodies = batch_bodies(transfers)
    datadir = Path(tempfile.mkdtemp(prefix="coinium-profile-admission-"))
    options = build_options(network="regtest", datadir=datadir, flags={
        "rpc_port": 0, "p2p_port": 0, "print_to_console": False, "mine": False,
        "listen": False, "persistmempool": False})  # fmt: skip
    node = Node(options)
    await node.start()
    if gc_node:
        settle_for_node()  # what `coinium node` does once started (Node.run)
    try:
        await _call(node, "generatetoaddress", 1, encode_address(REGTEST.address_prefix,
                                                                 RICH.account))  # fmt: skip
        for body in batch_bodies(funding, len(funding)):
            await node.rpc.process(body, RpcContext(node, node.rpc, "bench"))
        await _call(node, "generatetoaddress", 1, encode_address(REGTEST.address_prefix,
                                                                 MINER.account))  # fmt: skip
        assert len(node.mempool) == 0
        profiler = cProfile.Profile() if profile else None
        reply_bytes = 0
        _spent.clear()
        thread_cpu = time.thread_time()
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        if p2p:
            for start in range(0, len(transfers), 1000):
                await node.p2p.txs.accept_batch(transfers[start:start + 1000], None)
        else:
            for body in bodies:
                status, replies = await node.rpc.process(body, RpcContext(node, node.rpc,
                                                                          "bench"))  # fmt: skip
                reply_bytes += len(dumps_bytes(replies))  # the reply body, as the HTTP layer
                assert status == 200 and all("error" not in r for r in replies), replies[:2]
        if profiler is not None:
            profiler.disable()
        wall = time.perf_counter() - wall
        cpu = time.process_time() - cpu
        thread_cpu = time.thread_time() - thread_cpu
        assert len(node.mempool) == len(transfers), len(node.mempool)
        path = "P2P batches" if p2p else "JSON-RPC batches of 1,000"
        print(f"{len(transfers):,} transfers over {path}: {len(transfers) / wall:,.0f} tx/s, "
              f"{wall / len(transfers) * 1e6:.1f} us wall and {cpu / len(transfers) * 1e6:.1f} us "
              f"process CPU per transaction{' (under cProfile)' if profile else ''}; "
              f"{thread_cpu / len(transfers) * 1e6:.1f} us CPU of the event loop's thread")
        if _spent:
            print(f"{'event loop thread, all of it':<50} {thread_cpu / len(transfers) * 1e6:6.1f} "
                  "us CPU per transaction")  # fmt: skip
            for label, spent in _spent.items():
                print(f"{label:<50} {spent / len(transfers) * 1e6:6.1f}")
            rest = thread_cpu - sum(v for k, v in _spent.items() if not k.startswith(" "))
            print(f"{'the rest: RPC machinery and the event loop':<50} "
                  f"{rest / len(transfers) * 1e6:6.1f}")  # fmt: skip
        if profiler is not None:
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out).sort_stats("tottime")
            stats.print_stats(top)
            if callers:
                for name in callers:
                    stats.print_callers(name)
            print(out.getvalue())
    finally:
        await node.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--txs", type=int, default=20_000)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--p2p", action="store_true")
    parser.add_argument("--phases", action="store_true")
    parser.add_argument("--gc-node", action="store_true",
                        help="set the garbage collector as a node process does (Node.run)")
    parser.add_argument("--callers", nargs="*", default=[], help="print who calls these")
    args = parser.parse_args()
    if args.phases:
        time_phases()
    asyncio.run(run(args.txs, args.cprofile, args.top, args.p2p, args.callers, args.gc_node))


if __name__ == "__main__":
    main()
