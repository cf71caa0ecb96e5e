"""One peer: its connection, health, reputation, rate limits and priority send queue.

Outgoing messages on the request link wait in a per-peer priority queue: control messages
(handshake, ping, requests) first, then blocks, headers, transactions and addresses, in that
order, each class first-in first-out. The queue is bounded in bytes; when full, transactions and
addresses are shed (gossip is repaired by pull), blocks and control messages are kept (their
number is bounded by what the peer may ask for at once). A byte budget (token bucket) limits how
fast one peer's queue drains, so one greedy peer cannot take the whole link.

Incoming messages pass a token bucket per message class before they are decoded; a message over
the limit is dropped and costs the peer a flooding penalty (`coinium.p2p.scoring`).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import OrderedDict, defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import TypeVar

from coinium.p2p.messages import MsgType, Tip, Version
from coinium.p2p.scoring import Reputation
from coinium.p2p.sendwindow import SendWindow
from coinium.p2p.transport import Connection, PeerAddress

T = TypeVar("T")


class Priority(IntEnum):
    CONTROL = 0  # version, verack, ping, pong, getheaders, getdata, notfound, mempool
    BLOCK = 1
    HEADERS = 2
    TX = 3  # transactions and their inventories
    ADDR = 4


PRIORITY: dict[MsgType, Priority] = {
    MsgType.VERSION: Priority.CONTROL, MsgType.VERACK: Priority.CONTROL,
    MsgType.PING: Priority.CONTROL, MsgType.PONG: Priority.CONTROL,
    MsgType.GETHEADERS: Priority.CONTROL, MsgType.GETDATA: Priority.CONTROL,
    MsgType.NOTFOUND: Priority.CONTROL, MsgType.MEMPOOL: Priority.CONTROL,
    MsgType.GETADDR: Priority.CONTROL,
    MsgType.CHECKADDR: Priority.CONTROL, MsgType.CHECKADDRREPLY: Priority.CONTROL,
    MsgType.BLOCK: Priority.BLOCK, MsgType.CMPCTBLOCK: Priority.BLOCK,
    MsgType.BLOCKTXN: Priority.BLOCK, MsgType.GETBLOCKTXN: Priority.CONTROL,
    MsgType.HEADERS: Priority.HEADERS,
    MsgType.TX: Priority.TX, MsgType.INV: Priority.TX, MsgType.TXS: Priority.TX,
    MsgType.ADDR: Priority.ADDR,
}  # fmt: skip

# Transactions we relay to one peer: a second's worth, and a burst, below what its receive limit
# (RATE_LIMITS[TX]) allows, so an honest relay never costs us a flooding penalty. What waits
# beyond the burst stays in the peer's relay backlog (at most TX_BACKLOG_MAX, oldest shed:
# gossip is repaired by pull).
TX_SEND_RATE = 16_000.0
TX_SEND_BURST = 40_000.0
TX_BACKLOG_MAX = 20_000  # about 3.5 MB of transfers per peer

SEND_QUEUE_BYTES = 64 << 20
SEND_RATE_BYTES = 256 << 20  # per second, per peer
SEND_BURST_BYTES = 64 << 20


class TokenBucket:
    """``rate`` tokens a second, holding at most ``burst``."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float, now: float | None = None):
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic() if now is None else now

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def take(self, amount: float = 1.0, now: float | None = None) -> bool:
        self._refill(time.monotonic() if now is None else now)
        if self.tokens >= amount:
            self.tokens -= amount
            return True
        return False

    def take_up_to(self, amount: int, now: float | None = None) -> int:
        """Take as many whole tokens as there are, up to ``amount``; how many it took."""
        self._refill(time.monotonic() if now is None else now)
        count = min(amount, int(self.tokens))
        self.tokens -= count
        return count

    def wait_time(self, amount: float, now: float | None = None) -> float:
        """Seconds until ``amount`` tokens are there (0 if now)."""
        self._refill(time.monotonic() if now is None else now)
        missing = min(amount, self.burst) - self.tokens
        return 0.0 if missing <= 0 else missing / self.rate


class RateClass(Enum):
    PING = "ping"
    REQUEST = "request"
    ADDR = "addr"
    TX = "tx"
    BLOCK = "block"
    OTHER = "other"


