"""The mempool policy as configured: flags and coinium.toml into MempoolPolicy, defaults, errors."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from coinium.config import ConfigError, build_options
from coinium.mempool.policy import MempoolPolicy


def test_defaults(tmp_path):
    options = build_options("regtest", tmp_path)
    assert options.mempool == MempoolPolicy()
    assert options.persist_mempool is True
    policy = options.mempool
    assert (policy.min_relay_fee_rate, policy.incremental_relay_fee_rate) == (1000, 1000)
    assert policy.max_bytes == 300_000_000 and policy.expiry_seconds == 336 * 3600
    assert (policy.max_future_per_sender, policy.max_future_txs) == (25, 5000)


def test_flags_and_file(tmp_path):
    (tmp_path / "coinium.toml").write_text(
        "maxmempool = 50\n[regtest]\nmempoolexpiry = 24\npersistmempool = false\n")
    flags = {"minrelaytxfee": 500, "incrementalrelayfee": 200, "max_future_per_sender": 5,
             "max_future_txs": 10, "maxmempool": 60}
    options = build_options("regtest", tmp_path, flags)
    assert options.mempool == MempoolPolicy(500, 200, 60_000_000, 24 * 3600, 5, 10)
    assert options.persist_mempool is False
    assert build_options("main", tmp_path).mempool.max_bytes == 50_000_000


@pytest.mark.parametrize("flags", [{"maxmempool": 1}, {"minrelaytxfee": -1},
                                   {"mempoolexpiry": "soon"}, {"persistmempool": "maybe"}])
def test_bad_values(tmp_path, flags):
    with pytest.raises(ConfigError):
        build_options("regtest", tmp_path, flags)


def test_node_command_has_the_flags():
    from coinium.cli import main

    text = CliRunner().invoke(main, ["node", "--help"]).output
    for flag in ("--minrelaytxfee", "--incrementalrelayfee", "--maxmempool", "--mempoolexpiry",
                 "--max-future-per-sender", "--max-future-txs", "--persistmempool"):
        assert flag in text
