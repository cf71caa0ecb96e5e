"""Admitting 50,000 transfers submitted over JSON-RPC batches, python vs cython kernels.

    PYTHONPATH=. python -m pytest bench/test_bench_mempool.py -s

One run measures both backends: each starts its own regtest node process (``coinium node``,
``COINIUM_KERNELS`` set for it), funds 2,500 senders (one block to a rich key, then one block of
2,500 transfers from it, sent as one RPC batch and mined with generatetoaddress), and then
receives 50,000 signed transfers (20 nonces per sender, interleaved: every sender's nonce 0,
then every nonce 1, ...) as 50 JSON-RPC 2.0 batches of 1,000 ``sendrawtransaction`` calls over
one keep-alive HTTP connection. The transactions are signed and the request bodies built before
the clock starts; the clock covers sending every batch and reading every reply, so it includes
the HTTP and JSON work on both ends. Every reply must be the txid, and getmempoolinfo must count
50,000 at the end. The client shares the machine's cores with the node, as a local wallet or
exchange back end would. Besides tx/s, the node's CPU time (all threads, from /proc) per admitted
transaction is printed (and its event loop thread's share): it does not depend on what else the
machine runs.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import statistics
import sys
import time
from pathlib import Path

import pytest

from coinium.core.params import REGTEST
from coinium.core.transaction import Transaction, sign_transfer
from coinium.crypto.address import encode_address
from coinium.crypto.hashes import blake3_256
from coinium.crypto.keys import PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "functional"))
from nodeproc import NodeProcess  # noqa: E402

N_SENDERS = 2_500
NONCES = 20
N_TXS = N_SENDERS * NONCES  # 50,000
BATCH = 1_000
AMOUNT, FEE = 1_000, 1_000  # units; a 144-byte transfer at 6,944 units/kB, above the floor
SENDER_FUNDS = NONCES * (AMOUNT + FEE)
FUNDING_FEE = 1_000
BACKENDS = ("python", "cython")
TARGET_TX_S = 30_000  # issue 18's target, with the cython kernels (an earlier issue asked 10,000)

RICH = PrivateKey(blake3_256(b"bench mempool rich"))
MINER = PrivateKey(blake3_256(b"bench mempool miner"))


def sender_keys() -> list[PrivateKey]:
    return [PrivateKey(blake3_256(b"bench mempool sender %d" % i)) for i in range(N_SENDERS)]


def funding_txs(senders: list[PrivateKey]) -> list[Transaction]:
    return [sign_transfer(RICH, REGTEST.chain_id, key.account, SENDER_FUNDS, FUNDING_FEE, i)
            for i, key in enumerate(senders)]  # fmt: skip


def transfer_txs(senders: list[PrivateKey]) -> list[Transaction]:
    """Sender i pays sender i+1, nonces 0..NONCES-1, interleaved across senders."""
    return [sign_transfer(key, REGTEST.chain_id, senders[(i + 1) % N_SENDERS].account, AMOUNT,
                          FEE, nonce)
            for nonce in range(NONCES) for i, key in enumerate(senders)]  # fmt: skip


def batch_bodies(txs: list[Transaction], size: int = BATCH) -> list[bytes]:
    bodies = []
    for start in range(0, len(txs), size):
        body = [{"jsonrpc": "2.0", "id": start + i, "method": "sendrawtransaction",
                 "params": [tx.raw.hex()]} for i, tx in enumerate(txs[start:start + size])]
        bodies.append(json.dumps(body).encode())
    return bodies


class Client:
    """One keep-alive HTTP connection to the node's JSON-RPC port."""

    def __init__(self, node: NodeProcess):
        self.conn = http.client.HTTPConnection("127.0.0.1", node.rpc_port, timeout=300)
        cookie = node.cookie_path.read_bytes().strip()
        self.headers = {"Content-Type": "application/json",
                        "Authorization": "Basic " + base64.b64encode(cookie).decode()}

    def post(self, body: bytes) -> object:
        self.conn.request("POST", "/", body, self.headers)
        response = self.conn.getresponse()
        data = response.read()
        assert response.status == 200, (response.status, data[:300])
        return json.loads(data)

    def call(self, method: str, *params: object) -> object:
        reply = self.post(json.dumps({"jsonrpc": "2.0", "id": 0, "method": method,
                                      "params": list(params)}).encode())  # fmt: skip
        assert isinstance(reply, dict) and "error" not in reply, reply
        return reply["result"]

    def close(self) -> None:
        self.conn.close()