RATE_CLASS: dict[MsgType, RateClass] = {
    MsgType.PING: RateClass.PING, MsgType.PONG: RateClass.PING,
    MsgType.CHECKADDR: RateClass.PING, MsgType.CHECKADDRREPLY: RateClass.PING,
    MsgType.GETHEADERS: RateClass.REQUEST, MsgType.GETDATA: RateClass.REQUEST,
    MsgType.GETADDR: RateClass.REQUEST, MsgType.MEMPOOL: RateClass.REQUEST,
    MsgType.ADDR: RateClass.ADDR,
    MsgType.TX: RateClass.TX, MsgType.INV: RateClass.TX, MsgType.TXS: RateClass.TX,
    MsgType.BLOCK: RateClass.BLOCK, MsgType.CMPCTBLOCK: RateClass.BLOCK,
    MsgType.BLOCKTXN: RateClass.BLOCK, MsgType.GETBLOCKTXN: RateClass.REQUEST,
    MsgType.VERSION: RateClass.OTHER, MsgType.VERACK: RateClass.OTHER,
    MsgType.HEADERS: RateClass.OTHER, MsgType.NOTFOUND: RateClass.OTHER,
}  # fmt: skip
# (messages a second, burst; for TX, transactions: a TXS message costs its count). Honest traffic
# stays far below: a ping every few seconds, a handful of requests per block, transactions at the
# rate the whole network makes them (a sender keeps under `TX_SEND_RATE`).
RATE_LIMITS: dict[RateClass, tuple[float, float]] = {
    RateClass.PING: (2.0, 20.0),
    RateClass.REQUEST: (200.0, 1000.0),
    RateClass.ADDR: (1.0, 10.0),
    RateClass.TX: (20_000.0, 50_000.0),
    RateClass.BLOCK: (10_000.0, 10_000.0),
    RateClass.OTHER: (200.0, 1000.0),
}


class SendQueue:
    """A bounded priority queue of frames (lowest priority value first, FIFO within a class)."""

    def __init__(self, max_bytes: int = SEND_QUEUE_BYTES):
        self.max_bytes = max_bytes
        self.bytes = 0
        self.dropped = 0
        self._heap: list[tuple[int, int, bytes]] = []
        self._seq = itertools.count()
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._heap)

    def put(self, frame: bytes, priority: Priority) -> bool:
        """Queue a frame; False if it was shed (a full queue only takes blocks and control)."""
        if self.bytes + len(frame) > self.max_bytes and priority >= Priority.TX:
            self.dropped += 1
            return False
        heapq.heappush(self._heap, (int(priority), next(self._seq), frame))
        self.bytes += len(frame)
        self._ready.set()
        return True

    def pop_nowait(self) -> bytes | None:
        if not self._heap:
            return None
        _, _, frame = heapq.heappop(self._heap)
        self.bytes -= len(frame)
        if not self._heap:
            self._ready.clear()
        return frame

    async def get(self, bulk_allowed: Callable[[], bool] | None = None) -> bytes:
        """The next frame; while ``bulk_allowed()`` says no, only control frames come out."""
        while True:
            if self._heap and (self._heap[0][0] == Priority.CONTROL or bulk_allowed is None
                               or bulk_allowed()):  # fmt: skip
                frame = self.pop_nowait()
                assert frame is not None
                return frame
            self._ready.clear()
            await self._ready.wait()

    def wake(self) -> None:
        """Something a waiting `get` depends on changed (the send window opened)."""
        self._ready.set()

    def clear(self) -> None:
        self._heap.clear()
        self.bytes = 0
        self._ready.clear()


class BoundedSet:
    """A set that forgets its oldest members beyond ``limit`` (known inventory, seen nonces)."""

    def __init__(self, limit: int):
        self.limit = limit
        self._items: OrderedDict[bytes, None] = OrderedDict()

    def add(self, item: bytes) -> None:
        self._items[item] = None
        self._items.move_to_end(item)
        if len(self._items) > self.limit:
            self._items.popitem(last=False)

    def update(self, items: Iterable[bytes]) -> None:
        """`add` for each of ``items``, in order."""
        members, limit = self._items, self.limit
        for item in items:
            members[item] = None
            members.move_to_end(item)
            if len(members) > limit:
                members.popitem(last=False)

    def add_new(self, pairs: list[tuple[bytes, T]]) -> list[tuple[bytes, T]]:
        """The ``(item, value)`` pairs whose item is not a member at its turn, in order; each
        becomes one then (as `add` one at a time: the oldest beyond the limit go)."""
        members, limit = self._items, self.limit
        new = []
        for pair in pairs:
            if pair[0] not in members:
                members[pair[0]] = None
                new.append(pair)
                if len(members) > limit:
                    members.popitem(last=False)
        return new

    def discard_all(self, items: Iterable[bytes]) -> None:
        if self._items:
            pop = self._items.pop
            for item in items:
                pop(item, None)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def discard(self, item: bytes) -> None:
        self._items.pop(item, None)

    def __len__(self) -> int:
        return len(self._items)


class PeerState(Enum):
    CONNECTING = "connecting"  # outbound: dialled, our VERSION queued
    HANDSHAKE = "handshake"  # VERSION seen on one side, VERACK pending
    ACTIVE = "active"
    CLOSED = "closed"


