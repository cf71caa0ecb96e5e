"""`coinium node` as people run it: start, serve, refuse a shared datadir, stop cleanly."""

from __future__ import annotations

import signal
import stat

import pytest
from nodeproc import NodeProcess, wait_until

from coinium.chain.chainstate import ChainState
from coinium.core.params import REGTEST

PASSPHRASE_ENV = {"COINIUM_WALLET_PASSPHRASE": "correct horse battery staple"}


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_node_serves_then_stops_cleanly(start_node, stop_signal):
    node = start_node()
    assert node.rpc("getblockcount") == 0
    assert stat.S_IMODE(node.cookie_path.stat().st_mode) == 0o600
    assert node.cookie_path.read_text().startswith("__cookie__:")
    assert (node.datadir / "debug.log").exists()

    node.signal(stop_signal)
    assert node.wait_exit() == 0
    assert not node.cookie_path.exists()
    # The datadir reopens cleanly: lock released, chain intact.
    with ChainState(node.datadir, REGTEST) as chain:
        assert chain.height == 0


def test_rpc_stop_shuts_the_node_down(start_node):
    node = start_node()
    assert node.rpc("stop") == "Coinium server stopping"
    assert node.wait_exit() == 0
    assert not node.cookie_path.exists()


def test_second_node_on_the_same_datadir_is_refused(start_node, tmp_path):
    first = start_node("shared")
    second = NodeProcess(tmp_path / "shared", "regtest")
    second.start(wait=False)
    try:
        assert second.wait_exit(60) != 0
        assert "another coinium process" in second.output()
        assert first.rpc("getblockcount") == 0  # the first one is unaffected
    finally:
        second.stop()


def test_mine_on_regtest_creates_an_address_and_mines(start_node):
    node = start_node(extra_args=("--mine", "--mine-interval", "0.1", "--miner-processes", "1"),
                      env=PASSPHRASE_ENV)  # fmt: skip
    wait_until(lambda: node.rpc("getblockcount") >= 3, timeout=60, message="3 mined blocks")
    printed = [line for line in node.output().splitlines() if line.startswith("mining to rcn1")]
    assert printed, node.output()
    address = printed[0].split()[2]
    account = node.rpc("getaccount", address)
    assert account["balance_units"] >= 3 * 50 * 10**8


def test_config_file_is_read_and_flags_win(start_node, tmp_path):
    base = tmp_path / "configured"
    (base).mkdir()
    (base / "coinium.toml").write_text('rpc_port = 1\n[regtest]\nlog_level = "debug"\n')
    node = NodeProcess(base, "regtest")  # passes --rpc-port, which wins over the file's 1
    node.start()
    try:
        assert node.rpc("getblockcount") == 0
        assert "DEBUG" in (node.datadir / "debug.log").read_text()
    finally:
        assert node.stop() == 0


@pytest.mark.parametrize(
    "toml, message",
    [
        ("miner_processes = 'many'\n", "miner_processes: expected a whole number"),
        ("no_such_setting = 1\n", "unknown setting 'no_such_setting'"),
        ("rpc_port = [\n", "not valid TOML"),
        ("zmqpubhashblock = 'nowhere'\n", "is not a ZeroMQ endpoint"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path, toml, message):
    base = tmp_path / "bad"
    base.mkdir()
    (base / "coinium.toml").write_text(toml)
    node = NodeProcess(base, "regtest")
    node.start(wait=False)
    try:
        assert node.wait_exit(60) != 0
        assert message in node.output()
    finally:
        node.stop()
