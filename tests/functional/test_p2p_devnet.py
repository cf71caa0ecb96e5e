"""``coinium devnet``: a local network of node processes, shown live, all stopped at the end."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from nodeproc import REPO_ROOT

pytestmark = pytest.mark.slow


def test_devnet_starts_connects_mines_and_stops_everything(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "coinium", "devnet", "--nodes", "3", "--miners", "1",
         "--mine-interval", "0.3", "--duration", "8", "--topology", "line",
         "--datadir", str(tmp_path)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    addresses = re.findall(r"node \d: ([0-9a-f]{64}@127\.0\.0\.1:\d+)", out)
    assert len(addresses) == 3 and "stopping the nodes" in out
    # The final table: every node up, connected, on a chain the miner grew.
    rows = [line for line in out.splitlines() if re.match(r"^\W*\d\s*\W", line)]
    heights = [int(m) for m in re.findall(r"^\W*\d\s*\W\s*(\d+)\s", "\n".join(rows), re.M)]
    assert len(heights) >= 3 and max(heights) > 0, out
    # Every node process is gone: each one's LMDB lock file is free again.
    import fcntl

    for n in range(3):
        with open(tmp_path / f"node{n}" / "regtest" / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_a_second_ctrl_c_does_not_cut_the_cleanup_short():
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "400"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "coinium", "devnet", "--nodes", "2", "--miners", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    base = None
    try:
        for line in proc.stdout:
            match = re.search(r"datadirs in (\S+)", line)
            if match:
                base = match[1]
                break
        assert base is not None and os.path.isdir(base)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)  # the nodes are stopping (they take a moment): Ctrl-C again
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert not os.path.exists(base), out  # the temporary datadirs went: every node stopped
