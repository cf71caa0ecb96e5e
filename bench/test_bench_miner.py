"""The miner: hash rate with 1 and all worker processes, how fast new work reaches every worker,
and the share of hashes spent on stale work.

    PYTHONPATH=. python -m pytest bench/test_bench_miner.py -s -q    # prints the report

Three measurements, each printed as it finishes and gathered in bench/out/miner.json:

* scaling: the `WorkerPool` with 1 process, then one per usable core, on an impossible target
  (0: nothing is ever found), best of ``RATE_ROUNDS`` rounds of ``RATE_SECONDS``. A worker's rate
  is its hashes over the time from its "started" to its "stopped" event (both stamped in the
  worker), so spawning and switching are not counted.
* pool switch: the same pool given a new job ``SWITCHES`` times at random moments; the latency is
  from `start_job` to the last worker's "started" acknowledgement. The hashes a worker did after
  the stop flag moved (the rest of its current ~20 ms chunk) are stale work; the report gives
  them per switch, in milliseconds of the pool's work, and as a share of all hashes at one new
  tip per ``BLOCK_SPACING`` s (the networks' target spacing).
* full path: a real regtest node publishing ``hashblock`` over ZMQ, ``coinium mine --json
  --local-target 0`` with every core, and this process mining a block with
  ``generatetoaddress`` ``TIPS`` times; from the miner's own events: ZMQ arrival to every worker
  on new work (getblocktemplate over RPC included), and from just before the RPC call (this
  process) to the last worker's acknowledgement (the same system-wide monotonic clock).

Targets (the issue): all processes at least 1.8x one (on 2 cores); new tip to every worker on
new work under 100 ms median.
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from coinium.kernels._args import usable_cpus
from coinium.mining.workers import WorkerEvent, WorkerPool, split_nonce_space

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out" / "miner.json"
sys.path.insert(0, str(REPO / "tests" / "functional"))

CORES = usable_cpus()
RATE_SECONDS = 2.0
RATE_ROUNDS = 3
SWITCHES = 60
TIPS = 25
BLOCK_SPACING = 60.0
RESULTS: dict = {}


class Recorder:
    def __init__(self):
        self.events: list[WorkerEvent] = []
        self.cond = threading.Condition()

    def __call__(self, event: WorkerEvent) -> None:
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait(self, predicate, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not (found := predicate(self.events)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("benchmark pool did not answer")
                self.cond.wait(remaining)
            return found


def acked(pool: WorkerPool, generation: int):
    def predicate(events):
        acks = [e for e in events if e.kind == "started" and e.generation == generation]
        return acks if len({e.worker for e in acks}) == pool.size else None

    return predicate


def stopped(pool: WorkerPool, generation: int):
    def predicate(events):
        done = [e for e in events if e.kind == "stopped" and e.generation == generation]
        return done if len({e.worker for e in done}) == pool.size else None

    return predicate


def header(seed: int) -> bytes:
    return random.Random(seed).randbytes(124)


def median_ms(values: list[float]) -> float:
    return 1e3 * statistics.median(values)


def p90_ms(values: list[float]) -> float:
    ordered = sorted(values)
    return 1e3 * ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def record(name: str, data: dict) -> None:
    RESULTS[name] = data
    OUT.parent.mkdir(exist_ok=True)
    existing = json.loads(OUT.read_text()) if OUT.exists() else {}
    existing.update(RESULTS)
    existing["machine"] = {"cores": CORES, "load": os.getloadavg()}
    OUT.write_text(json.dumps(existing, indent=2))


def pool_rate(processes: int) -> tuple[float, list[float]]:
    """Best round: total hashes/s and each worker's."""
    recorder = Recorder()
    pool = WorkerPool(processes, recorder)
    try:
        best: tuple[float, list[float]] = (0.0, [])
        for round_ in range(RATE_ROUNDS + 1):  # the first round warms up (spawn, imports)
            generation = pool.start_job(header(round_), 0, split_nonce_space(processes))
            starts = recorder.wait(acked(pool, generation))
            time.sleep(RATE_SECONDS)
            pool.stop_job()
            stops = recorder.wait(stopped(pool, generation))
            if round_ == 0:
                continue
            rates = []
            for worker in range(processes):
                hashes = sum(e.hashes for e in recorder.events
                             if e.generation == generation and e.worker == worker)  # fmt: skip
                start = next(e.t for e in starts if e.worker == worker)
                stop = next(e.t for e in stops if e.worker == worker)
                rates.append(hashes / (stop - start))
            if sum(rates) > best[0]:
                best = (sum(rates), rates)
        return best
    finally:
        pool.close()


