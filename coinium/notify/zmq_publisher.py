"""Publish chain and mempool events on ZeroMQ PUB sockets, exactly as bitcoind's ZMQ interface.

One notifier per configured (topic, address). Every message is three frames::

    [topic]  [body]  [sequence: u32 little-endian]

- ``hashblock``: the tip changed and at least one block was connected; the tip's 32-byte hash.
  Only the new tip is announced, even after a reorg of many blocks.
- ``rawblock``: same trigger; ``Block.encode()`` of the tip.
- ``hashtx``: a transaction entered the mempool, and again for every transaction of each
  connected *and* each disconnected block (so one transaction can be sent several times);
  the 32-byte txid.
- ``rawtx``: same trigger as ``hashtx``; ``Transaction.raw``.
- ``sequence``: every block connected or disconnected and every mempool add or remove.
- ``nft`` (ours): each NFT mint, transfer, burn and sale of a connected or disconnected block,
  as JSON (`coinium.notify.nft_events`).
- ``finalized`` (ours): the finalized checkpoint moved (Casper FFG), seen at a tip update: the
  checkpoint's 32-byte hash then its height, u32 little-endian (36 bytes).
- ``contract`` (ours): every event a connected block's contract transactions emitted, in
  block order: the event record's key (contract id 20 | height u64 BE | sequence u32 BE) then
  its value (txid 32 | topic length u8 | topic | data), as `coinium.contracts.records` decodes
  them. A reorg re-sends the events of the blocks it connects; those of the blocks it
  disconnects are gone with them (watch ``sequence`` for ``D``).
- ``proposal`` (ours): a governance proposal appeared or changed status, seen at a tip update (a
  reorg's included): proposal id u32 LE, status u8 (0 deposit, 1 voting, 2 passed, 3 executed,
  4 rejected, 5 vetoed, 6 expired), tip height u32 LE (9 bytes).

``sequence`` bodies: ``<hash>C`` (block connected), ``<hash>D`` (block disconnected),
``<txid>A<mempool seq u64 LE>`` (added to the mempool), ``<txid>R<mempool seq u64 LE>`` (removed
for any reason but inclusion in a block: the block's ``C`` already says so, as in bitcoind).
Hashes are sent in the order RPC shows them, which for Coinium is the hash's natural byte order.

Each notifier has its own sequence counter, starting at 0 and advancing only after a send that
ZeroMQ accepted; it wraps at 2**32 and resets when the node restarts. Subscribers spot lost
messages as gaps. Note that a PUB socket never refuses a message for a slow subscriber: ZeroMQ
drops it silently for that subscriber once its queue passes the high-water mark, and the counter
still advances, which is exactly the gap the subscriber sees.

Topics that name the same address share one socket (as bitcoind does); its send high-water mark
is the largest of theirs (0, "unlimited", counts as the largest), so no topic gets a smaller
queue than it asked for. ``getzmqnotifications`` still reports each notifier's own setting.

All calls come from the node's event-loop thread. Sends never block (``zmq.NOBLOCK``), so plain
synchronous sockets are fine there, and a failure is logged, never raised into the node.
"""

from __future__ import annotations

import logging
import math
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import zmq

from coinium.contracts.records import Receipt
from coinium.contracts.transactions import CONTRACT_KINDS
from coinium.core.block import Block
from coinium.core.governance.records import DEPOSIT, PASSED, VOTING
from coinium.core.state import NS_CONTRACT_EVENT, NS_CONTRACT_RECEIPT
from coinium.notify.nft_events import nft_events

log = logging.getLogger("coinium.zmq")

TOPICS = ("hashblock", "hashtx", "rawblock", "rawtx", "sequence", "nft", "finalized",
          "contract", "proposal")
# Long enough to flush the last notifications at shutdown, short enough never to hold it up.
LINGER_MS = 100
# A full queue during a burst would otherwise log one line per dropped message.
DROP_WARNING_INTERVAL_S = 10.0

_SEQUENCE = struct.Struct("<I")
_MORE = int(zmq.SNDMORE | zmq.NOBLOCK)  # ints: pyzmq's flag enums do their | in Python
_LAST = int(zmq.NOBLOCK)
_MEMPOOL_SEQUENCE = struct.Struct("<Q")
_U32_MASK = 0xFFFFFFFF
_PROPOSAL = struct.Struct("<IBI")  # proposal id, status, tip height
# Given proposal ids to look at besides the open ones: the tip's (height, {id: status}).
ProposalStatuses = Callable[[Sequence[int]], tuple[int, dict[int, int]]]


class NotifierError(Exception):
    """The notifier cannot start (an endpoint that cannot be bound, an unknown topic)."""


class PublisherSpec(Protocol):
    """What a notifier needs from its configuration (`coinium.config.ZmqPublisher` fits)."""

    @property
    def topic(self) -> str: ...

    @property
    def address(self) -> str: ...

    @property
    def hwm(self) -> int: ...