@dataclass(slots=True)
class Stats:
    conn_time: int = field(default_factory=lambda: int(time.time()))
    bytes_sent: int = 0
    bytes_recv: int = 0
    last_send: int = 0
    last_recv: int = 0
    last_recv_mono: float = field(default_factory=time.monotonic)
    last_block: int = 0  # last novel block from this peer (unix seconds)
    last_transaction: int = 0
    sent_per_msg: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    recv_per_msg: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def sent(self, kind: str, size: int) -> None:
        self.bytes_sent += size
        self.sent_per_msg[kind] += size
        self.last_send = int(time.time())

    def received(self, kind: str, size: int) -> None:
        self.bytes_recv += size
        self.recv_per_msg[kind] += size
        self.last_recv = int(time.time())
        self.last_recv_mono = time.monotonic()


@dataclass(slots=True)
class PingState:
    nonce: int | None = None
    sent_at: float = 0.0  # monotonic
    last_rtt: float | None = None
    min_rtt: float | None = None

    def answered(self, nonce: int, now: float) -> float | None:
        if self.nonce is None or nonce != self.nonce:
            return None
        rtt = now - self.sent_at
        self.nonce = None
        self.last_rtt = rtt
        self.min_rtt = rtt if self.min_rtt is None else min(self.min_rtt, rtt)
        return rtt


class Peer:
    """Everything we hold about one connection. The manager owns the sockets' tasks."""

    def __init__(self, peer_id: int, inbound: bool, *, key: bytes | None = None,
                 address: PeerAddress | None = None, conn_type: str = "inbound",
                 ip: str = "") -> None:  # fmt: skip
        self.id = peer_id
        self.inbound = inbound
        self.key = key if key is not None else (address.key if address else b"")
        self.address = address  # outbound: what we dialled
        self.conn_type = conn_type  # inbound, manual, outbound-full-relay, addr-fetch
        self.ip = ip or (address.host if address else "")
        self.state = PeerState.CONNECTING
        self.version: Version | None = None
        self.version_sent = False
        self.verack_received = False
        self.tip = Tip(0, bytes(32), 0)  # the peer's best block, as it last told us
        self.best_known_height = 0  # max of its tip and of the headers it sent
        self.reputation = Reputation(0.0, time.monotonic())
        self.stats = Stats()
        self.ping = PingState()
        self.buckets = {cls: TokenBucket(rate, burst) for cls, (rate, burst) in RATE_LIMITS.items()}
        self.addr_records = TokenBucket(10.0, 1000.0)  # address records, not messages
        self.send_bytes = TokenBucket(SEND_RATE_BYTES, SEND_BURST_BYTES)
        self.queue = SendQueue()
        self.window = SendWindow()  # bulk bytes in flight to it (see `coinium.p2p.sendwindow`)
        self.known = BoundedSet(50_000)  # hashes this peer has or was sent (no echo)
        self.in_flight: dict[bytes, float] = {}  # block hash -> monotonic request time
        self.not_found: BoundedSet = BoundedSet(10_000)  # blocks it said it lacks
        self.tx_requested: BoundedSet = BoundedSet(50_000)
        self.tx_backlog: deque[tuple[bytes, bytes]] = deque()  # (txid, raw) waiting to be relayed
        self.tx_send = TokenBucket(TX_SEND_RATE, TX_SEND_BURST)  # transactions, not bytes
        self.subscribed = False  # its SUB is on our XPUB: it gets our gossip there
        self.gossip_connected = False  # our SUB is on its XPUB
        self.routing_id: bytes | None = None  # inbound: its routing id on our ROUTER
        self.router_conn: Connection | None = None
        self.xpub_conn: Connection | None = None
        self.dealer = None  # outbound: our DEALER to it
        self.sub = None  # our SUB on its gossip port
        self.tasks: list[asyncio.Task] = []
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.inbox_bytes = 0
        self.getaddr_answered = False
        self.last_mempool_request = 0.0
        self.unconnecting = 0
        self.created = time.monotonic()
        self.disconnect_reason = ""

    @property
    def key_hex(self) -> str:
        return self.key.hex()

    @property
    def active(self) -> bool:
        return self.state == PeerState.ACTIVE

    def score(self, now: float | None = None) -> float:
        return self.reputation.score(time.monotonic() if now is None else now)

    def note_tip(self, tip: Tip) -> None:
        if tip.work >= self.tip.work:
            self.tip = tip
        self.best_known_height = max(self.best_known_height, tip.height)

    def __repr__(self) -> str:
        direction = "in" if self.inbound else "out"
        return f"<peer {self.id} {direction} {self.key_hex[:12]} {self.ip}>"
