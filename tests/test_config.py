"""Typed configuration: flags win over coinium.toml, which wins over defaults; bad values are
refused with the key named."""

from __future__ import annotations

import pytest

from coinium.config import ConfigError, ZmqPublisher, build_options


def write(tmp_path, text: str):
    (tmp_path / "coinium.toml").write_text(text)


def test_defaults(tmp_path):
    options = build_options("regtest", tmp_path)
    assert options.rpc_port == 19443 and options.rpc_bind == "127.0.0.1"
    assert options.datadir == tmp_path / "regtest"
    assert not options.mine and options.zmq == ()


def test_main_lives_in_the_base_datadir(tmp_path):
    assert build_options("main", tmp_path).datadir == tmp_path


def test_file_then_network_section_then_flags(tmp_path):
    write(tmp_path, 'rpc_port = 1000\nmine = true\n[regtest]\nrpc-port = 2000\n'
                    'zmqpubhashblock = "tcp://127.0.0.1:28332"\nzmqpubhashblockhwm = 5\n')
    options = build_options("regtest", tmp_path)
    assert options.rpc_port == 2000 and options.mine
    assert options.zmq == (ZmqPublisher("hashblock", "tcp://127.0.0.1:28332", 5),)
    assert build_options("test", tmp_path).rpc_port == 1000  # [regtest] does not apply
    assert build_options("regtest", tmp_path, {"rpc_port": 3000, "mine": None}).rpc_port == 3000


@pytest.mark.parametrize(
    "text, message",
    [
        ("rpc_port = 70000\n", "rpc_port: expected a whole number from 0 to 65535"),
        ("mine = 'perhaps'\n", "mine: expected true or false"),
        ("bogus = 1\n", "unknown setting 'bogus'"),
        ("log_level = 'loud'\n", "log_level: expected one of"),
        ("rpc_auth = 'alice'\n", "rpcauth: 'alice' is not user:salt$hash"),
        ("mine_interval = -1\n", "mine_interval: expected 0 to 3600 seconds"),
        ("[regtest]\nrpc_port = 'x'\n", "rpc_port: expected a whole number"),
        ("regtest = 5\n", "[regtest] must be a table"),
        ("=\n", "not valid TOML"),
    ],
)
def test_bad_values_name_the_key(tmp_path, text, message):
    write(tmp_path, text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("$", r"\$")):
        build_options("regtest", tmp_path)


def test_unknown_network(tmp_path):
    with pytest.raises(ConfigError, match="unknown network 'moon'"):
        build_options("moon", tmp_path)
