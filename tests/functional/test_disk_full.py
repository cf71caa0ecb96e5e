"""A full disk (issue 10): the node, mining, on a small tmpfs that fills up, says so in one line
and shuts down cleanly (no half-dead miner left running); once space is back it starts where it
stopped. The tmpfs needs root (``mount``); elsewhere the test is skipped, saying why."""

from __future__ import annotations

import errno
import subprocess

import pytest
from conftest_keys import ALICE, address_of
from nodeproc import NodeProcess, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(disk)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(path) -> int:
    """Write until the filesystem is full; the bytes written."""
    written = 0
    chunk = b"\0" * (1 << 20)
    with open(path, "wb", buffering=0) as handle:
        while True:
            try:
                written += handle.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    with open(path, "ab", buffering=0) as handle:  # the last partial page, too
        while True:
            try:
                handle.write(b"\0" * 512)
            except OSError:
                return written


def test_a_full_disk_stops_the_node_cleanly_and_it_resumes(small_disk, tmp_path):
    node = NodeProcess(small_disk / "node", extra_args=[
        "--mine", f"--miner-address={address_of(ALICE)}", "--mine-interval=0.1"])
    node.log_path = tmp_path / "node.out"  # off the small disk, to read what it said
    try:
        node.start()
        wait_until(lambda: node.rpc("getblockcount") >= 3, timeout=30, message="blocks mined")
        fill(small_disk / "filler")
        # It stops by itself, promptly, instead of running on with its miner dead.
        code = node.wait_exit(timeout=40)
        output = node.output()
        assert code == 1, output[-2000:]
        assert output.count("disk space is too low") >= 1
        assert "Traceback" not in output and "--- Logging error ---" not in output
        # Space back: it starts where it stopped, and goes on.
        (small_disk / "filler").unlink()
        node.extra_args = []
        node.start()
        height = node.rpc("getblockcount")
        assert height >= 3
        node.rpc("generatetoaddress", 2, address_of(ALICE))
        assert node.rpc("getblockcount") == height + 2
    finally:
        node.stop()
