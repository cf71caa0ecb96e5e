"""Connecting a regtest block of 10,000 transfers from 10,000 distinct senders, per kernel backend.

    PYTHONPATH=. python -m pytest bench/test_bench_connect.py -s            # ~30 s

The backends (cython, python, and "before": cython with the signature kernel it had before true
batch verification, libsodium's single check in C threads) run in the same session: each test
swaps the kernels that the rules call (`coinium.kernels.verify_batch` and `merkle_root`) for the
named backend's. Each round
connects the same block onto a fresh copy of the funded datadir (copied and opened in the untimed
setup), through ChainState.accept_block with sync=True (the node's default): proof of work,
Merkle root, signature checks, state transition and one fsynced LMDB transaction.

* cold: no signature is cached, all 10,000 are checked (one kernel batch, every core);
* warm: every transfer is in the signature cache (as after mempool admission), none is checked;
* decode+cold: the block arrives as bytes and is decoded (txids hashed) inside the timing.

The state root is part of every connect (DESIGN.md's tree, updated in the block's transaction):
each line also gives the root update's share of the connect time, measured by timing the three
calls that make it (record paths and value hashes, `StateTree.apply`, `StateTree.root`), and the
backend swap covers the tree's node hashing kernel (`keyed_hash64`) too.

Targets (2 cores, cython): cold >= 20,000 tx/s, warm >= 60,000 tx/s, cold >= 1.8x "before". The
lines printed at the end (and bench/out/connect.json) give median and best rates;
`bench/profile_connect.py` shows where the time goes.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from connect_setup import N_TRANSFERS, build_datadir, decode, fresh_copy, warm_cache

from coinium import kernels
from coinium.chain import connect as connect_module
from coinium.chain.chainstate import AcceptStatus, ChainState
from coinium.core.block import Block
from coinium.core.params import REGTEST
from coinium.kernels import KernelBackendError, _sodium_entry, load_backend
from coinium.kernels._args import usable_cpus
from coinium.store import state_tree

ROUNDS = 5
# "before": the cython backend with the signature kernel it had before true batch verification
# (libsodium's single check in C threads, _ck.verify_many), so one run measures old and new.
BACKENDS = ("cython", "before", "python")
TARGETS = {("cython", "cold"): 20_000, ("cython", "warm"): 60_000}
COLD_SPEEDUP_TARGET = 1.8  # cython cold connect vs "before"
OUT = Path(__file__).resolve().parent / "out" / "connect.json"
_results: dict[str, dict] = {}


@pytest.fixture(scope="module")
def funded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    template = tmp_path_factory.mktemp("connect") / "template"
    raw = build_datadir(template)
    return template, raw


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    if not _results:
        return
    print(f"\n\nconnect, {N_TRANSFERS:,}-transfer block (tx/s; median and best of {ROUNDS}):")
    for label, r in _results.items():
        target = f"  target {r['target']:,}" if r.get("target") else ""
        print(f"  {label:<28} {r['median_tx_s']:>9,.0f} median {r['best_tx_s']:>9,.0f} best"
              f"  ({r['median_ms']:.1f} ms, cpu {r['median_cpu_ms']:.0f} ms, "
              f"state root {r['root_share']:.1%}){target}")  # fmt: skip
    for mode in ("connect cold", "decode+connect cold"):
        new, old = _results.get(f"cython {mode}"), _results.get(f"before {mode}")
        if new and old:
            ratio = new["median_tx_s"] / old["median_tx_s"]
            best = new["best_tx_s"] / old["best_tx_s"]
            print(f"  cython {mode} vs before (libsodium threads): {ratio:.2f}x median, "
                  f"{best:.2f}x best (target {COLD_SPEEDUP_TARGET}x)")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(_results, indent=2) + "\n")


def libsodium_threads(module):
    """The cython backend's verify_batch before batch verification: libsodium per signature."""
    verify_detached, sign_open = _sodium_entry.addresses()

    def verify_batch(public_keys, messages, signatures):
        return module._ck.verify_many(list(public_keys), list(messages), list(signatures),
                                      usable_cpus(), verify_detached, sign_open)

    return verify_batch


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch) -> str:
    """Route the rules' kernel calls to one backend for the test."""
    try:
        module = load_backend("cython" if request.param == "before" else request.param)
    except KernelBackendError as exc:
        pytest.skip(str(exc))
    verify = libsodium_threads(module) if request.param == "before" else module.verify_batch
    monkeypatch.setattr(kernels, "verify_batch", verify)
    monkeypatch.setattr(kernels, "merkle_root", module.merkle_root)
    monkeypatch.setattr(kernels, "keyed_hash64", module.keyed_hash64)
    monkeypatch.setattr(kernels, "BACKEND", module.NAME)
    return request.param


