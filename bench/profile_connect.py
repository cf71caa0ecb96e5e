"""Where the time goes when connecting a regtest block of 5,000 transfers.

    COINIUM_KERNELS=cython PYTHONPATH=. python bench/profile_connect.py [--decode] [--top N]

Builds the same funded datadir as bench/test_bench_connect.py (untimed), then runs cProfile on
one ChainState.accept_block of the 5,000-transfer block (with --decode, on Block.decode of its
wire bytes too) and prints the top functions by cumulative time, then by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # connect_setup, when run by path

from connect_setup import N_TRANSFERS, build_datadir, fresh_copy  # noqa: E402

from coinium import kernels  # noqa: E402
from coinium.chain.chainstate import AcceptStatus, ChainState  # noqa: E402
from coinium.core.block import Block  # noqa: E402
from coinium.core.params import REGTEST  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decode", action="store_true", help="profile Block.decode as well")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template"
        raw = build_datadir(template)
        block = Block.decode(raw)
        with ChainState(fresh_copy(template, Path(tmp) / "run"), REGTEST) as chain:
            profiler = cProfile.Profile()
            start = time.perf_counter()
            profiler.enable()
            result = chain.accept_block(Block.decode(raw) if args.decode else block)
            profiler.disable()
            elapsed = time.perf_counter() - start
        assert result.status == AcceptStatus.NEW_TIP, result

    what = "decode+connect" if args.decode else "connect"
    print(f"{what} {N_TRANSFERS}-transfer block: {elapsed * 1e3:.1f} ms under cProfile, "
          f"{N_TRANSFERS / elapsed:,.0f} tx/s (backend {kernels.BACKEND}; profiling slows "
          f"Python-level code, so take tx/s from the benchmark)")  # fmt: skip
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(args.top)
        print(f"\n=== top {args.top} by {order} time ===")
        print(out.getvalue().split("\n", 5)[-1].strip("\n"))  # drop the pstats preamble


if __name__ == "__main__":
    main()
