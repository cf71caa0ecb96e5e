"""``coinium watch``: subscribe to a node's ZMQ notifications and print them as they arrive.

One line per notification (or one JSON object per line with ``--json``). Raw topics are decoded
(block: height, hash, transaction count; transaction: txid, kind, amount, fee); bytes that do not
decode give a warning line, never a crash. Each (address, topic) keeps its own 4-byte sequence
number, so from the second message on the watcher reports every gap (messages the publisher sent
that this subscriber lost, for instance past a high-water mark) and every reset (the node
restarted and counts from 0 again).

Warnings go to stdout with the notifications, so a gap shows where it happened in the stream.
Exit status: 0 after ``--count`` messages, after an idle ``--timeout`` or on Ctrl-C; 1 when
``--timeout`` ends the watch before ``--count`` messages arrived; 2 on bad arguments.
"""

from __future__ import annotations

import json
import math
import struct
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click
import zmq

from coinium.contracts.records import decode_event
from coinium.core.block import Block
from coinium.core.kinds import KINDS
from coinium.core.transaction import Transaction
from coinium.core.units import format_amount
from coinium.notify.zmq_publisher import TOPICS

# Generous, so a burst (a block with thousands of txs) is not lost while the terminal catches up.
RCVHWM = 100_000
POLL_MS = 200  # how often a quiet loop wakes up to check --timeout and Ctrl-C
_SEQUENCE_LABELS = {
    ord("C"): "block connected",
    ord("D"): "block disconnected",
    ord("A"): "mempool add",
    ord("R"): "mempool remove",
}
_MEMPOOL_SEQUENCE = struct.Struct("<Q")
_HALF_U32 = 1 << 31