def test_hash_rate_scales_with_processes():
    one, _ = pool_rate(1)
    many, per_worker = pool_rate(CORES)
    ratio = many / one
    record("scaling", {"one_process_hps": one, "all_processes": CORES, "all_hps": many,
                       "per_worker_hps": per_worker, "ratio": ratio})  # fmt: skip
    print(f"\nhash rate, 1 process: {one / 1e6:.1f} M/s; {CORES} processes: {many / 1e6:.1f} M/s "
          f"({', '.join(f'{r / 1e6:.1f}' for r in per_worker)}); ratio {ratio:.2f}x "
          f"(target >= 1.8x on 2 cores: {'met' if ratio >= 0.9 * CORES else 'MISSED'})")
    assert ratio > 1.0 or CORES == 1


def test_new_work_reaches_every_worker_fast_and_little_is_stale():
    recorder = Recorder()
    pool = WorkerPool(CORES, recorder)
    rng = random.Random(7)
    latencies: list[float] = []
    try:
        generation = pool.start_job(header(100), 0, split_nonce_space(CORES))
        recorder.wait(acked(pool, generation))
        time.sleep(0.5)  # let the chunk size settle at ~20 ms
        first = generation + 1
        for i in range(SWITCHES):
            time.sleep(rng.uniform(0.05, 0.25))  # a random moment within a chunk
            started = time.monotonic()
            generation = pool.start_job(header(101 + i), 0, split_nonce_space(CORES))
            acks = recorder.wait(acked(pool, generation))
            latencies.append(max(e.t for e in acks) - started)
        pool.stop_job()
        recorder.wait(stopped(pool, generation))
        events = list(recorder.events)
    finally:
        pool.close()
    measured = [e for e in events if e.generation >= first - 1]
    total = sum(e.hashes for e in measured)
    stale = 0.0
    for e in measured:
        retired = pool.retired_at.get(e.generation)
        if e.kind != "stopped" or retired is None or e.t <= e.chunk_start:
            continue
        after = max(0.0, e.t - max(retired, e.chunk_start))
        stale += e.chunk_hashes * after / (e.t - e.chunk_start)
    span = max(e.t for e in measured) - min(e.t for e in measured if e.kind == "started")
    rate = total / span
    stale_ms = 1e3 * stale / SWITCHES / rate  # pool-milliseconds of work lost per switch
    data = {"switches": SWITCHES, "median_ms": median_ms(latencies), "p90_ms": p90_ms(latencies),
            "max_ms": 1e3 * max(latencies), "stale_share_measured": stale / total,
            "stale_ms_per_switch": stale_ms,
            "stale_share_at_block_spacing": stale_ms / 1e3 / BLOCK_SPACING}  # fmt: skip
    record("pool_switch", data)
    print(f"\npool switch, {CORES} workers, {SWITCHES} switches: median "
          f"{data['median_ms']:.1f} ms, p90 {data['p90_ms']:.1f} ms, max {data['max_ms']:.1f} ms; "
          f"stale work "
          f"{stale_ms:.2f} ms per switch = {100 * data['stale_share_measured']:.2f}% of hashes at "
          f"one switch per ~0.15 s, {100 * data['stale_share_at_block_spacing']:.4f}% at one per "
          f"{BLOCK_SPACING:.0f} s (target: median < 100 ms: "
          f"{'met' if data['median_ms'] < 100 else 'MISSED'})")
    assert data["median_ms"] < 1000


