"""GPU mining, measured: the raw kernel rate, and how much of it `coinium mine --gpu` turns into
useful work on regtest-like work at 60-second blocks.

    python -m bench.gpu_measure --out bench/out/gpu            # on a machine with a GPU
    NUMBA_ENABLE_CUDASIM=1 python -m bench.gpu_measure --quick # a dry run on the CPU simulator

1. Raw kernel rate: `pow_search` with target 0 (every nonce hashed) over large ranges, once per
   header length (92 and 124 bytes), best of three after a compiling warm-up; and the same
   kernel called the way a GPU worker calls it (chunks sized to ~75 ms, back to back), whose
   rate includes the host's share of each launch.
2. Mining: a regtest node, and `coinium mine --gpu --json` against it for `--mine-seconds`, with
   a local target that makes blocks come every ~60 s at the measured rate (every find retires
   the work, so the stale work of real block intervals is in the figure). The GPU's rate is read
   from the miner's own `hashrate` events (10-second windows), from one window after the GPU
   worker's first hashes (before them it compiles its kernel) to the end.

The useful share is the GPU's mining rate over the raw kernel rate of the same header length.
Writes gpu_measure.json to --out and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BLOCK_SECONDS = 60
RATE_WINDOW = 10.0  # the miner's hashrate events average this many seconds


def raw_rates(backend, quick: bool) -> dict:
    """Nonces per second of the kernel alone, and called in ~75 ms chunks as a worker does."""
    from coinium.mining.workers import GPU_CHUNK_SECONDS, MAX_GPU_CHUNK, MIN_CHUNK, next_chunk

    out = {}
    for length in (92, 124):  # the v1 and v2 headers
        header = bytes(range(length))
        count = 1 << (6 if quick else 35)
        t = time.perf_counter()
        backend.pow_search(header, 0, 0, 1 << 10)  # compiles the kernel for this length
        compile_s = time.perf_counter() - t
        best = float("inf")
        for i in range(3):
            t = time.perf_counter()
            backend.pow_search(header, 0, (i + 1) << 40, count)
            best = min(best, time.perf_counter() - t)
        # The worker's way: chunks retuned to ~75 ms, for ~3 s (the first chunks ramp up).
        chunk, nonce, done, start = MIN_CHUNK, 1 << 50, 0, time.perf_counter()
        span = 0.3 if quick else 3.0
        while (now := time.perf_counter()) - start < span:
            backend.pow_search(header, 0, nonce, chunk)
            elapsed = time.perf_counter() - now
            nonce, done = nonce + chunk, done + chunk
            chunk = next_chunk(chunk, chunk, elapsed, GPU_CHUNK_SECONDS, MAX_GPU_CHUNK)
        loop_rate = done / (time.perf_counter() - start)
        out[str(length)] = {"compile_s": round(compile_s, 2), "nonces": count,
                            "best_s": best, "rate": count / best,
                            "chunked_rate_incl_ramp": loop_rate,
                            "final_chunk": chunk}  # fmt: skip
        print(f"header {length} B: compile {compile_s:.1f} s; raw {count / best / 1e9:.2f} GH/s "
              f"({count:,} nonces in {best:.3f} s); worker-style chunks "
              f"{loop_rate / 1e9:.2f} GH/s incl. ramp-up, chunk now {chunk:,}", flush=True)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment() -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def mine(seconds: float, rate: float, processes: int | None, workdir: Path) -> dict:
    """`coinium mine --gpu --json` against a fresh regtest node; the events it printed."""
    from coinium.core.params import REGTEST
    from coinium.crypto.address import encode_address

    rpc_port, p2p_port = free_port(), free_port()
    log = open(workdir / "node.log", "wb")
    node = subprocess.Popen([sys.executable, "-m", "coinium", "node", "--network", "regtest",
                             "--datadir", str(workdir), "--rpc-port", str(rpc_port),
                             "--p2p-port", str(p2p_port), "--bind", "127.0.0.1"],
                            stdout=log, stderr=subprocess.STDOUT, env=environment())  # fmt: skip
    cookie = workdir / "regtest" / ".cookie"
    events_path = workdir / "miner.jsonl"
    try:
        deadline = time.monotonic() + 120
        while not cookie.exists():
            if node.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((workdir / "node.log").read_text())
            time.sleep(0.2)
        target = (1 << 256) // int(BLOCK_SECONDS * rate)
        args = [sys.executable, "-m", "coinium", "mine", "--gpu", "--json",
                "--rpc", f"http://127.0.0.1:{rpc_port}", "--rpc-cookie", str(cookie),
                "--address", encode_address(REGTEST.address_prefix, bytes(20)),
                "--local-target", f"{target:064x}", "--stats-interval", "5"]  # fmt: skip
        if processes is not None:
            args += ["--processes", str(processes)]
        print("$", " ".join(args[1:]), flush=True)
        with open(events_path, "wb") as out:
            miner = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                     env=environment())  # fmt: skip
            started = time.monotonic()
            while time.monotonic() - started < seconds and miner.poll() is None:
                time.sleep(0.5)
            miner.send_signal(signal.SIGTERM)
            miner.wait(60)
    finally:
        node.send_signal(signal.SIGTERM)
        try:
            node.wait(30)
        except subprocess.TimeoutExpired:
            node.kill()
        log.close()
    lines = events_path.read_text().splitlines()
    return {"events": [json.loads(x) for x in lines if x.startswith("{")],
            "other_output": [x for x in lines if not x.startswith("{")][-20:],
            "local_target": f"{target:064x}", "seconds": seconds}  # fmt: skip


def summarize(run: dict, raw: dict, warmup: float) -> dict:
    events = run["events"]
    start = next(e for e in events if e["event"] == "start")
    t0 = start["t_mono"]
    windows = [e for e in events if e["event"] == "hashrate"]
    # The GPU worker compiles its kernel first (tens of seconds, more beside busy CPU workers):
    # its steady state starts one rate window after its first hashes, and at least `warmup`.
    first = next((e["t_mono"] for e in windows if e["gpus"].get("0", 0.0) > 0), None)
    steady_from = max(t0 + warmup, (first or t0) + RATE_WINDOW)
    rates = [e for e in windows if e["t_mono"] >= steady_from]
    gpu = [e["gpus"].get("0", 0.0) for e in rates]
    cpu = [e["cpu"] for e in rates]
    stopped = next((e for e in events if e["event"] == "stopped"), {})
    from coinium.core.header import HEADER_SIZE  # the header the node hands out

    raw_rate = raw[str(HEADER_SIZE)]["rate"]
    gpu_rate = statistics.median(gpu) if gpu else 0.0
    return {
        "labels": start.get("labels"),
        "header_bytes": HEADER_SIZE,
        "gpu_rate_median": gpu_rate,
        "gpu_rate_min": min(gpu) if gpu else 0.0,
        "cpu_rate_median": statistics.median(cpu) if cpu else 0.0,
        "samples": len(gpu),
        "raw_rate": raw_rate,
        "useful_share": gpu_rate / raw_rate if raw_rate else 0.0,
        "stale_share": stopped.get("stale_share"),
        "accepted": sum(e["event"] == "accepted" for e in events),
        "found": sum(e["event"] == "found" for e in events),
        "tip_switch_ms": stopped.get("tip_switch_ms"),
        "job_switch_ms": stopped.get("job_switch_ms"),
        "errors": [e for e in events if e["event"] == "error"][:5],
        "gpu_first_hashes_s": None if first is None else round(first - t0, 1),
        "windows": [(round(e["t_mono"] - t0, 1), e["gpus"].get("0", 0.0), e["cpu"])
                    for e in windows],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "out" / "gpu")
    parser.add_argument("--mine-seconds", type=float, default=100.0)
    parser.add_argument("--warmup", type=float, default=15.0,
                        help="seconds of mining left out at least (more while the GPU compiles)")
    parser.add_argument("--processes", type=int, default=None,
                        help="CPU workers beside the GPU [default: coinium mine's]")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the simulator)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    from coinium.kernels import load_backend

    backend = load_backend("cuda")
    device = backend.device_names()[0]
    print(f"GPU 0: {device}", flush=True)
    result: dict = {"device": device, "simulator": backend.SIMULATOR}
    result["raw"] = raw_rates(backend, args.quick)
    (args.out / "gpu_measure.json").write_text(json.dumps(result, indent=2))
    with tempfile.TemporaryDirectory() as tmp:
        run = mine(args.mine_seconds, result["raw"]["92"]["rate"], args.processes, Path(tmp))
    result["mine"] = summarize(run, result["raw"], args.warmup)
    result["mine"]["tail"] = run["other_output"]
    (args.out / "gpu_measure.json").write_text(json.dumps(result, indent=2))
    m = result["mine"]
    print(f"GPU worker's first hashes {m['gpu_first_hashes_s']} s after start (compiling)")
    print(f"coinium mine --gpu: GPU {m['gpu_rate_median'] / 1e9:.2f} GH/s median of "
          f"{m['samples']} windows (min {m['gpu_rate_min'] / 1e9:.2f}), CPU workers "
          f"{m['cpu_rate_median'] / 1e9:.3f} GH/s; useful share {100 * m['useful_share']:.1f}% "
          f"of the raw {m['raw_rate'] / 1e9:.2f} GH/s; stale share {m['stale_share']}; "
          f"{m['accepted']} blocks accepted; labels {m['labels']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