class SequenceTracker:
    """Remembers the last sequence number per (address, topic) and reports what went missing."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], int] = {}

    def observe(self, address: str, topic: str, sequence: int) -> dict[str, Any] | None:
        """A warning event for a gap or a reset before this message, or None."""
        key = (address, topic)
        last = self._last.get(key)
        self._last[key] = sequence
        if last is None:  # the first message we see: we joined mid-stream, nothing is missing
            return None
        expected = (last + 1) & 0xFFFFFFFF
        missed = (sequence - expected) & 0xFFFFFFFF
        if missed == 0:
            return None
        if missed < _HALF_U32:
            plural = "message" if missed == 1 else "messages"
            return {"warning": "gap", "address": address, "topic": topic, "missed": missed,
                    "message": f"gap: missed {missed} {plural} on {topic}"}  # fmt: skip
        # Far "ahead" means it went back: the publisher restarted and counts from 0 again.
        return {"warning": "reset", "address": address, "topic": topic,
                "message": f"sequence on {topic} went back from {last} to {sequence} "
                           "(node restarted?)"}  # fmt: skip


def describe(topic: str, body: bytes) -> dict[str, Any]:
    """The fields shown for one notification body; raises ValueError if it cannot be read."""
    if topic in ("hashblock", "hashtx"):
        if len(body) != 32:
            raise ValueError(f"expected a 32-byte hash, got {len(body)} bytes")
        return {"hash" if topic == "hashblock" else "txid": body.hex()}
    if topic == "rawblock":
        block = Block.decode(body)
        return {"hash": block.hash.hex(), "height": block.height,
                "tx_count": len(block.transactions), "size": len(body)}  # fmt: skip
    if topic == "rawtx":
        tx = Transaction.decode(body)
        return {"txid": tx.txid.hex(), "kind": KINDS[tx.kind].name,
                "amount": format_amount(tx.amount), "fee": format_amount(tx.fee)}  # fmt: skip
    if topic == "sequence":
        return _describe_sequence(body)
    if topic == "contract":
        event = decode_event(body[:32], body[32:]) if len(body) >= 65 else None
        if event is None:
            raise ValueError(f"not a contract event ({len(body)} bytes)")
        return {"contract": event["contract"].hex(), "height": event["height"],
                "txid": event["txid"].hex(), "event": event["topic"].decode("utf-8", "replace"),
                "data": event["data"].hex()}  # fmt: skip
    raise ValueError(f"unexpected topic ({len(body)} bytes)")


def _describe_sequence(body: bytes) -> dict[str, Any]:
    if len(body) < 33 or body[32] not in _SEQUENCE_LABELS:
        raise ValueError(f"not a sequence body ({len(body)} bytes)")
    label = body[32]
    event = _SEQUENCE_LABELS[label]
    if label in (ord("C"), ord("D")):
        if len(body) != 33:
            raise ValueError(f"{event}: expected 33 bytes, got {len(body)}")
        return {"event": event, "hash": body[:32].hex()}
    if len(body) != 41:
        raise ValueError(f"{event}: expected 41 bytes, got {len(body)}")
    (mempool_sequence,) = _MEMPOOL_SEQUENCE.unpack_from(body, 33)
    return {"event": event, "txid": body[:32].hex(), "mempool_sequence": mempool_sequence}


def interpret(address: str, frames: Sequence[bytes], tracker: SequenceTracker) -> list[dict]:
    """The events (warnings first, then the notification) one received message gives."""
    if len(frames) != 3 or len(frames[2]) != 4:
        sizes = ", ".join(str(len(f)) for f in frames)
        message = f"malformed message: {len(frames)} frames ({sizes} bytes)"
        return [{"warning": "malformed", "address": address, "message": message}]
    topic = frames[0].decode("ascii", errors="replace")
    body = frames[1]
    sequence = int.from_bytes(frames[2], "little")
    events = []
    gap = tracker.observe(address, topic, sequence)
    if gap is not None:
        events.append(gap)
    note: dict[str, Any] = {"address": address, "topic": topic, "sequence": sequence}
    try:
        note.update(describe(topic, body))
    except Exception as exc:  # a tool prints what it cannot read; it never dies on it
        events.append({"warning": "decode", "address": address, "topic": topic,
                       "sequence": sequence, "message": f"{topic} #{sequence}: cannot decode "
                       f"{len(body)}-byte body: {exc}"})  # fmt: skip
        return events
    events.append(note)
    return events


def render(event: dict[str, Any], show_address: bool) -> str:
    """One human-readable line (without the time)."""
    where = f"  @ {event['address']}" if show_address else ""
    if "warning" in event:
        return f"warning: {event['message']}" + (
            f" from {event['address']}" if event["warning"] in ("gap", "reset") else where
        )
    topic, head = event["topic"], f"{event['topic']} #{event['sequence']}"
    if topic == "hashblock":
        text = f"{head} {event['hash']}"
    elif topic == "hashtx":
        text = f"{head} {event['txid']}"
    elif topic == "rawblock":
        s = "" if event["tx_count"] == 1 else "s"
        text = (f"{head} block {event['hash']} height {event['height']}, "
                f"{event['tx_count']} tx{s}, {event['size']} bytes")  # fmt: skip
    elif topic == "rawtx":
        text = (f"{head} tx {event['txid']} {event['kind']} amount {event['amount']} "
                f"fee {event['fee']}")  # fmt: skip
    elif topic == "contract":
        text = (f"{head} {event['event']} from {event['contract']} at height {event['height']} "
                f"(tx {event['txid']}) {event['data']}")  # fmt: skip
    elif "mempool_sequence" in event:
        text = f"{head} {event['event']} {event['txid']} (mempool seq {event['mempool_sequence']})"
    else:
        text = f"{head} {event['event']} {event['hash']}"
    return text + where


def _parse_topics(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[str, ...]:
    topics = tuple(dict.fromkeys(t.strip() for t in value.split(",") if t.strip()))
    unknown = [t for t in topics if t not in TOPICS]
    if unknown or not topics:
        raise click.BadParameter(f"{', '.join(unknown) or 'none given'}: "
                                 f"choose from {','.join(TOPICS)}")  # fmt: skip
    return topics


@click.command("watch")
@click.option(
    "--zmq",
    "addresses",
    multiple=True,
    metavar="ADDRESS",
    help="A node's ZMQ endpoint, e.g. tcp://127.0.0.1:28332 (repeat for several). Default: "
    "the zmqpub* endpoints in the node's coinium.toml.",
)
@click.option("--datadir", type=click.Path(file_okay=False), default=None,
              help="Base data directory, for the node's coinium.toml [default: ~/.coinium].")
@click.option("--network", type=click.Choice(["main", "test", "regtest"]), default="main",
              show_default=True, help="The node's network (its config section).")
@click.option(
    "--topics",
    default=",".join(TOPICS),
    show_default=True,
    callback=_parse_topics,
    help="Comma-separated topics to subscribe to.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@click.option(
    "--count", type=click.IntRange(min=1), default=None, help="Exit after this many messages."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Exit after this many seconds without a message.",
)
def watch_command(
    addresses: tuple[str, ...],
    datadir: str | None,
    network: str,
    topics: tuple[str, ...],
    as_json: bool,
    count: int | None,
    timeout: float | None,
) -> None:
    """Print a node's ZMQ notifications live and flag lost messages (sequence gaps)."""
    if not addresses:
        addresses = _configured_endpoints(datadir, network)
    addresses = tuple(dict.fromkeys(addresses))
    context = zmq.Context()
    sockets: dict[zmq.Socket, str] = {}
    try:
        poller = zmq.Poller()
        for address in addresses:
            sock = _subscribe(context, address, topics)
            sockets[sock] = address
            poller.register(sock, zmq.POLLIN)
        received = _watch(poller, sockets, as_json, count, timeout, len(addresses) > 1)
    except KeyboardInterrupt:
        return  # Ctrl-C is how a watch usually ends
    finally:
        for sock in sockets:
            sock.close(linger=0)
        context.term()
    if count is not None and received < count:
        raise click.exceptions.Exit(1)  # --timeout came first: a script waiting for N failed


