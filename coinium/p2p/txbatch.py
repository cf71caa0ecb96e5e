"""Transaction relay in batches, at a bounded rate per peer.

What the mempool takes in one step of the event loop (an RPC batch, a TXS message, orphans that a
parent released; a batch admission that awaits its signatures in several steps counts as one) is
collected as the mempool announces it and sent when that step is over: one
TXS frame per `MAX_TXS` transactions (and `MAX_TXS_BYTES`) to peers of protocol 3, a TX frame
each to older ones. A lone transaction therefore goes out at once, as before; a thousand go out
as one frame instead of a thousand, and the receiver checks their signatures in one batch.

Transactions go on each peer's request link, never on the XPUB (which blocks still use): the
XPUB reaches every subscriber alike, so a batch would go back to the peer it came from and to
peers that announced it, and each of those copies costs the receiver a decode and a dedupe. Per
peer, the known-inventory filter (`Peer.known`, as bitcoind's) holds what it sent us, announced
to us, or was sent: a peer never gets a transaction back. Each peer has a budget of
`TX_SEND_RATE` transactions a second (burst `TX_SEND_BURST`), below what its receive limit
allows; what is over budget waits in a backlog (bounded, oldest shed: a peer that misses a
transaction gets it by pull, MEMPOOL or a compact block's round trip) and goes out when tokens
come back.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from coinium.core.codec import u16
from coinium.p2p.messages import MAX_TXS, MAX_TXS_BYTES, TX_BATCH_VERSION, MsgType
from coinium.p2p.peer import (
    TX_BACKLOG_MAX,
    Peer,
    Priority,
    TokenBucket,
)

if TYPE_CHECKING:
    from coinium.p2p.manager import PeerManager

MIN_RETRY_S = 0.005
BATCH_WAIT_S = 0.001  # how often a flush looks again while a batch admission is under way


def takes_batches(peer: Peer) -> bool:
    return peer.version is not None and peer.version.protocol >= TX_BATCH_VERSION


def tx_frames(items: Iterable[tuple[bytes, bytes]], batched: bool) -> list[bytes]:
    """The frames that carry ``items`` ((txid, raw) pairs): TXS frames within both caps, or a TX
    frame each."""
    if not batched:
        tx_type = bytes((MsgType.TX,))
        return [tx_type + raw for _, raw in items]
    frames: list[bytes] = []
    raws: list[bytes] = []
    size = 0
    for _, raw in items:
        if raws and (len(raws) == MAX_TXS or size + len(raw) > MAX_TXS_BYTES):
            frames.append(_txs_frame(raws))
            raws, size = [], 0
        raws.append(raw)
        size += len(raw)
    if raws:
        frames.append(_txs_frame(raws))
    return frames


def _txs_frame(raws: list[bytes]) -> bytes:
    return bytes((MsgType.TXS,)) + u16(len(raws)) + b"".join(raws)


class TxBatcher:
    """Collects what the mempool took, sends it in batches within every peer's budget."""

    def __init__(self, host: PeerManager) -> None:
        self.host = host
        self._outbox: list[tuple[bytes, bytes, Peer | None]] = []
        self._removed_since_flush = False
        self._flush_scheduled = False
        self._timers: set[int] = set()  # peers with a drain already scheduled
        self.frames_sent = 0

    def add(self, txid: bytes, raw: bytes, source: Peer | None) -> None:
        """A transaction the mempool took (``source``: the peer it came from, if any)."""
        self._outbox.append((txid, raw, source))
        if self._flush_scheduled:
            return
        self._flush_scheduled = True
        try:
            asyncio.get_running_loop().call_soon(self.flush)
        except RuntimeError:  # no event loop (a direct call): now
            self.flush()

    def removed(self) -> None:
        """The mempool let transactions go (a removal, a new tip): what waits to be relayed is
        checked against it before it goes."""
        if self._outbox:
            self._removed_since_flush = True

    def flush(self) -> None:
        self._flush_scheduled = False
        items, self._outbox = self._outbox, []
        if self.host.hooks.mempool.batches_admitting:
            # A batch admission awaits its next signatures: send full frames now, the rest
            # with what follows.
            full = len(items) - len(items) % MAX_TXS
            items, self._outbox = items[:full], items[full:]
            self._flush_scheduled = True
            asyncio.get_running_loop().call_later(BATCH_WAIT_S, self.flush)
            if not items:
                return
        gossip, mempool = self.host.gossip, self.host.hooks.mempool
        if self._removed_since_flush:
            # Not what the same step replaced or evicted again: nobody could use it.
            self._removed_since_flush = bool(self._outbox)
            items = [item for item in items if item[0] in mempool]
        first = gossip.txs_relayed.add_all([txid for txid, _, _ in items])
        fresh = [item for item, new in zip(items, first, strict=True) if new]
        if not fresh:
            return
        gossip.relayed["tx"] += len(fresh)
        for peer in self.host.active_peers():
            unsent = peer.known.add_new([(txid, raw) for txid, raw, source in fresh
                                         if source is not peer])  # fmt: skip
            if not unsent:
                continue
            peer.tx_backlog.extend(unsent)
            _shed(peer.tx_backlog)
            self._drain(peer)

    def _drain(self, peer: Peer) -> None:
        backlog = peer.tx_backlog
        if not peer.active:
            backlog.clear()
            return
        items = _take(backlog, peer.tx_send)
        for frame in tx_frames(items, takes_batches(peer)) if items else ():
            peer.queue.put(frame, Priority.TX)
            self.frames_sent += 1
        if backlog:
            self._later(peer.id, peer.tx_send, lambda: self._drain(peer))

    def _later(self, key: int, bucket: TokenBucket, drain: Callable[[], None]) -> None:
        if key in self._timers:
            return
        self._timers.add(key)

        def wake() -> None:
            self._timers.discard(key)
            drain()

        delay = max(bucket.wait_time(min(MAX_TXS, bucket.burst)), MIN_RETRY_S)
        asyncio.get_running_loop().call_later(delay, wake)


def _take(backlog: deque[tuple[bytes, bytes]], bucket: TokenBucket) -> list[tuple[bytes, bytes]]:
    """As many of the oldest items as the budget allows now."""
    count = bucket.take_up_to(len(backlog))
    if count == len(backlog):
        items = list(backlog)
        backlog.clear()
        return items
    return [backlog.popleft() for _ in range(count)]


def _shed(backlog: deque[tuple[bytes, bytes]]) -> None:
    while len(backlog) > TX_BACKLOG_MAX:
        backlog.popleft()
