"""Connecting a regtest block of 5,000 transfers from 5,000 distinct senders.

    COINIUM_KERNELS=cython PYTHONPATH=. python -m pytest bench/test_bench_connect.py \
        --benchmark-enable -s
    COINIUM_KERNELS=python PYTHONPATH=. python -m pytest bench/test_bench_connect.py \
        --benchmark-enable -s

The kernel backend is fixed at import, so one run measures one backend: run once per backend.
Each round connects the same block onto a fresh copy of the funded datadir (copied and opened in
the untimed setup), through ChainState.accept_block with sync=True (the node's default): proof
of work, Merkle root, 5,000 signature checks, state transition and one fsynced LMDB transaction.
`bench/profile_connect.py` shows where the time goes.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from connect_setup import N_TRANSFERS, build_datadir, decode, fresh_copy

from coinium import kernels
from coinium.chain.chainstate import AcceptStatus, ChainState
from coinium.core.block import Block
from coinium.core.params import REGTEST

ROUNDS = 5


@pytest.fixture(scope="module")
def funded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    template = tmp_path_factory.mktemp("connect") / "template"
    raw = build_datadir(template)
    return template, raw


def run_rounds(benchmark, template: Path, work: Path, target: Callable[[ChainState], object],
               label: str) -> None:  # fmt: skip
    """Time ``target(chain)`` on a fresh chain per round; print tx/s from our own clock so the
    line is there even when pytest-benchmark is disabled (the project default)."""
    opened: list[ChainState] = []
    durations: list[float] = []

    def setup() -> tuple[tuple[ChainState], dict]:
        for chain in opened:
            chain.close()
        opened.clear()
        chain = ChainState(fresh_copy(template, work / "round"), REGTEST)
        opened.append(chain)
        return (chain,), {}

    def timed(chain: ChainState) -> None:
        start = time.perf_counter()
        target(chain)
        durations.append(time.perf_counter() - start)

    try:
        benchmark.pedantic(timed, setup=setup, rounds=ROUNDS, iterations=1)
    finally:
        for chain in opened:
            chain.close()
    best, median = min(durations), statistics.median(durations)
    print(
        f"\n{label} {N_TRANSFERS}-transfer block: {N_TRANSFERS / median:,.0f} tx/s median, "
        f"{N_TRANSFERS / best:,.0f} tx/s best ({median * 1e3:.1f} ms median over "
        f"{len(durations)} rounds; backend {kernels.BACKEND})"
    )


def test_connect_5000_transfer_block(benchmark, funded, tmp_path: Path) -> None:
    template, raw = funded
    block = decode(raw)  # decoded once, outside the timing: accept_block alone is measured

    def connect(chain: ChainState) -> None:
        result = chain.accept_block(block)
        assert result.status == AcceptStatus.NEW_TIP, result

    run_rounds(benchmark, template, tmp_path, connect, "connect")


def test_decode_and_connect_5000_transfer_block(benchmark, funded, tmp_path: Path) -> None:
    """What a node does with a block from the wire: decode (txids hashed) and connect."""
    template, raw = funded

    def decode_and_connect(chain: ChainState) -> None:
        result = chain.accept_block(Block.decode(raw))
        assert result.status == AcceptStatus.NEW_TIP, result

    run_rounds(benchmark, template, tmp_path, decode_and_connect, "decode+connect")
