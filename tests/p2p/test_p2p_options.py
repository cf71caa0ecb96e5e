"""The peer-to-peer settings: flags and coinium.toml into NodeOptions.p2p."""

from __future__ import annotations

import pytest

from coinium.config import ConfigError, build_options

KEY = "ab" * 32


def test_defaults(tmp_path):
    p2p = build_options("regtest", tmp_path, {}).p2p
    assert (p2p.listen, p2p.bind, p2p.pub_port, p2p.max_connections, p2p.ban_time) == \
        (True, "0.0.0.0", 0, 125, 86400)  # fmt: skip
    assert p2p.connect == p2p.addnode == p2p.seednode == p2p.externalip == ()


def test_flags_and_file(tmp_path):
    (tmp_path / "coinium.toml").write_text(
        f'[regtest]\naddnode = ["{KEY}@10.0.0.1:19444"]\nbantime = 60\nlisten = false\n')
    options = build_options("regtest", tmp_path, {
        "connect": (f"{KEY}@[::1]:1",), "maxconnections": 10, "p2p_pub_port": 20000,
        "externalip": ("203.0.113.5",),
    })  # fmt: skip
    p2p = options.p2p
    assert p2p.addnode == (f"{KEY}@10.0.0.1:19444",) and p2p.connect == (f"{KEY}@[::1]:1",)
    assert (p2p.ban_time, p2p.listen, p2p.max_connections, p2p.pub_port) == (60, False, 10, 20000)
    assert p2p.externalip == ("203.0.113.5",)


@pytest.mark.parametrize("flags", [
    {"connect": ("127.0.0.1:19444",)},  # no key
    {"addnode": (f"{KEY[:-1]}@h:1",)},
    {"bantime": 0},
    {"maxconnections": -1},
])  # fmt: skip
def test_bad_values_name_their_key(tmp_path, flags):
    with pytest.raises(ConfigError, match=next(iter(flags))):
        build_options("regtest", tmp_path, flags)
