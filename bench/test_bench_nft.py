"""NFTs: listnfts of one owner after many mints, and connecting a block of 5,000 NFT transfers
against a block of 5,000 plain transfers, python vs cython kernels in one run.

    PYTHONPATH=. python -m pytest bench/test_bench_nft.py -s           # NFT_BENCH_MINTS=100000

Each backend runs in its own process (``COINIUM_KERNELS``) on a fresh regtest datadir:
* one owner gets NFT_BENCH_MINTS tokens (blocks of 5,000 signed mints, connected through the
  chain as a peer's would be); then the RPC's page of 1,000 (`nft_queries.tokens_of_owner` and
  the RPC's JSON shaping) is timed 50 times: the median (target < 10 ms);
* a block of 5,000 NFT transfers (one sender, nonces in order) and a block of 5,000 plain
  transfers from the same kind of sender are connected (`accept_block`, signatures included),
  each on a copy of the same state; the ratio of their rates (target: NFT >= 0.5x plain).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BLOCK = 5_000


def worker(backend: str, mints: int) -> dict:
    sys.path.insert(0, str(HERE.parent / "tests"))
    from nft_helpers import Wallet

    from coinium import kernels
    from coinium.chain import nft_queries
    from coinium.chain.builder import build_block, mine
    from coinium.chain.chainstate import AcceptStatus, ChainState
    from coinium.core.params import REGTEST
    from coinium.core.transaction import sign_transfer
    from coinium.rpc.methods.nft import token_json

    assert kernels.BACKEND == backend, kernels.BACKEND
    owner, sender, plain = Wallet(31, fee=0), Wallet(32, fee=0), Wallet(33, fee=0)
    with tempfile.TemporaryDirectory() as tmp:
        chain = ChainState(f"{tmp}/d", REGTEST, sync=False) if _has_sync() else \
            ChainState(f"{tmp}/d", REGTEST)

        def connect(txs, miner=bytes(20)) -> float:
            block = mine(build_block(chain, txs, miner))
            start = time.perf_counter()
            result = chain.accept_block(block)
            elapsed = time.perf_counter() - start
            assert result.status == AcceptStatus.NEW_TIP, result
            return elapsed

        connect([], sender.account)
        connect([], plain.account)
        connect([owner.create_class()], owner.account)
        done = 0
        while done < mints:
            count = min(BLOCK, mints - done)
            connect([owner.mint(f"t{done + i:07d}".encode()) for i in range(count)])
            done += count
        times = []
        for _ in range(50):
            start = time.perf_counter()
            shown: dict = {}
            page = [token_json(t, REGTEST, shown)
                    for t in nft_queries.tokens_of_owner(chain, owner.account, limit=1000)]
            times.append(time.perf_counter() - start)
            assert len(page) == 1000
        listing_ms = statistics.median(times) * 1000

        # Give the NFT sender 5,000 tokens, then time its 5,000 transfers against 5,000 plain
        # transfers of the plain sender.
        connect([owner.transfer(f"t{i:07d}".encode(), sender.account) for i in range(BLOCK)])
        nft_block = [sender.transfer(f"t{i:07d}".encode(), owner.account) for i in range(BLOCK)]
        plain_block = [sign_transfer(plain.key, REGTEST.chain_id, bytes([i % 250 + 1]) * 20, 1,
                                     0, i) for i in range(BLOCK)]  # fmt: skip
        plain_s = connect(plain_block)
        nft_s = connect(nft_block)
        chain.close()
    return {"backend": backend, "mints": mints, "listnfts_page_ms": listing_ms,
            "plain_tx_per_s": BLOCK / plain_s, "nft_tx_per_s": BLOCK / nft_s,
            "nft_vs_plain": plain_s / nft_s}  # fmt: skip


def _has_sync() -> bool:
    import inspect

    from coinium.chain.chainstate import ChainState

    return "sync" in inspect.signature(ChainState.__init__).parameters


def test_bench_nft():
    mints = int(os.environ.get("NFT_BENCH_MINTS", "100000"))
    results = []
    for backend in ("python", "cython"):
        out = subprocess.run([sys.executable, __file__, backend, str(mints)], check=True,
                             capture_output=True, text=True,
                             env={**os.environ, "COINIUM_KERNELS": backend,
                                  "PYTHONPATH": str(HERE.parent)})  # fmt: skip
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"\nNFT bench, {mints} mints to one owner; blocks of {BLOCK} transfers")
    for r in results:
        print(f"  {r['backend']:7s} listnfts page of 1000: {r['listnfts_page_ms']:.2f} ms median"
              f" (target < 10) | connect: plain {r['plain_tx_per_s']:,.0f} tx/s, NFT "
              f"{r['nft_tx_per_s']:,.0f} tx/s, NFT/plain {r['nft_vs_plain']:.2f}x (target >= 0.5)")
    py, cy = results
    print(f"  cython/python connect rate: plain {cy['plain_tx_per_s'] / py['plain_tx_per_s']:.2f}x,"
          f" NFT {cy['nft_tx_per_s'] / py['nft_tx_per_s']:.2f}x")
    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out" / "nft.json").write_text(json.dumps(results, indent=2))
    for r in results:
        assert r["nft_vs_plain"] > 0


if __name__ == "__main__":
    print(json.dumps(worker(sys.argv[1], int(sys.argv[2]))))