def check_batch(replies: object, txs: list[Transaction]) -> None:
    assert isinstance(replies, list) and len(replies) == len(txs)
    by_id = {r["id"]: r for r in replies}
    for reply in by_id.values():
        assert "error" not in reply, reply


def process_cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU time of a process, all its threads, or of one thread (Linux /proc)."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_backend(backend: str, base: Path, funding: list[Transaction],
                transfers: list[Transaction], bodies: list[bytes]) -> dict:  # fmt: skip
    node = NodeProcess(base / backend, "regtest", ("--no-persistmempool",),
                       env={"COINIUM_KERNELS": backend})  # fmt: skip
    node.start(timeout=120)
    client = Client(node)
    try:
        address = encode_address(REGTEST.address_prefix, RICH.account)
        client.call("generatetoaddress", 1, address)
        for body in batch_bodies(funding, len(funding)):
            check_batch(client.post(body), funding)
        client.call("generatetoaddress", 1, encode_address(REGTEST.address_prefix,
                                                           MINER.account))  # fmt: skip
        assert client.call("getmempoolinfo")["size"] == 0

        latencies = []
        cpu_before = process_cpu_seconds(node.proc.pid)
        loop_before = process_cpu_seconds(node.proc.pid, node.proc.pid)  # the main thread's
        start = time.perf_counter()
        for i, body in enumerate(bodies):
            sent = time.perf_counter()
            replies = client.post(body)
            latencies.append(time.perf_counter() - sent)
            check_batch(replies, transfers[i * BATCH:(i + 1) * BATCH])
        elapsed = time.perf_counter() - start
        node_cpu = process_cpu_seconds(node.proc.pid) - cpu_before
        loop_cpu = process_cpu_seconds(node.proc.pid, node.proc.pid) - loop_before
        info = client.call("getmempoolinfo")
        assert info["size"] == N_TXS, info
        return {"backend": backend, "seconds": elapsed, "tx_s": N_TXS / elapsed,
                "batch_ms_median": statistics.median(latencies) * 1e3,
                "node_cpu_us_per_tx": node_cpu / N_TXS * 1e6,
                "event_loop_cpu_us_per_tx": loop_cpu / N_TXS * 1e6, "mempool_bytes": info["bytes"]}
    finally:
        client.close()
        node.stop()


@pytest.mark.slow
def test_admit_50000_transfers_over_rpc_batches(tmp_path: Path) -> None:
    senders = sender_keys()
    started = time.perf_counter()
    funding = funding_txs(senders)
    transfers = transfer_txs(senders)
    bodies = batch_bodies(transfers)
    setup_s = time.perf_counter() - started
    results = [run_backend(b, tmp_path, funding, transfers, bodies) for b in BACKENDS]
    print(f"\n{N_TXS:,} transfers from {N_SENDERS:,} senders, JSON-RPC batches of {BATCH:,} "
          f"sendrawtransaction ({os.cpu_count()} cores; signing and request building took "
          f"{setup_s:.1f} s, untimed)")  # fmt: skip
    print(f"{'kernels':<8} {'tx/s':>9} {'seconds':>8} {'batch ms (median)':>18} "
          f"{'node CPU us/tx':>15} {'of it event loop':>17}")
    for r in results:
        print(f"{r['backend']:<8} {r['tx_s']:>9,.0f} {r['seconds']:>8.2f} "
              f"{r['batch_ms_median']:>18.1f} {r['node_cpu_us_per_tx']:>15.1f} "
              f"{r['event_loop_cpu_us_per_tx']:>17.1f}")  # fmt: skip
    print(f"load average at the end: {' '.join(Path('/proc/loadavg').read_text().split()[:3])} "
          "(other work on the machine slows every figure but the CPU per transaction)")
    cython = next(r for r in results if r["backend"] == "cython")
    status = "met" if cython["tx_s"] >= TARGET_TX_S else "MISSED"
    print(f"target {TARGET_TX_S:,} tx/s with cython kernels: {status}")