@pytest.fixture(autouse=True)
def root_timer(monkeypatch) -> list[float]:
    """Seconds spent on the state root in the current round: the calls are wrapped, the
    durations summed into the list's one element."""
    spent = [0.0]

    def timed(owner, name):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start

        monkeypatch.setattr(owner, name, wrapper)

    timed(connect_module, "tree_changes")
    timed(state_tree.StateTree, "apply")
    timed(state_tree.StateTree, "root")
    return spent


def run_rounds(template: Path, work: Path, target: Callable[[ChainState], object], label: str,
               backend: str, mode: str, root_timer: list[float],
               prepare: Callable[[ChainState], None] | None = None) -> None:  # fmt: skip
    """Time ``target(chain)`` on a fresh chain per round. Our own loop and clock (not
    pytest-benchmark, which the project disables by default and which then runs one round)."""
    durations: list[float] = []
    root_shares: list[float] = []
    cpu: list[float] = []  # process CPU time (all threads): steadier than wall on shared cores
    for _ in range(ROUNDS):
        with ChainState(fresh_copy(template, work / "round"), REGTEST) as chain:
            if prepare is not None:
                prepare(chain)
            root_timer[0] = 0.0
            cpu_start, start = time.process_time(), time.perf_counter()
            target(chain)
            durations.append(time.perf_counter() - start)
            cpu.append(time.process_time() - cpu_start)
            root_shares.append(root_timer[0] / durations[-1])
    best, median = min(durations), statistics.median(durations)
    _results[f"{backend} {label}"] = {
        "backend": backend, "mode": mode, "transfers": N_TRANSFERS, "rounds": len(durations),
        "median_ms": median * 1e3, "best_ms": best * 1e3,
        "median_tx_s": N_TRANSFERS / median, "best_tx_s": N_TRANSFERS / best,
        "root_share": statistics.median(root_shares),
        "median_cpu_ms": statistics.median(cpu) * 1e3,
        "target": TARGETS.get((backend, mode)),
    }  # fmt: skip


def connect_with(block_of: Callable[[], Block]) -> Callable[[ChainState], None]:
    def connect(chain: ChainState) -> None:
        result = chain.accept_block(block_of())
        assert result.status == AcceptStatus.NEW_TIP, result

    return connect


def test_connect_cold(funded, backend, tmp_path: Path, root_timer) -> None:
    template, raw = funded
    block = decode(raw)  # decoded once, outside the timing: accept_block alone is measured
    run_rounds(template, tmp_path, connect_with(lambda: block), "connect cold",
               backend, "cold", root_timer)  # fmt: skip


def test_connect_warm(funded, backend, tmp_path: Path, root_timer) -> None:
    template, raw = funded
    block = decode(raw)
    cache = warm_cache(block)

    def prepare(chain: ChainState) -> None:
        chain.signature_filter = cache.contains  # as the node wires it

    run_rounds(template, tmp_path, connect_with(lambda: block), "connect warm",
               backend, "warm", root_timer, prepare)  # fmt: skip


def test_decode_and_connect_cold(funded, backend, tmp_path: Path, root_timer) -> None:
    """What a node does with a block from the wire: decode (txids hashed) and connect."""
    template, raw = funded
    run_rounds(template, tmp_path, connect_with(lambda: Block.decode(raw)),
               "decode+connect cold", backend, "decode+cold", root_timer)  # fmt: skip
