"""Run the kernel benchmarks and print one table of rates and ratios, plus a chart.

    python -m bench.report                 # run bench/test_bench_kernels.py, then report
    python -m bench.report --no-run        # report the last run again (bench/out/kernels.json)

Rates use each benchmark's best round (the least disturbed by other work on a shared machine);
every ratio compares rows of the same run. Where a GPU is present, the nonce-search table gains a
row for the cuda backend, compared with one core of the best CPU kernel. The chart goes to
bench/out/kernels.png.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH_FILE = HERE / "test_bench_kernels.py"
OUT = HERE / "out"

SECTION_TITLES = {
    "pow": "Nonce search (hashes/s)",
    "merkle-1k": "Merkle root, 1k leaves",
    "merkle-100k": "Merkle root, 100k leaves",
    "merkle-1M": "Merkle root, 1M leaves",
    "verify": "Signature checks (signatures/s)",
}


@dataclass(frozen=True)
class Row:
    section: str
    label: str
    backend: str
    cores: int
    items: int
    unit: str
    role: str
    form: str
    best_s: float
    median_s: float

    @property
    def rate(self) -> float:
        return self.items / self.best_s


def load_rows(path: Path) -> tuple[list[Row], dict]:
    data = json.loads(path.read_text())
    rows = []
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        if "section" not in info:
            continue
        rows.append(Row(
            section=info["section"], label=info["label"], backend=info["backend"],
            cores=int(info["cores"]), items=int(info["items"]), unit=info["unit"],
            role=info.get("role", ""), form=info.get("form", ""),
            best_s=bench["stats"]["min"], median_s=bench["stats"]["median"],
        ))
    return rows, data.get("machine_info", {})


def si(value: float) -> str:
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.3g} {suffix}"
    return f"{value:.3g} "


def find(rows: list[Row], section: str, **match) -> Row | None:
    for row in rows:
        if row.section == section and all(getattr(row, k) == v for k, v in match.items()):
            return row
    return None


def table(rows: list[Row]) -> tuple[str, list[tuple[str, float, float, bool]]]:
    """The report text and the targets as (name, measured, wanted, met)."""
    lines = []
    header = f"{'benchmark':<52} {'best round':>11} {'rate':>13} {'ratio':>22}"
    for section, title in SECTION_TITLES.items():
        part = [r for r in rows if r.section == section]
        if not part:
            continue
        base = next((r for r in part if r.role == "baseline"), None)
        ceiling = find(rows, "pow", role="ceiling")
        lines += ["", title, header, "-" * len(header)]
        for r in part:
            if r.role == "baseline":
                ratio = "baseline"
            elif r.role == "ceiling":
                ratio = f"{r.rate / base.rate:.1f}x loop" if base else ""
            elif r.backend == "cuda":  # a GPU: against one core of the best CPU kernel
                core = find(rows, "pow", backend="cython", cores=1) or find(
                    rows, "pow", backend="numba", cores=1)
                ratio = f"{r.rate / core.rate:,.0f}x 1 {core.backend} core" if core else ""
            elif base:
                ratio = f"{r.rate / base.rate:.1f}x"
                if section == "pow" and ceiling:
                    ratio += f", {100 * r.rate / ceiling.rate:.0f}% ceil"
            else:
                ratio = ""
            rate = si(r.rate) + r.unit[:4] + "/s"
            lines.append(f"{r.label:<52} {1e3 * r.best_s:>8.2f} ms {rate:>13} {ratio:>22}")

    targets = []

    def ratio_of(a: Row | None, b: Row | None) -> float:
        return a.rate / b.rate if a and b else float("nan")

    loop = find(rows, "pow", role="baseline")
    ceiling = find(rows, "pow", role="ceiling")
    cy1 = find(rows, "pow", backend="cython", cores=1)
    cyn = next((r for r in rows if r.section == "pow" and r.backend == "cython" and r.cores > 1),
               None)
    nb1 = find(rows, "pow", backend="numba", cores=1)
    targets.append(("cython nonce search, 1 core, vs plain Python loop", ratio_of(cy1, loop), 50))
    targets.append(("cython nonce search, 1 core, vs blake3 ceiling", ratio_of(cy1, ceiling), 0.5))
    targets.append((f"cython nonce search, {cyn.cores if cyn else '?'} cores vs 1 core",
                    ratio_of(cyn, cy1), 1.8))
    targets.append(("numba nonce search, 1 core, vs plain Python loop", ratio_of(nb1, loop), 15))
    py1m = find(rows, "merkle-1M", role="baseline")
    targets.append(("cython Merkle 1M leaves (list) vs Python loop",
                    ratio_of(find(rows, "merkle-1M", backend="cython", form="list"), py1m), 30))
    targets.append(("cython Merkle 1M leaves (array) vs Python loop",
                    ratio_of(find(rows, "merkle-1M", backend="cython", form="array"), py1m), 30))
    nacl = find(rows, "verify", role="baseline")
    cyv = max((r for r in rows if r.section == "verify" and r.backend == "cython"),
              key=lambda r: r.cores, default=None)
    targets.append((f"cython verify_batch, {cyv.cores if cyv else '?'} cores, vs PyNaCl loop",
                    ratio_of(cyv, nacl), 1.8))
    lines += ["", "Targets", "-" * len(header)]
    for name, got, want in targets:
        met = got >= want
        lines.append(f"{name:<64} {got:>8.2f}x  (want >= {want}x)  {'met' if met else 'MISSED'}")
    return "\n".join(lines), [(n, g, w, g >= w) for n, g, w in targets]


def chart(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    panels = [("pow", "Nonce search: hashes/s"), ("merkle-1M", "Merkle root, 1M leaves: leaves/s"),
              ("verify", "Signature checks: signatures/s")]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 11))
    for ax, (section, title) in zip(axes, panels, strict=True):
        part = [r for r in rows if r.section == section]
        if not part:
            continue
        colors = ["#999999" if r.role else "#d62728" if r.backend == "cuda"
                  else "#1f77b4" if r.backend == "cython"
                  else "#ff7f0e" if r.backend == "numba" else "#2ca02c" for r in part]
        rates = [r.rate for r in part]
        ax.barh([r.label for r in part], rates, color=colors)
        if max(rates) > 20 * min(rates):  # log scale only where the spread needs it
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlim(right=max(rates) * 4)
        else:
            ax.set_xlim(0, max(rates) * 1.2)
        ax.invert_yaxis()
        ax.set_title(title)
        for y, r in enumerate(part):
            ax.text(r.rate, y, f" {si(r.rate)}/s", va="center", fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def machine_line(machine: dict) -> str:
    try:
        from coinium.kernels import cython_backend

        simd = cython_backend.simd_name()
    except ImportError:
        simd = "not built"
    from coinium.kernels._args import usable_cpus

    cpu = machine.get("cpu", {}).get("brand_raw") or platform.processor() or platform.machine()
    return (f"{cpu}; {usable_cpus()} usable cores; cython SIMD path: {simd}; "
            f"Python {platform.python_version()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-run", action="store_true", help="report the last run again")
    parser.add_argument("--json", type=Path, default=OUT / "kernels.json")
    parser.add_argument("--chart", type=Path, default=OUT / "kernels.png")
    args = parser.parse_args(argv)
    if not args.no_run:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pytest", str(BENCH_FILE), "--benchmark-enable",
                   f"--benchmark-json={args.json}", "-q", "-p", "no:cacheprovider",
                   "--benchmark-columns=min,median,rounds", "--timeout=1200"]
        print("$", " ".join(command), flush=True)
        done = subprocess.run(command, cwd=HERE.parent)
        if done.returncode != 0:
            print("benchmark run failed", file=sys.stderr)
            return done.returncode
    rows, machine = load_rows(args.json)
    text, targets = table(rows)
    print()
    print(machine_line(machine))
    print(text)
    chart(rows, args.chart)
    print(f"\nchart: {args.chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
