"""Syncing a chain of 1,000,000 transfers (500 blocks of 2,000) into a fresh node, per backend.

    PYTHONPATH=. python -m pytest bench/test_bench_sync.py -s      # ~2 min; the first run also
                                                                    # builds the source (~1 min)

What is measured is the *sync pipeline, blocks handed in-process; network transfer not
included*: the source chain's blocks are read as raw bytes from a source datadir (built once and
kept under bench/out/, see connect_setup.py) before the clock starts; then a fresh node's
ChainState (sync=True, a signature cache wired as the node does, empty as on a new node) takes
them through ``accept_blocks(Block.decode(raw) for raw in blocks)``: decode, proof of work,
Merkle root, every signature (those of the next block checked in a worker thread while the
current block is applied), state transition and one fsynced LMDB transaction per block.

* cython, pipelined: the whole chain (target: >= 15,000 tx/s end to end);
* cython, pipelined vs one block at a time (``accept_block`` in a loop): the first 100 blocks;
* python backend, pipelined: the first 100 blocks (the whole chain takes over a minute more;
  set COINIUM_BENCH_SYNC_PYTHON_BLOCKS=all for it).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from connect_setup import SYNC_BLOCKS, sync_blocks

from coinium import kernels
from coinium.chain.chainstate import AcceptResult, AcceptStatus, ChainState
from coinium.chain.sigcache import SignatureCache
from coinium.core.block import Block
from coinium.core.params import REGTEST
from coinium.kernels import KernelBackendError, load_backend

TARGET_TX_S = 15_000
COMPARE_BLOCKS = 100
OUT = Path(__file__).resolve().parent / "out" / "sync.json"
_results: dict[str, dict] = {}


@pytest.fixture(scope="module")
def chain_blocks() -> list[bytes]:
    return sync_blocks()  # block 1 (coinbase only) then the 500 blocks of 2,000 transfers


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    if not _results:
        return
    print("\n\nsync pipeline, blocks handed in-process; network transfer not included:")
    for label, r in _results.items():
        print(f"  {label:<44} {r['tx_s']:>9,.0f} tx/s  ({r['transfers']:,} transfers in "
              f"{r['blocks']} blocks, {r['seconds']:.1f} s)")  # fmt: skip
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(_results, indent=2) + "\n")


def use_backend(monkeypatch, name: str) -> None:
    try:
        module = load_backend(name)
    except KernelBackendError as exc:
        pytest.skip(str(exc))
    monkeypatch.setattr(kernels, "verify_batch", module.verify_batch)
    monkeypatch.setattr(kernels, "merkle_root", module.merkle_root)
    monkeypatch.setattr(kernels, "BACKEND", module.NAME)


def pipelined(chain: ChainState, raws: list[bytes]) -> list[AcceptResult]:
    return chain.accept_blocks(Block.decode(raw) for raw in raws)


def one_by_one(chain: ChainState, raws: list[bytes]) -> list[AcceptResult]:
    return [chain.accept_block(Block.decode(raw)) for raw in raws]


def sync(workdir: Path, raws: list[bytes], how: Callable[[ChainState, list[bytes]], Iterable],
         label: str) -> float:  # fmt: skip
    """Sync ``raws`` into a fresh node; record and return transfers per second."""
    with ChainState(workdir / "node", REGTEST) as chain:
        cache = SignatureCache()
        chain.signature_filter = cache.contains  # as the node wires it (empty on a new node)
        start = time.perf_counter()
        results = list(how(chain, raws))
        elapsed = time.perf_counter() - start
        assert all(r.status == AcceptStatus.NEW_TIP for r in results), \
            next(r for r in results if r.status != AcceptStatus.NEW_TIP)
        assert chain.height == len(raws)
    transfers = sum(_transfers(raw) for raw in raws)
    _results[label] = {
        "backend": kernels.BACKEND, "blocks": len(raws), "transfers": transfers,
        "seconds": elapsed, "tx_s": transfers / elapsed,
    }  # fmt: skip
    return transfers / elapsed


def _transfers(raw: bytes) -> int:
    # the tx count after the 124-byte header, less the coinbase
    return int.from_bytes(raw[124:128], "little") - 1


def test_sync_cython_whole_chain(chain_blocks, monkeypatch, tmp_path: Path) -> None:
    use_backend(monkeypatch, "cython")
    assert len(chain_blocks) == SYNC_BLOCKS + 1
    sync(tmp_path, chain_blocks, pipelined, "cython, pipelined, whole chain")


@pytest.mark.parametrize("how", [pipelined, one_by_one], ids=["pipelined", "one-by-one"])
def test_sync_cython_first_blocks(chain_blocks, monkeypatch, tmp_path: Path, how) -> None:
    use_backend(monkeypatch, "cython")
    sync(tmp_path, chain_blocks[: COMPARE_BLOCKS + 1], how,
         f"cython, {how.__name__.replace('_', '-')}, first {COMPARE_BLOCKS} blocks")  # fmt: skip


def test_sync_python(chain_blocks, monkeypatch, tmp_path: Path) -> None:
    use_backend(monkeypatch, "python")
    wanted = os.environ.get("COINIUM_BENCH_SYNC_PYTHON_BLOCKS", str(COMPARE_BLOCKS))
    count = len(chain_blocks) - 1 if wanted == "all" else int(wanted)
    sync(tmp_path, chain_blocks[: count + 1], pipelined,
         f"python, pipelined, first {count} blocks")  # fmt: skip
