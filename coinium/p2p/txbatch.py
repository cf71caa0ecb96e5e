"""Transaction relay in batches, at a bounded rate per peer.

What the mempool takes in one step of the event loop (an RPC batch, a TXS message, orphans that a
parent released; a batch admission that awaits its signatures in several steps counts as one) is
collected as the mempool announces it and sent when that step is over: one
TXS frame per `MAX_TXS` transactions (and `MAX_TXS_BYTES`) to peers of protocol 3, a TX frame
each to older ones. A lone transaction therefore goes out at once, as before; a thousand go out
as one frame instead of a thousand, and the receiver checks their signatures in one batch.

Paths as for every gossip (`coinium.p2p.gossip`): one XPUB send reaches every subscriber; a peer
that is not subscribed gets the frames on its request link, never the transactions it sent us or
already has. Each request-link peer has a budget of `TX_SEND_RATE` transactions a second (burst
`TX_SEND_BURST`), below what its receive limit allows; the XPUB has one budget of the same size
(every subscriber receives what it sends). What is over budget waits in a backlog (bounded,
oldest shed: a peer that misses a transaction gets it by pull, MEMPOOL or a compact block's
round trip) and goes out when tokens come back.
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
    TX_SEND_BURST,
    TX_SEND_RATE,
    Peer,
    Priority,
    TokenBucket,
)

if TYPE_CHECKING:
    from coinium.p2p.manager import PeerManager

_XPUB = -1  # the drain-timer key of the XPUB backlog (peer ids are >= 0)
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
        self._flush_scheduled = False
        self._xpub_backlog: deque[tuple[bytes, bytes]] = deque()
        self._xpub_send = TokenBucket(TX_SEND_RATE, TX_SEND_BURST)
        self._timers: set[int] = set()  # backlogs with a drain already scheduled
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
        # Not what the same step replaced or evicted again: nobody could use it.
        fresh = [item for item in items
                 if item[0] in mempool and gossip.txs_relayed.add(item[0])]  # fmt: skip
        if not fresh:
            return
        gossip.relayed["tx"] += len(fresh)
        via_xpub = gossip.publish is not None
        if via_xpub:
            self._xpub_backlog.extend((txid, raw) for txid, raw, _ in fresh)
            _shed(self._xpub_backlog)
            self._drain_xpub()
        for peer in self.host.active_peers():
            if via_xpub and peer.subscribed:
                for txid, _, _ in fresh:
                    peer.known.add(txid)
                continue
            known, backlog = peer.known, peer.tx_backlog
            for txid, raw, source in fresh:
                if source is peer or txid in known:
                    continue
                known.add(txid)
                backlog.append((txid, raw))
            _shed(backlog)
            self._drain(peer)

    def _drain_xpub(self) -> None:
        backlog, publish = self._xpub_backlog, self.host.gossip.publish
        if publish is None:
            backlog.clear()
            return
        items = _take(backlog, self._xpub_send)
        if items:
            subscribers = [p for p in self.host.active_peers() if p.subscribed]
            for frame in tx_frames(items, all(takes_batches(p) for p in subscribers)):
                publish(frame)
                self.frames_sent += 1
                for peer in subscribers:
                    peer.stats.sent("tx", len(frame))  # the XPUB send reached it
        if backlog:
            self._later(_XPUB, self._xpub_send, self._drain_xpub)

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
    return [backlog.popleft() for _ in range(count)]


def _shed(backlog: deque[tuple[bytes, bytes]]) -> None:
    while len(backlog) > TX_BACKLOG_MAX:
        backlog.popleft()