def test_full_path_from_a_zmq_new_tip_to_every_worker(tmp_path):
    from nodeproc import NodeProcess, free_port

    from coinium.core.params import REGTEST
    from coinium.crypto.address import encode_address

    address = encode_address(REGTEST.address_prefix, bytes(range(20)))
    zmq = f"tcp://127.0.0.1:{free_port()}"
    node = NodeProcess(tmp_path / "node", extra_args=(f"--zmqpubhashblock={zmq}",)).start()
    out = tmp_path / "miner.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(out, "wb") as stdout:
        miner = subprocess.Popen(
            [sys.executable, "-m", "coinium", "mine", "--rpc", f"http://127.0.0.1:{node.rpc_port}",
             "--rpc-cookie", str(node.cookie_path), "--address", address, "--json",
             "--local-target", "0", "--refresh", "600", "--stats-interval", "0"],
            stdout=stdout, stderr=subprocess.DEVNULL, env=env)  # fmt: skip
    rng = random.Random(3)

    def events() -> list[dict]:
        return [json.loads(line) for line in out.read_text().splitlines() if line.startswith("{")]

    def wait_event(predicate, timeout=30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in events():
                if predicate(event):
                    return event
            time.sleep(0.02)
        raise TimeoutError("the miner did not report")

    tip_ms, end_to_end_ms = [], []
    try:
        wait_event(lambda e: e["event"] == "switched")
        time.sleep(0.5)
        for _ in range(TIPS):
            time.sleep(rng.uniform(0.2, 0.4))
            sent = time.monotonic()
            [tip] = node.rpc("generatetoaddress", 1, address)
            work = wait_event(lambda e, tip=tip: e["event"] == "work" and e["prev"] == tip)
            switched = wait_event(lambda e, g=work["generation"]: e["event"] == "switched"
                                  and e["generation"] == g)  # fmt: skip
            tip_ms.append(switched["tip_ms"])
            end_to_end_ms.append(1e3 * (switched["t_mono"] - sent))
        miner.send_signal(signal.SIGINT)
        miner.wait(30)
        summary = wait_event(lambda e: e["event"] == "stopped")
    finally:
        if miner.poll() is None:
            miner.kill()
            miner.wait(10)
        node.stop()
    data = {"tips": TIPS, "processes": CORES,
            "zmq_to_all_workers_median_ms": statistics.median(tip_ms),
            "zmq_to_all_workers_p90_ms": sorted(tip_ms)[int(0.9 * len(tip_ms))],
            "rpc_to_all_workers_median_ms": statistics.median(end_to_end_ms),
            "rpc_to_all_workers_p90_ms": sorted(end_to_end_ms)[int(0.9 * len(end_to_end_ms))],
            "miner_stale_share": summary["stale_share"],
            "miner_hashrate": summary["hashrate"]}  # fmt: skip
    record("full_path", data)
    print(f"\nfull path, {CORES} workers, {TIPS} new tips by generatetoaddress: ZMQ arrival -> all "
          f"workers on new work median {data['zmq_to_all_workers_median_ms']:.1f} ms (p90 "
          f"{data['zmq_to_all_workers_p90_ms']:.1f}); RPC call -> all workers median "
          f"{data['rpc_to_all_workers_median_ms']:.1f} ms (p90 "
          f"{data['rpc_to_all_workers_p90_ms']:.1f}); miner's stale share "
          f"{100 * data['miner_stale_share']:.2f}% at one tip per ~0.3 s (target: median < 100 "
          f"ms: {'met' if data['rpc_to_all_workers_median_ms'] < 100 else 'MISSED'})")
    assert data["zmq_to_all_workers_median_ms"] < 1000


@pytest.fixture(autouse=True, scope="module")
def _report():
    yield
    if RESULTS:
        print(f"\nresults written to {OUT.relative_to(REPO)}")