@dataclass(slots=True)
class _Notifier:
    """One (topic, address) publisher with its own sequence counter."""

    topic: str
    address: str
    hwm: int
    socket: zmq.Socket
    sequence: int = 0
    dropped: int = 0
    last_drop_warning: float = -math.inf
    topic_bytes: bytes = b""

    def __post_init__(self) -> None:
        self.topic_bytes = self.topic.encode()

    def send(self, body: bytes) -> bool:
        # Three sends with plain int flags rather than send_multipart: a node publishes hashtx
        # for every admitted and every confirmed transaction, and send_multipart's loop and
        # its enum flag arithmetic cost 4 us a message against 1.5 (a third of admitting one).
        # A PUB socket takes a message whole or drops it whole (ZeroMQ's multipart atomicity).
        send = self.socket.send
        try:
            send(self.topic_bytes, _MORE)
            send(body, _MORE)
            send(_SEQUENCE.pack(self.sequence), _LAST)
        except zmq.ZMQError as exc:  # zmq.Again (queue full) included
            self._dropped(exc)
            return False
        self.sequence = (self.sequence + 1) & _U32_MASK
        return True

    def _dropped(self, exc: zmq.ZMQError) -> None:
        self.dropped += 1
        now = time.monotonic()
        if now - self.last_drop_warning >= DROP_WARNING_INTERVAL_S:
            self.last_drop_warning = now
            log.warning(
                "zmq: unable to publish %s on %s (%s); %d message(s) dropped so far",
                self.topic, self.address, zmq.strerror(exc.errno), self.dropped,
            )  # fmt: skip