def _configured_endpoints(datadir: str | None, network: str) -> tuple[str, ...]:
    """The endpoints the node publishes on, read from its config file."""
    from coinium.config import CONFIG_FILE, ConfigError, build_options

    try:
        options = build_options(network, datadir)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    endpoints = tuple(p.address for p in options.zmq)
    if not endpoints:
        raise click.UsageError(f"no --zmq given and no zmqpub* endpoints in "
                               f"{options.base_datadir / CONFIG_FILE}")  # fmt: skip
    return endpoints


def _subscribe(context: zmq.Context, address: str, topics: tuple[str, ...]) -> zmq.Socket:
    sock = context.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, RCVHWM)
    sock.setsockopt(zmq.TCP_KEEPALIVE, 1)
    if address.startswith("tcp://["):
        sock.setsockopt(zmq.IPV6, 1)
    for topic in topics:
        sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
    try:
        sock.connect(address)
    except zmq.ZMQError as exc:
        sock.close(linger=0)
        raise click.BadParameter(f"cannot connect to {address}: {zmq.strerror(exc.errno)}",
                                 param_hint="--zmq") from None  # fmt: skip
    return sock


def _watch(
    poller: zmq.Poller,
    sockets: dict[zmq.Socket, str],
    as_json: bool,
    count: int | None,
    timeout: float | None,
    show_address: bool,
) -> int:
    """Print messages until --count is reached or --timeout passes quietly; how many came."""
    tracker = SequenceTracker()
    received = 0
    last_message = time.monotonic()
    while count is None or received < count:
        wait_ms = POLL_MS
        if timeout is not None:
            left = last_message + timeout - time.monotonic()
            if left <= 0:
                click.echo(f"watch: no notification for {timeout:g} s; stopping", err=True)
                break
            wait_ms = min(POLL_MS, max(1, math.ceil(left * 1000)))
        ready = dict(poller.poll(wait_ms))
        if ready:
            last_message = time.monotonic()
        for sock in ready:
            if count is not None and received >= count:
                break
            frames = sock.recv_multipart()
            received += 1
            for event in interpret(sockets[sock], frames, tracker):
                _emit(event, as_json, show_address)
    return received


def _emit(event: dict[str, Any], as_json: bool, show_address: bool) -> None:
    now = datetime.now(UTC)
    if as_json:
        click.echo(json.dumps({"time": now.isoformat(timespec="milliseconds"), **event}))
    else:
        stamp = now.astimezone().strftime("%H:%M:%S.%f")[:-3]
        click.echo(f"{stamp} {render(event, show_address)}")
