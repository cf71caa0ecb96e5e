"""What a new operator hit (issue 17): every bad flag, key or taken port is one ``Error:`` line and
exit status 1 before anything starts; the clients read the node's coinium.toml; the node reports
its real relay fees and logs the miner's address."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from nodeproc import REPO_ROOT, free_port, wait_until

from coinium.core.params import REGTEST
from coinium.crypto.address import encode_address
from coinium.crypto.keys import PrivateKey

MINER = encode_address(REGTEST.address_prefix, PrivateKey((7).to_bytes(32, "big")).account)


def coinium(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "coinium", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)  # fmt: skip


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> str:
    """Exit status 1, no traceback, and an ``Error:`` line that holds every word."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, output
    for word in words:
        assert word in errors[0], output
    return errors[0]


def node_args(base, *extra: str) -> list[str]:
    return ["node", "--datadir", str(base), "--network", "regtest", "--bind", "127.0.0.1",
            "--rpc-port", str(free_port()), "--p2p-port", str(free_port()), *extra]  # fmt: skip


@pytest.fixture
def taken_port():
    """A port another process (this test) listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_taken_ports_are_one_line_before_anything_starts(tmp_path, taken_port):
    port = str(taken_port)
    cases = [
        (["--p2p-port", port], "--p2p-port"),
        (["--p2p-pub-port", port], "--p2p-pub-port"),
        (["--rpc-port", port], "--rpc-port"),
        (["--zmqpubhashblock", f"tcp://127.0.0.1:{port}"], "--zmqpubhashblock"),
    ]
    for extra, flag in cases:
        result = coinium(*node_args(tmp_path, *extra))
        line = assert_one_line_error(result, flag, port, "in use")
        # Checked before anything started: no chain was opened, no RPC cookie written.
        assert not (tmp_path / "regtest" / "chain").exists(), line
        assert not (tmp_path / "regtest" / ".cookie").exists()


def test_unparsable_zmq_endpoints_and_bad_miner_address_are_refused(tmp_path):
    for endpoint in ("tcp://127.0.0.1:x", "tcp://127.0.0.1", "udp://1.2.3.4:5", "tcp://h:70000"):
        assert_one_line_error(coinium(*node_args(tmp_path, "--zmqpubrawtx", endpoint)),
                              "zmqpubrawtx")  # fmt: skip
    for address in ("rcn1nonsense", "cn1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", "x"):
        result = coinium(*node_args(tmp_path, "--mine", "--miner-address", address))
        assert_one_line_error(result, "miner_address")
    assert not (tmp_path / "regtest" / ".cookie").exists()


def test_every_bad_flag_and_toml_key_is_one_line_naming_it(tmp_path):
    bad_flags = [
        (["--rpc-port", "abc"], "--rpc-port"), (["--rpc-port", "70000"], "rpc_port"),
        (["--maxconnections", "-5"], "maxconnections"),
        (["--mine-interval", "x"], "--mine-interval"),
        (["--log-level", "loud"], "log_level"), (["--frob"], "--frob"),
        (["--connect", "nokey@1.2.3.4:5"], "connect"), (["--maxmempool", "1"], "maxmempool"),
        (["--rpcauth", "bob"], "rpcauth"), (["--zmqpubhashtxhwm", "-1"], "zmqpubhashtxhwm"),
    ]  # fmt: skip
    for extra, name in bad_flags:
        assert_one_line_error(coinium(*node_args(tmp_path, *extra)), name)
    toml = tmp_path / "coinium.toml"
    bad_keys = [
        ("rpc_port = 'x'", "rpc_port"), ("mine = 3", "mine"), ("frobnicate = 1", "frobnicate"),
        ("bantime = 0", "bantime"), ("zmqpubhashblock = 'tcp://a'", "zmqpubhashblock"),
        ("[regtest]\nminer_address = 'rcn1bad'", "miner_address"), ("rpc_port = [", "TOML"),
        ("externalip = [1]", "externalip"), ("persistmempool = 'maybe'", "persistmempool"),
    ]  # fmt: skip
    for text, name in bad_keys:
        toml.write_text(text + "\n")
        assert_one_line_error(coinium("node", "--datadir", str(tmp_path), "--network", "regtest"),
                              name)  # fmt: skip
        # the clients read the same file and say the same
        assert_one_line_error(coinium("rpc", "--datadir", str(tmp_path), "--network", "regtest",
                                      "getblockcount"), name)  # fmt: skip


def test_rpc_refuses_unknown_options_instead_of_calling_them(tmp_path):
    for option in ("--frob", "--rpcport=19443", "-rpcport=1"):
        result = coinium("rpc", "--datadir", str(tmp_path), option, "getblockcount")
        assert_one_line_error(result, "No such option", option.partition("=")[0])
    result = coinium("rpc", "--datadir", str(tmp_path), "--network", "regtest", "--frob")
    assert_one_line_error(result, "--frob")


def test_clients_read_rpc_port_from_coinium_toml(start_node, tmp_path):
    node = start_node(extra_args=("--mine", "--miner-address", MINER, "--miner-processes", "1",
                                  "--mine-interval", "0.2"))  # fmt: skip
    (node.base_dir / "coinium.toml").write_text(f"[regtest]\nrpc_port = {node.rpc_port}\n")
    common = ["--datadir", str(node.base_dir), "--network", "regtest"]
    count = coinium("rpc", *common, "getblockcount")
    assert count.returncode == 0, count.stderr
    assert int(count.stdout) >= 0
    env_pass = {"COINIUM_WALLET_PASSPHRASE": "a long enough passphrase 42"}
    os.environ.update(env_pass)
    try:
        created = coinium("wallet", "create", "w", *common, "--kdf-opslimit", "1",
                          "--kdf-memlimit", "8192")  # fmt: skip
        assert created.returncode == 0, created.stderr
        balance = coinium("wallet", "balance", "w", *common)
        assert balance.returncode == 0, balance.stderr
    finally:
        for key in env_pass:
            os.environ.pop(key)
    mined = coinium("mine", "--datadir", str(node.base_dir), "--address", MINER,
                    "--processes", "1", "--max-blocks", "1", "--zmq", "off")  # fmt: skip
    assert mined.returncode == 0, mined.stderr
    # The node's miner names its address in the log, not a hex account id.
    wait_until(lambda: f"to {MINER}" in (node.datadir / "debug.log").read_text(),
               message="the miner's address in debug.log")


def test_getnetworkinfo_reports_the_fees_the_node_enforces(start_node):
    node = start_node(extra_args=("--minrelaytxfee", "2500", "--incrementalrelayfee", "1500"))
    info = node.rpc("getnetworkinfo")
    assert info["relayfee"] == 0.000025 and info["incrementalfee"] == 0.000015
    assert node.rpc("getmempoolinfo")["minrelaytxfee"] == info["relayfee"]


def test_getblock_takes_bitcoind_verbose_alias(start_node):
    node = start_node()
    genesis = node.rpc("getblockhash", 0)
    body = (b'{"jsonrpc":"1.0","id":1,"method":"getblock","params":{"blockhash":"%s",'
            b'"verbose":0}}' % genesis.encode())  # fmt: skip
    status, _, raw = node.http(body, {"Authorization": node.auth_header()})
    assert status == 200 and raw.startswith(b'{"result":"'), raw
    body = (b'{"jsonrpc":"1.0","id":1,"method":"getblock","params":{"blockhash":"%s",'
            b'"verbose":true,"verbosity":1}}' % genesis.encode())  # fmt: skip
    status, _, raw = node.http(body, {"Authorization": node.auth_header()})
    assert b"specified multiple times" in raw
