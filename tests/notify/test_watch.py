"""``coinium watch``: decoding, gap detection, and the command against real ZeroMQ publishers.

The hand-made publishers are XPUB sockets: they see the watcher's subscriptions arrive, so a test
publishes only once the watcher is listening (no slow-joiner sleeps), and it chooses every
sequence number itself to create gaps.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import zmq
from click.testing import CliRunner
from notify.notify_helpers import free_endpoint, seq

from coinium.chain.builder import generate
from coinium.config import ZmqPublisher
from coinium.core.params import REGTEST
from coinium.core.transaction import sign_transfer
from coinium.core.units import COIN
from coinium.notify.watch import SequenceTracker, describe, interpret, watch_command
from coinium.notify.zmq_publisher import TOPICS, ZmqNotifier

REPO_ROOT = Path(__file__).resolve().parents[2]
CHAIN_ID = REGTEST.chain_id
TIME = r"\d\d:\d\d:\d\d\.\d{3} "


@pytest.fixture
def zctx():
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


@pytest.fixture
def funded(chain, alice, bob):
    """A block holding a coinbase and a transfer of 1 coin with a 1000-unit fee."""
    generate(chain, 1, alice.account)
    tx = sign_transfer(alice, CHAIN_ID, bob.account, COIN, 1000, 0)
    [block] = generate(chain, 1, bob.account, [tx])
    return block, tx


class HandPublisher:
    """An XPUB socket that publishes frames exactly as given, once the subscribers are in."""

    def __init__(self, context: zmq.Context):
        self.address = free_endpoint()
        self.sock = context.socket(zmq.XPUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind(self.address)

    def wait_subscribed(self, topics=TOPICS, timeout: float = 10.0) -> None:
        want = {b"\x01" + t.encode() for t in topics}
        seen: set[bytes] = set()
        deadline = time.monotonic() + timeout
        while not want <= seen:
            left_ms = int((deadline - time.monotonic()) * 1000)
            assert left_ms > 0 and self.sock.poll(left_ms), f"no subscriber on {self.address}"
            seen.add(self.sock.recv())

    def send(self, topic: str, body: bytes, sequence: int) -> None:
        self.sock.send_multipart([topic.encode(), body, seq(sequence)])


def run_watch(args: list[str], feed: Callable[[], None]) -> tuple[int, str]:
    """Invoke the command in this thread while ``feed`` publishes from another."""
    failures: list[BaseException] = []

    def guarded() -> None:
        try:
            feed()
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    feeder = threading.Thread(target=guarded)
    feeder.start()
    try:
        result = CliRunner().invoke(watch_command, args, catch_exceptions=False)
    finally:
        feeder.join(timeout=15)
    assert not feeder.is_alive()
    if failures:
        raise failures[0]
    return result.exit_code, result.stdout


# --- pieces ---------------------------------------------------------------------------------
def test_tracker_reports_gaps_per_address_and_topic_and_wraps():
    tracker = SequenceTracker()
    assert tracker.observe("a", "hashblock", 41) is None  # joined mid-stream: no gap
    assert tracker.observe("a", "hashblock", 42) is None
    assert tracker.observe("a", "hashtx", 0) is None  # other topic, own counter
    assert tracker.observe("b", "hashblock", 7) is None  # other address, own counter
    gap = tracker.observe("a", "hashblock", 45)
    assert gap["warning"] == "gap" and gap["missed"] == 2
    assert gap["message"] == "gap: missed 2 messages on hashblock"
    assert tracker.observe("a", "hashtx", 2)["message"] == "gap: missed 1 message on hashtx"
    for n in (0xFFFFFFFE, 0xFFFFFFFF, 0, 1):  # the u32 wrap is not a gap
        assert tracker.observe("c", "sequence", n) is None
    assert tracker.observe("c", "sequence", 0xFFFFFFFF)["warning"] == "reset"
    assert tracker.observe("c", "sequence", 2)["missed"] == 2  # a gap across the wrap
    reset = tracker.observe("a", "hashblock", 0)
    assert reset["warning"] == "reset" and "went back from 45 to 0" in reset["message"]


def test_describe_real_block_and_transactions(funded):
    block, tx = funded
    assert describe("hashblock", block.hash) == {"hash": block.hash.hex()}
    assert describe("hashtx", tx.txid) == {"txid": tx.txid.hex()}
    assert describe("rawblock", block.encode()) == {
        "hash": block.hash.hex(), "height": 2, "tx_count": 2, "size": len(block.encode())
    }  # fmt: skip
    assert describe("rawtx", tx.raw) == {
        "txid": tx.txid.hex(), "kind": "transfer", "amount": "1.00000000", "fee": "0.00001000"
    }  # fmt: skip
    assert describe("rawtx", block.transactions[0].raw)["kind"] == "coinbase"
    assert describe("sequence", block.hash + b"D") == {
        "event": "block disconnected", "hash": block.hash.hex()
    }  # fmt: skip
    assert describe("sequence", tx.txid + b"R" + struct.pack("<Q", 2**40)) == {
        "event": "mempool remove", "txid": tx.txid.hex(), "mempool_sequence": 2**40
    }  # fmt: skip


@pytest.mark.parametrize(
    ("topic", "body"),
    [
        ("hashblock", b"\x00" * 31),
        ("rawblock", b"\x01\x02\x03"),
        ("rawtx", b"\x01\x09" + b"\x00" * 40),  # unknown kind
        ("sequence", b"\x00" * 32 + b"X"),
        ("sequence", b"\x00" * 32 + b"A"),  # no mempool sequence
        ("sequence", b"\x00" * 32 + b"C" + b"\x00"),
    ],
)
def test_undecodable_bodies_give_a_warning_not_a_crash(topic, body):
    events = interpret("tcp://x", [topic.encode(), body, seq(3)], SequenceTracker())
    assert len(events) == 1 and events[0]["warning"] == "decode"
    assert events[0]["message"].startswith(f"{topic} #3: cannot decode {len(body)}-byte body: ")


def test_message_without_three_frames_is_malformed():
    [event] = interpret("tcp://x", [b"hashblock", b"\x00" * 32], SequenceTracker())
    assert event["warning"] == "malformed" and "2 frames" in event["message"]


# --- the command ------------------------------------------------------------------------------
def test_watch_prints_each_topic_and_flags_gaps(zctx, funded):
    block, tx = funded
    pub = HandPublisher(zctx)
    mempool_add = tx.txid + b"A" + struct.pack("<Q", 7)

    def feed() -> None:
        pub.wait_subscribed()
        pub.send("hashblock", block.hash, 0)
        pub.send("hashblock", block.hash, 3)  # 1 and 2 never sent
        pub.send("rawblock", block.encode(), 0)
        pub.send("rawtx", tx.raw, 0)
        pub.send("rawtx", b"\x01\x07broken", 1)
        pub.send("sequence", block.hash + b"C", 0)
        pub.send("sequence", mempool_add, 1)
        pub.send("hashtx", tx.txid, 0)
        pub.send("hashtx", tx.txid, 2)

    code, out = run_watch(["--zmq", pub.address, "--count", "9", "--timeout", "10"], feed)
    assert code == 0
    lines = out.splitlines()
    assert all(re.match(TIME, line) for line in lines), out
    texts = [line.split(" ", 1)[1] for line in lines]
    size = len(block.encode())
    assert texts[:6] == [
        f"hashblock #0 {block.hash.hex()}",
        f"warning: gap: missed 2 messages on hashblock from {pub.address}",
        f"hashblock #3 {block.hash.hex()}",
        f"rawblock #0 block {block.hash.hex()} height 2, 2 txs, {size} bytes",
        f"rawtx #0 tx {tx.txid.hex()} transfer amount 1.00000000 fee 0.00001000",
        "warning: rawtx #1: cannot decode 8-byte body: tx.kind at byte 1: "
        "unknown transaction kind 7",
    ]
    assert texts[6:] == [
        f"sequence #0 block connected {block.hash.hex()}",
        f"sequence #1 mempool add {tx.txid.hex()} (mempool seq 7)",
        f"hashtx #0 {tx.txid.hex()}",
        f"warning: gap: missed 1 message on hashtx from {pub.address}",
        f"hashtx #2 {tx.txid.hex()}",
    ]


def test_watch_json_tracks_each_address_apart(zctx, funded):
    block, _ = funded
    pub_a, pub_b = HandPublisher(zctx), HandPublisher(zctx)

    def feed() -> None:
        pub_a.wait_subscribed(["hashblock"])
        pub_b.wait_subscribed(["hashblock"])
        pub_a.send("hashblock", block.hash, 0)
        pub_b.send("hashblock", block.hash, 0)  # same topic, other address: no gap
        pub_a.send("hashblock", block.hash, 1)
        pub_b.send("hashblock", block.hash, 5)

    args = ["--zmq", pub_a.address, "--zmq", pub_b.address, "--topics", "hashblock", "--json",
            "--count", "4", "--timeout", "10"]  # fmt: skip
    code, out = run_watch(args, feed)
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    for event in events:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", event.pop("time"))
    notes = [e for e in events if "warning" not in e]
    assert sorted((e["address"], e["sequence"]) for e in notes) == sorted(
        [(pub_a.address, 0), (pub_a.address, 1), (pub_b.address, 0), (pub_b.address, 5)]
    )
    assert all(e["topic"] == "hashblock" and e["hash"] == block.hash.hex() for e in notes)
    warnings = [e for e in events if "warning" in e]
    assert warnings == [
        {"warning": "gap", "address": pub_b.address, "topic": "hashblock", "missed": 4,
         "message": "gap: missed 4 messages on hashblock"}
    ]  # fmt: skip


def test_watch_timeout_before_count_fails_and_plain_timeout_succeeds():
    quiet = free_endpoint()  # nobody publishes there
    runner = CliRunner()
    result = runner.invoke(watch_command, ["--zmq", quiet, "--count", "1", "--timeout", "0.2"])
    assert result.exit_code == 1 and "no notification for 0.2 s" in result.stderr
    result = runner.invoke(watch_command, ["--zmq", quiet, "--timeout", "0.2"])
    assert result.exit_code == 0 and result.stdout == ""


def test_watch_refuses_unknown_topics():
    result = CliRunner().invoke(watch_command, ["--zmq", free_endpoint(), "--topics", "hashblok"])
    assert result.exit_code == 2 and "hashblok: choose from hashblock" in result.stderr


def test_watch_process_shows_a_real_notifier_then_stops_on_ctrl_c(chain, alice, bob):
    generate(chain, 1, alice.account)
    tx = sign_transfer(alice, CHAIN_ID, bob.account, COIN, 1000, 0)
    [block] = generate(chain, 1, bob.account, [tx])
    address = free_endpoint()
    notifier = ZmqNotifier([ZmqPublisher(topic, address) for topic in TOPICS])
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "COINIUM_KERNELS": "python"}
    code = "from coinium.notify.watch import watch_command; watch_command()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--zmq", address, "--timeout", "60"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in proc.stdout])
    reader.start()
    try:
        # Slow joiner: announce mempool transactions until the watcher prints one.
        deadline = time.monotonic() + 20
        mempool_sequence = 0
        while lines.empty():
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
            mempool_sequence += 1
            notifier.transaction_added(tx.raw, tx.txid, mempool_sequence)
            time.sleep(0.05)  # bounded by the deadline above
        notifier.block_connected(block)
        notifier.tip_updated(block)
        seen: list[str] = []
        wanted = f"rawblock #0 block {block.hash.hex()} height 2, 2 txs"
        while not any(wanted in line for line in seen):
            seen.append(lines.get(timeout=10))
        assert any(f"hashblock #0 {block.hash.hex()}" in line for line in seen)
        assert any(f"sequence #{mempool_sequence} block connected" in line for line in seen)
        assert not any("warning" in line for line in seen)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
        notifier.close()


def test_watch_reads_endpoints_from_the_node_config(tmp_path):
    endpoint = free_endpoint()
    (tmp_path / "coinium.toml").write_text(f'[regtest]\nzmqpubhashblock = "{endpoint}"\n')
    args = ["--datadir", str(tmp_path), "--network", "regtest", "--timeout", "0.2"]
    result = CliRunner().invoke(watch_command, args)
    assert result.exit_code == 0, result.output
    missing = CliRunner().invoke(watch_command, ["--datadir", str(tmp_path), "--network", "test"])
    assert missing.exit_code == 2 and "no zmqpub* endpoints" in missing.output
