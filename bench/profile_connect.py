"""Where the time goes when connecting a block of 10,000 transfers, or syncing a chain.

    PYTHONPATH=. python bench/profile_connect.py [--warm] [--decode] [--cprofile] [--top N]
    PYTHONPATH=. python bench/profile_connect.py --sync BLOCKS [--cprofile]

Connect: builds the funded datadir of bench/test_bench_connect.py (untimed), then connects the
block of 10,000 transfers with ChainState.accept_block (cold: no signature cached; --warm: all
in the signature cache; --decode: Block.decode of the wire bytes inside the timing) and prints
the wall time of each phase, measured by wrapping the functions that do them (no profiler, so
the figures are those of a normal run; median of 3 rounds). --cprofile adds cProfile's top
functions by own time (profiling slows Python-level code several times over).

Sync: --sync BLOCKS takes the first BLOCKS blocks of the sync chain (bench/test_bench_sync.py)
into a fresh node with accept_blocks and prints the same phases for the chain thread, plus the
worker thread's signature time and how long the chain thread waited for it.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # connect_setup, when run by path

from connect_setup import (  # noqa: E402
    N_TRANSFERS,
    build_datadir,
    fresh_copy,
    sync_blocks,
    warm_cache,
)

from coinium import kernels  # noqa: E402
from coinium.chain import chainstate, connect, pipeline, reorg  # noqa: E402
from coinium.chain.chainstate import AcceptStatus, ChainState  # noqa: E402
from coinium.chain.sigcache import SignatureCache  # noqa: E402
from coinium.consensus import block_rules, state_transition  # noqa: E402
from coinium.core.block import Block  # noqa: E402
from coinium.core.params import REGTEST  # noqa: E402
from coinium.store import chainstore, records, state_tree  # noqa: E402

# (label, module or class, attribute): the functions whose wall time makes a phase. Nested
# phases are listed under their parent and subtracted from it in the report.
PHASES = [
    ("decode", Block, "decode"),
    ("check_block: body, Merkle", block_rules, "check_block_body"),
    ("check_block: signatures", block_rules, "check_signatures"),
    ("apply_block", state_transition, "apply_block"),
    ("index records", records, "block_index_records"),
    ("LMDB put_many", chainstore.ChainStore, "put_many"),
    ("undo record", state_transition, "encode_undo"),
    ("state root: paths and value hashes", connect, "tree_changes"),
    ("state root: tree update (StateTree.apply)", state_tree.StateTree, "apply"),
    ("connect_block", connect, "connect_block"),
    ("store.write", chainstore.ChainStore, "write"),
    ("batch commit (flush)", chainstore.ChainStore, "flush"),
    ("worker: known_good_signatures", pipeline, "known_good_signatures"),
    ("chain thread: wait for worker", pipeline.SignatureChecker, "filter_for"),
]
# Phases that run inside another: the report shows what the outer one spends on its own.
PARENTS = {
    "connect_block": ("apply_block", "index records", "LMDB put_many", "undo record",
                      "state root: paths and value hashes",
                      "state root: tree update (StateTree.apply)"),
    "store.write": ("connect_block",),
}
SHOWN_AS = {
    "connect_block": "connect_block: the rest (records)",
    "store.write": "store.write: the rest (block, commit)",
}


@contextmanager
def phase_timers() -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    saved = []
    for label, owner, name in PHASES:
        original = owner.__dict__[name]
        func = original.__func__ if isinstance(original, (classmethod, staticmethod)) else original

        def timed(*args, _f=func, _label=label, **kwargs):
            start = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                totals[_label] += time.perf_counter() - start

        wrapper = classmethod(timed) if isinstance(original, classmethod) else timed
        saved.append((owner, name, original))
        setattr(owner, name, wrapper)
    # Modules that imported the functions by name see the wrappers too.
    patched_names = [(connect, "apply_block"), (connect, "block_index_records"),
                     (block_rules, "check_block_body"), (block_rules, "check_signatures"),
                     (connect, "encode_undo"), (chainstate, "connect_block"),
                     (reorg, "connect_block")]  # fmt: skip
    for module, name in patched_names:
        saved.append((module, name, module.__dict__[name]))
    connect.apply_block = state_transition.apply_block
    connect.block_index_records = records.block_index_records
    connect.encode_undo = state_transition.encode_undo
    chainstate.connect_block = reorg.connect_block = connect.connect_block
    try:
        yield totals
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


def report(totals: list[dict[str, float]], wall: list[float], transfers: int, what: str) -> None:
    median_wall = statistics.median(wall)
    print(f"\n{what}: {median_wall * 1e3:.1f} ms median wall ({transfers / median_wall:,.0f} tx/s;"
          f" backend {kernels.BACKEND}; median of {len(wall)})")  # fmt: skip
    merged = {label: statistics.median(t.get(label, 0.0) for t in totals) for label, *_ in PHASES}
    own = {label: seconds - sum(merged[c] for c in PARENTS.get(label, ()))
           for label, seconds in merged.items()}  # fmt: skip
    print(f"  {'phase':<40} {'ms':>9} {'% wall':>7} {'us/tx':>7}")
    for label, *_ in PHASES:
        if merged[label] > 5e-5:  # phases that did not run (or next to nothing) are left out
            shown = own[label]
            print(f"  {SHOWN_AS.get(label, label):<40} {shown * 1e3:>9.1f}"
                  f" {100 * shown / median_wall:>6.1f}%"
                  f" {shown / transfers * 1e6:>7.2f}")  # fmt: skip


def profile_connect(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template"
        raw = build_datadir(template)
        block = Block.decode(raw)
        cache = warm_cache(block) if args.warm else None
        totals, wall = [], []
        for _ in range(3):
            with ChainState(fresh_copy(template, Path(tmp) / "run"), REGTEST) as chain:
                if cache is not None:
                    chain.signature_filter = cache.contains
                with phase_timers() as phases:
                    start = time.perf_counter()
                    result = chain.accept_block(Block.decode(raw) if args.decode else block)
                    wall.append(time.perf_counter() - start)
                assert result.status == AcceptStatus.NEW_TIP, result
                totals.append(dict(phases))
        what = ("decode+" if args.decode else "") + ("connect warm" if args.warm else
                                                      "connect cold")  # fmt: skip
        report(totals, wall, N_TRANSFERS, f"{what}, {N_TRANSFERS:,}-transfer block")
        if args.cprofile:
            with ChainState(fresh_copy(template, Path(tmp) / "run"), REGTEST) as chain:
                if cache is not None:
                    chain.signature_filter = cache.contains
                run_cprofile(lambda: chain.accept_block(Block.decode(raw) if args.decode
                                                        else block), args.top)  # fmt: skip


def profile_sync(args: argparse.Namespace) -> None:
    raws = sync_blocks(limit=args.sync)
    transfers = sum(int.from_bytes(r[124:128], "little") - 1 for r in raws)
    with tempfile.TemporaryDirectory() as tmp:
        with ChainState(Path(tmp) / "node", REGTEST) as chain:
            chain.signature_filter = SignatureCache().contains
            with phase_timers() as phases:
                start = time.perf_counter()
                if args.cprofile:  # the chain thread only: cProfile follows one thread
                    results = run_cprofile(
                        lambda: chain.accept_blocks(Block.decode(r) for r in raws), args.top)
                else:
                    results = chain.accept_blocks(Block.decode(r) for r in raws)
                wall = time.perf_counter() - start
            assert all(r.status == AcceptStatus.NEW_TIP for r in results)
        report([dict(phases)], [wall], transfers,
               f"sync of {len(raws)} blocks (accept_blocks, pipelined)")


def run_cprofile(fn: Callable[[], object], top: int) -> object:
    profiler = cProfile.Profile()
    profiler.enable()
    result = fn()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    print(f"\n=== cProfile, top {top} by own time (slows Python code; shares, not rates) ===")
    print(out.getvalue().split("\n", 5)[-1].strip("\n"))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", action="store_true", help="every signature in the cache")
    parser.add_argument("--decode", action="store_true", help="time Block.decode as well")
    parser.add_argument("--sync", type=int, metavar="BLOCKS", help="profile a sync instead")
    parser.add_argument("--cprofile", action="store_true", help="also run cProfile")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    if args.sync:
        profile_sync(args)
    else:
        profile_connect(args)


if __name__ == "__main__":
    main()