class ZmqNotifier:
    """A `ChainListener` and `MempoolListener` that publishes bitcoind's ZMQ topics.

    Binds every address at construction and raises `NotifierError` if one cannot be bound.
    ``context``: a ZeroMQ context to use (kept open by `close`); without one the notifier makes
    its own and terminates it in `close`. Coinium's own topics read what they need through
    the constructor: ``address_prefix`` (``nft`` shows addresses), ``finalized_block`` (the
    chain's ``(height, hash)`` of its finalized checkpoint, read at each tip update) and
    ``read_record`` (one state record after the tip, ``ChainState.get_record``: ``contract``
    reads each connected block's receipts and events);
    ``proposal_statuses`` (given proposal ids to look at besides the open ones, the tip's
    ``(height, {id: status})``, read at each tip update).
    """

    def __init__(
        self, publishers: Sequence[PublisherSpec], context: zmq.Context | None = None,
        address_prefix: str = "cn",
        finalized_block: Callable[[], tuple[int, bytes]] | None = None,
        read_record: Callable[[int, bytes], bytes | None] | None = None,
        proposal_statuses: ProposalStatuses | None = None,
    ) -> None:
        self._address_prefix = address_prefix
        self._finalized_block = finalized_block
        self._proposal_statuses = proposal_statuses
        # Announce changes from here on.
        self._last_finalized = finalized_block() if finalized_block is not None else None
        self._read_record = read_record
        self._proposals_seen = proposal_statuses(())[1] if proposal_statuses is not None else {}
        self._own_context = context is None
        self._context = zmq.Context() if context is None else context
        self._sockets: dict[str, zmq.Socket] = {}
        self._notifiers: list[_Notifier] = []
        self._by_topic: dict[str, list[_Notifier]] = {topic: [] for topic in TOPICS}
        # bitcoind sends no *block message when the tip moved back without connecting anything
        # (invalidateblock): tip_updated publishes only after a block_connected.
        self._connected_since_tip = False
        self._closed = False
        try:
            self._open(_unique(publishers))
        except BaseException:
            self.close()
            raise

    def _open(self, publishers: list[PublisherSpec]) -> None:
        for spec in publishers:
            if spec.topic not in TOPICS:
                known = ", ".join(TOPICS)
                raise NotifierError(f"unknown ZMQ topic {spec.topic!r} (known: {known})")
        by_address: dict[str, list[PublisherSpec]] = {}
        for spec in publishers:
            by_address.setdefault(spec.address, []).append(spec)
        for address, specs in by_address.items():
            self._sockets[address] = self._bind(address, specs)
        for spec in publishers:
            notifier = _Notifier(spec.topic, spec.address, spec.hwm, self._sockets[spec.address])
            self._notifiers.append(notifier)
            self._by_topic[spec.topic].append(notifier)
            log.info("zmq: publishing %s on %s (hwm %d)", spec.topic, spec.address, spec.hwm)

    def _bind(self, address: str, specs: list[PublisherSpec]) -> zmq.Socket:
        hwms = [spec.hwm for spec in specs]
        hwm = 0 if 0 in hwms else max(hwms)  # 0 means unlimited: the largest queue of all
        sock = self._context.socket(zmq.PUB)
        try:
            sock.setsockopt(zmq.SNDHWM, hwm)
            sock.setsockopt(zmq.LINGER, LINGER_MS)
            sock.setsockopt(zmq.TCP_KEEPALIVE, 1)  # notice dead subscribers behind NATs
            if _is_ipv6(address):
                sock.setsockopt(zmq.IPV6, 1)
            sock.bind(address)
        except zmq.ZMQError as exc:
            sock.close(linger=0)
            names = ", ".join(f"zmqpub{spec.topic}" for spec in specs)
            reason = zmq.strerror(exc.errno)  # without the address pyzmq appends to strerror
            raise NotifierError(f"cannot bind {names} to {address}: {reason}") from exc
        return sock

    # --- what the node and RPC ask ------------------------------------------------------------
    def notifications(self) -> list[dict[str, object]]:
        """The ``getzmqnotifications`` result: one entry per active notifier."""
        return [{"type": f"pub{n.topic}", "address": n.address, "hwm": n.hwm}
                for n in self._notifiers]  # fmt: skip

    def close(self) -> None:
        """Close every socket (and the context if this notifier made it). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()
        if self._own_context:
            self._context.term()

    # --- ChainListener ------------------------------------------------------------------------
    def block_connected(self, block: Block) -> None:
        for tx in block.transactions:
            self._transaction(tx.txid, tx.raw)
        self._publish("sequence", block.hash + b"C")
        self._nft(block, True)
        self._connected_since_tip = True
        if self._by_topic["contract"] and self._read_record is not None:
            self._contract_events(block)

    def block_disconnected(self, block: Block) -> None:
        # bitcoind re-announces the transactions of a disconnected block on hashtx/rawtx too.
        for tx in block.transactions:
            self._transaction(tx.txid, tx.raw)
        self._publish("sequence", block.hash + b"D")
        self._nft(block, False)

    def tip_updated(self, tip: Block) -> None:
        self._finalized()
        self._proposals()
        if not self._connected_since_tip:
            return
        self._connected_since_tip = False
        self._publish("hashblock", tip.hash)
        if self._by_topic["rawblock"]:  # encoding a large block is not free
            self._publish("rawblock", tip.encode())

    # --- MempoolListener ----------------------------------------------------------------------
    def transaction_added(self, tx_raw: bytes, txid: bytes, mempool_sequence: int) -> None:
        self._transaction(txid, tx_raw)
        self._publish("sequence", txid + b"A" + _MEMPOOL_SEQUENCE.pack(mempool_sequence))

    def transaction_removed(
        self, tx_raw: bytes, txid: bytes, reason: str, mempool_sequence: int
    ) -> None:
        if reason.lower() == "block":  # the block's "C" covers it, as in bitcoind
            return
        self._publish("sequence", txid + b"R" + _MEMPOOL_SEQUENCE.pack(mempool_sequence))

    def _contract_events(self, block: Block) -> None:
        read = self._read_record
        assert read is not None
        for tx in block.transactions:
            if tx.kind not in CONTRACT_KINDS:
                continue
            raw = read(NS_CONTRACT_RECEIPT, tx.txid)
            for key in Receipt.decode(raw).events if raw is not None else ():
                value = read(NS_CONTRACT_EVENT, key)
                if value is not None:
                    self._publish("contract", key + value)

    # --- sending ------------------------------------------------------------------------------
    def _transaction(self, txid: bytes, raw: bytes) -> None:
        self._publish("hashtx", txid)
        self._publish("rawtx", raw)

    def _nft(self, block: Block, connected: bool) -> None:
        if self._by_topic["nft"]:
            for body in nft_events(block, connected, self._address_prefix):
                self._publish("nft", body)

    def _finalized(self) -> None:
        if self._finalized_block is None or not self._by_topic["finalized"]:
            return
        height, block_hash = finalized = self._finalized_block()
        if finalized != self._last_finalized:
            self._last_finalized = finalized
            self._publish("finalized", block_hash + struct.pack("<I", height))

    def _proposals(self) -> None:
        # The open proposals and those open at the last update (one that closed, or that a reorg
        # took back): each whose status differs from the last update's is announced.
        if self._proposal_statuses is None or not self._by_topic["proposal"]:
            return
        height, now = self._proposal_statuses(tuple(self._proposals_seen))
        for pid, status in now.items():
            if self._proposals_seen.get(pid) != status:
                self._publish("proposal", _PROPOSAL.pack(pid, status, height))
        self._proposals_seen = {pid: s for pid, s in now.items() if s in (DEPOSIT, VOTING, PASSED)}

    def _publish(self, topic: str, body: bytes) -> None:
        if self._closed:
            return
        for notifier in self._by_topic[topic]:
            notifier.send(body)


def _unique(publishers: Sequence[PublisherSpec]) -> list[PublisherSpec]:
    """Drop a repeated (topic, address): two notifiers there would send every message twice."""
    seen: set[tuple[str, str]] = set()
    unique = []
    for spec in publishers:
        if (spec.topic, spec.address) in seen:
            log.warning("zmq: zmqpub%s=%s given twice; publishing once", spec.topic, spec.address)
            continue
        seen.add((spec.topic, spec.address))
        unique.append(spec)
    return unique


def _is_ipv6(address: str) -> bool:
    # bitcoind turns ZMQ_IPV6 on only for IPv6 endpoints: tcp://[::1]:28332
    return address.startswith("tcp://[")
