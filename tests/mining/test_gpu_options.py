"""``--gpu``, ``--gpu=auto`` and ``--gpu-devices`` of ``coinium mine`` and ``coinium node``, on a
machine without a usable GPU (CI): one clear line and exit 1, or CPU-only mining when asked with
auto; never a traceback. Run as real processes, as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import key

from coinium.core.params import REGTEST
from coinium.crypto.address import encode_address
from coinium.mining.engine import MinerConfig
from coinium.mining.gpus import choose_gpus, parse_devices

REPO_ROOT = Path(__file__).resolve().parents[2]
ADDRESS = encode_address(REGTEST.address_prefix, key(5).account)
NOWHERE = "http://127.0.0.1:9"  # nothing listens: the miner waits for its node, with backoff


def environment(simulator: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_ENABLE_CUDASIM", "COINIUM_KERNELS")}  # fmt: skip
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    return env


def coinium(*args: str, simulator: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coinium", *args], capture_output=True,
                          text=True, timeout=120, env=environment(simulator))  # fmt: skip


@pytest.fixture(scope="module")
def no_gpu() -> str:
    """Why this machine has no usable GPU; the tests of that case are skipped where one is."""
    try:
        choose_gpus("on", None)
    except Exception as exc:  # noqa: BLE001 - GpuUnavailable, the reason is the point
        return str(exc)
    pytest.skip("this machine has a usable GPU: --gpu would mine")


def one_error_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_mine_gpu_without_a_gpu_is_one_line_and_exit_1(no_gpu):
    line = one_error_line(coinium("mine", "--gpu", "--address", ADDRESS, "--rpc", NOWHERE))
    assert line.startswith("Error: --gpu: ")
    assert "CUDA" in line or "numba-cuda" in line or "coinium[gpu]" in line


def test_mine_gpu_devices_without_a_gpu_is_the_same_line(no_gpu):
    line = one_error_line(coinium("mine", "--gpu", "--gpu-devices", "0,1", "--address", ADDRESS,
                                  "--rpc", NOWHERE))  # fmt: skip
    assert line.startswith("Error: --gpu: ")


def test_node_mine_gpu_without_a_gpu_is_one_line_and_exit_1(no_gpu, tmp_path):
    line = one_error_line(coinium("node", "--network", "regtest", "--datadir", str(tmp_path),
                                  "--mine", "--miner-address", ADDRESS, "--gpu"))  # fmt: skip
    assert line.startswith("Error: --gpu: ")
    assert not (tmp_path / "regtest" / ".cookie").exists()  # the node never started


def test_gpu_auto_without_a_gpu_mines_on_the_cpu_and_says_so_once(no_gpu, tmp_path):
    out, err = tmp_path / "out", tmp_path / "err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "coinium", "mine", "--gpu=auto",
                                 "--processes", "1", "--address", ADDRESS, "--rpc", NOWHERE,
                                 "--rpc-user", "u", "--rpc-password", "p", "--json"],
                                stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                                env=environment())  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while '"event":"start"' not in out.read_text() and time.monotonic() < deadline:
                assert proc.poll() is None, err.read_text()
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
    start = next(e for e in map(json.loads, out.read_text().splitlines()) if e["event"] == "start")
    assert start["gpus"] == [] and start["labels"] == ["cpu 0"] and len(start["pids"]) == 1
    notes = [line for line in err.read_text().splitlines() if "GPU" in line]
    assert len(notes) == 1 and notes[0].startswith("no usable GPU (")
    assert notes[0].endswith("mining on the CPU only")
    assert "Traceback" not in err.read_text()


def test_bad_gpu_options_are_usage_errors():
    bad = coinium("mine", "--gpu", "--gpu-devices", "zero", "--address", ADDRESS)
    assert bad.returncode == 1 and "--gpu-devices" in bad.stderr
    alone = coinium("mine", "--gpu-devices", "0", "--address", ADDRESS)
    assert alone.returncode == 1 and "needs --gpu" in alone.stderr
    mode = coinium("mine", "--gpu=maybe", "--address", ADDRESS)
    assert mode.returncode == 1 and "'maybe' is not one of" in mode.stderr
    nothing = coinium("mine", "--processes", "0", "--address", ADDRESS)
    assert nothing.returncode == 1 and "needs --gpu" in nothing.stderr
    no_mine = coinium("node", "--network", "regtest", "--gpu")
    assert no_mine.returncode == 1 and "--gpu needs --mine" in no_mine.stderr


def test_a_gpu_that_does_not_exist_is_one_line(tmp_path):
    """Under the simulator there is exactly one (simulated) GPU: device 3 is refused."""
    line = one_error_line(coinium("mine", "--gpu", "--gpu-devices", "0,3", "--address", ADDRESS,
                                  "--rpc", NOWHERE, simulator=True))  # fmt: skip
    if "coinium[gpu]" in line and os.environ.get("CI", "").lower() in ("", "0", "false", "no"):
        pytest.skip("numba-cuda is not installed")
    assert line == "Error: --gpu: no GPU 3: this machine has 1 (devices 0-0)"


def test_device_lists_parse_or_are_refused():
    assert parse_devices(None) is None and parse_devices("all") is None
    assert parse_devices("0") == (0,) and parse_devices("1,0") == (1, 0)
    for text in ("0,0", "-1", "a", "0;1", ""):
        if text == "":
            assert parse_devices(text) is None
            continue
        with pytest.raises(ValueError):
            parse_devices(text)
    assert choose_gpus("off", (0,)) == ([], None)


def test_miner_config_counts_gpu_workers_after_the_cpu_ones():
    config = MinerConfig(2, bytes(20), gpu_devices=(1, 0), gpu_names=("A", "B"))
    assert config.workers == 4
    assert config.worker_labels() == ["cpu 0", "cpu 1", "gpu 1 (A)", "gpu 0 (B)"]
    assert MinerConfig(0, bytes(20), gpu_devices=(0,)).workers == 1
    with pytest.raises(ValueError):
        MinerConfig(0, bytes(20))
    with pytest.raises(ValueError):
        MinerConfig(1, bytes(20), gpu_devices=(0, 0))


def test_chunks_are_sized_from_the_measured_rate():
    from coinium.mining.workers import MAX_GPU_CHUNK, MIN_CHUNK, next_chunk

    assert next_chunk(1 << 20, 1 << 20, 0.075, 0.075, MAX_GPU_CHUNK) == 1 << 20  # on target
    assert next_chunk(1 << 20, 1 << 20, 0.1, 0.075, MAX_GPU_CHUNK) == 1 << 20  # within 2x
    assert next_chunk(1 << 20, 1 << 20, 0.001, 0.075, MAX_GPU_CHUNK) == 8 << 20  # at most 8x
    assert next_chunk(1 << 30, 1 << 30, 0.03, 0.075, MAX_GPU_CHUNK) == int(2.5 * (1 << 30))
    assert next_chunk(1 << 14, 1 << 14, 20.0, 0.075, MAX_GPU_CHUNK) == MIN_CHUNK  # compiling
    assert next_chunk(MAX_GPU_CHUNK, MAX_GPU_CHUNK, 0.001, 0.075, MAX_GPU_CHUNK) == MAX_GPU_CHUNK
    assert next_chunk(1 << 20, 1 << 20, 0.0, 0.075, MAX_GPU_CHUNK) == 8 << 20


def test_the_views_name_each_gpu_and_its_rate():
    import io

    from rich.console import Console

    from coinium.mining.engine import MinerEvent
    from coinium.mining.stats import MinerStats
    from coinium.mining_client.display import LiveDisplay, describe

    labels = ["cpu 0", "gpu 1 (NVIDIA H200)"]
    start = MinerEvent("start", {"processes": 1, "pids": [11, 22], "payout": "00", "gpus": [1],
                                 "labels": labels})  # fmt: skip
    assert describe(start) == ("started 1 CPU worker processes and 1 GPU worker: "
                               "gpu 1 (NVIDIA H200) (pids [11, 22])")  # fmt: skip
    stats = MinerStats(2)
    stats.add_hashes(0, 500_000_000)
    stats.add_hashes(1, 180_000_000_000)
    console = Console(file=io.StringIO(), width=120, force_terminal=False)
    view = LiveDisplay(stats, "http://127.0.0.1:19443", console)
    view(start)
    console.print(view.render())
    text = console.file.getvalue()
    gpu_row = next(line for line in text.splitlines() if "gpu 1 (NVIDIA H200)" in line)
    assert " 22 " in gpu_row and "H/s" in gpu_row and "180,000,000,000" in gpu_row
    cpu_row = next(line for line in text.splitlines() if line.startswith("cpu 0"))
    assert " 11 " in cpu_row and "500,000,000" in cpu_row
