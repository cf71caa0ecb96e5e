"""``coinium mine``'s pieces that need no node: options, the views of events, ZMQ addresses."""

from __future__ import annotations

import io
import json

from click.testing import CliRunner
from helpers import key
from rich.console import Console

from coinium.cli import main
from coinium.core.params import MAIN, REGTEST
from coinium.crypto.address import encode_address
from coinium.mining.engine import MinerEvent
from coinium.mining.stats import MinerStats
from coinium.mining_client.display import JsonSink, LineSink, LiveDisplay, describe
from coinium.mining_client.node_link import reachable_zmq_address

ADDRESS = encode_address(REGTEST.address_prefix, key(5).account)


def run(*args: str):
    return CliRunner().invoke(main, ["mine", *args])


def test_the_command_is_registered_and_documents_its_options():
    result = run("--help")
    assert result.exit_code == 0
    for option in ("--rpc", "--rpc-cookie", "--rpc-user", "--address", "--processes", "--zmq",
                   "--max-blocks", "--interval", "--json", "--local-target"):  # fmt: skip
        assert option in result.output


def test_bad_options_are_refused_before_anything_starts():
    assert "Invalid value for --address" in run("--address", "rcn1nonsense").output
    assert run("--address", ADDRESS, "--rpc-user", "u").exit_code == 1  # bitcoind: 1
    assert "not both" in run("--address", ADDRESS, "--rpc-user", "u", "--rpc-password", "p",
                             "--rpc-cookie", "/x").output  # fmt: skip
    wrong = run("--address", encode_address(MAIN.address_prefix, key(5).account),
                "--network", "regtest")  # fmt: skip
    assert wrong.exit_code == 1 and "a main address, but --network regtest" in wrong.output
    assert run("--address", ADDRESS, "--local-target", "xyz").exit_code == 1
    assert run("--address", ADDRESS, "--processes", "0").exit_code == 1


def test_json_lines_carry_every_event():
    stream = io.StringIO()
    sink = JsonSink(stream)
    sink(MinerEvent("accepted", {"hash": "ab" * 32, "height": 7}, t=12.5, wall=1000.0))
    sink(MinerEvent("rejected", {"hash": "cd" * 32, "height": 8, "reason": "high-hash"}))
    first, second = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert first == {"event": "accepted", "time": 1000.0, "t_mono": 12.5, "hash": "ab" * 32,
                     "height": 7}  # fmt: skip
    assert second["event"] == "rejected" and second["reason"] == "high-hash"


def test_plain_lines_say_what_matters_and_skip_the_chatter():
    stream = io.StringIO()
    sink = LineSink(stream)
    sink(MinerEvent("rejected", {"hash": "cd" * 32, "height": 8, "reason": "bad-cb-amount"}))
    sink(MinerEvent("switched", {"generation": 3, "trigger": "newtip", "job_ms": 4.0}))
    sink(MinerEvent("hashrate", {"hashrate": 1.0, "workers": [1.0]}))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and "REJECTED" in lines[0] and "bad-cb-amount" in lines[0]
    assert describe(MinerEvent("stale", {"hash": "ef" * 32, "reason": "newtip"})) is not None


def test_the_live_view_shows_rates_blocks_and_the_last_rejection():
    stats = MinerStats(2)
    stats.add_hashes(0, 5_000_000)
    stats.add_hashes(1, 7_000_000)
    stats.set(height=12, target=(1 << 255) - 1, connected=True, last_reject="high-hash")
    stats.bump("found", 3)
    stats.bump("accepted", 2)
    stats.bump("rejected")
    stats.add_switch(0.012, 0.015)
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    view = LiveDisplay(stats, "http://127.0.0.1:19443", console)
    view(MinerEvent("start", {"processes": 2, "pids": [111, 222], "payout": "00"}))
    view(MinerEvent("notify", {"mode": "zmq", "address": "tcp://127.0.0.1:28332"}))
    view(MinerEvent("rejected", {"hash": "cd" * 32, "height": 8, "reason": "high-hash"}))
    console.print(view.render())
    text = console.file.getvalue()
    for expected in ("height 12", "zmq tcp://127.0.0.1:28332", "111", "222", "total",
                     "3 found, 2 accepted, 1 rejected", "last rejection: high-hash",
                     "15.0 ms median", "REJECTED"):  # fmt: skip
        assert expected in text, expected


def test_a_wildcard_zmq_bind_is_reached_at_the_rpc_host():
    assert reachable_zmq_address("tcp://0.0.0.0:28332", "http://10.1.2.3:19443") \
        == "tcp://10.1.2.3:28332"
    assert reachable_zmq_address("tcp://*:28332", "http://[::1]:19443") == "tcp://[::1]:28332"
    assert reachable_zmq_address("tcp://127.0.0.1:28332", "http://10.1.2.3:1") \
        == "tcp://127.0.0.1:28332"
    assert reachable_zmq_address("ipc:///tmp/x", "http://h:1") == "ipc:///tmp/x"
