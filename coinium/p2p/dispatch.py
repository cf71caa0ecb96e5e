"""Message dispatch: every frame a peer sends is accounted, rate-limited and decoded here, then
queued for that peer's worker, which hands it to the handler the table names.

A frame that fails any check costs the peer score and never reaches a handler. Every handler runs
inside one ``try``: whatever a peer sends, the node keeps running. A decoded message whose type has
no handler (a registry entry without one) is the peer's penalty, never a dead worker task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from coinium.core.codec import DecodeError
from coinium.p2p.messages import (
    BlockMsg,
    CmpctBlock,
    InvKind,
    MalformedMessage,
    MsgType,
    OversizedMessage,
    Ping,
    Pong,
    TxMsg,
    TxsMsg,
    UnknownMessage,
    Verack,
    Version,
    decode,
    frame_type,
    txs_count,
)
from coinium.p2p.peer import RATE_CLASS, Peer, PeerState, RateClass
from coinium.p2p.scoring import Misbehaviour

if TYPE_CHECKING:
    from coinium.p2p.manager import PeerManager

log = logging.getLogger("coinium.net")

INBOX_MAX_MESSAGES = 10_000
INBOX_MAX_BYTES = 64 << 20

Handler = Callable[[Peer, Any, str], Awaitable[None]]


def by_kind(tx_handler: Handler, block_handler: Handler) -> Handler:
    """One handler for a message that names its kind (INV, GETDATA, NOTFOUND): the part that
    owns the kind answers it."""

    async def handle(peer: Peer, msg: Any, channel: str) -> None:
        handler = tx_handler if msg.kind == InvKind.TX else block_handler
        await handler(peer, msg, channel)

    return handle


class Dispatcher:
    """Per-peer intake: `receive` (on the reader tasks), `worker` (one task per peer)."""

    def __init__(self, host: PeerManager) -> None:
        self.host = host
        self.handlers: dict[type, Handler] = {}

    def _count_in(self, peer: Peer, kind: str, size: int) -> None:
        peer.stats.received(kind, size)

    def receive(self, peer: Peer, data: bytes, channel: str) -> None:
        """Account, rate-limit and decode one frame, then queue it for the peer's worker."""
        if peer.state == PeerState.CLOSED:
            return
        kind = frame_type(data)
        self._count_in(peer, kind.name.lower() if kind is not None else "unknown", len(data))
        rate_class = RATE_CLASS.get(kind, RateClass.OTHER) if kind is not None else RateClass.OTHER
        cost = txs_count(data) if kind == MsgType.TXS else 1  # a batch pays per transaction
        if not peer.buckets[rate_class].take(max(cost, 1)):
            self.host.misbehaving(peer, Misbehaviour.FLOOD, f"{rate_class.value} messages")
            return
        try:
            message = decode(data)
        except OversizedMessage as exc:
            self.host.misbehaving(peer, Misbehaviour.OVERSIZED, str(exc))
            return
        except UnknownMessage as exc:
            self.host.misbehaving(peer, Misbehaviour.PROTOCOL, str(exc))
            return
        except MalformedMessage as exc:
            self.host.misbehaving(peer, Misbehaviour.MALFORMED, str(exc))
            return
        if channel == "gossip" and not isinstance(message, (BlockMsg, CmpctBlock, TxMsg, TxsMsg)):
            self.host.misbehaving(peer, Misbehaviour.GOSSIP_CHANNEL, type(message).__name__)
            return
        # Pings and pongs are answered as they arrive, not behind what the worker is busy with:
        # they measure the link, and they move the send window (`coinium.p2p.sendwindow`).
        if isinstance(message, Pong) and peer.window.acknowledge(message.nonce):
            peer.queue.wake()
            return
        if isinstance(message, Ping) and peer.active:
            self.host.handshake.answer_ping(peer, message)
            return
        if peer.inbox.qsize() >= INBOX_MAX_MESSAGES \
                or peer.inbox_bytes + len(data) > INBOX_MAX_BYTES:  # fmt: skip
            self.host.misbehaving(peer, Misbehaviour.FLOOD, "inbox full")
            return
        peer.inbox_bytes += len(data)
        peer.inbox.put_nowait((message, len(data), channel))

    async def worker(self, peer: Peer) -> None:
        # The state is checked before each wait: a handler that closed its own peer (a ban) must
        # end this task, not leave it waiting on an inbox nobody fills ("Task was destroyed but
        # it is pending!" when the peer is collected).
        while peer.state != PeerState.CLOSED:
            message, size, channel = await peer.inbox.get()
            peer.inbox_bytes -= size
            if peer.state == PeerState.CLOSED:
                return
            if not peer.active and not isinstance(message, (Version, Verack)):
                self.host.misbehaving(peer, Misbehaviour.PROTOCOL,
                                      f"{type(message).__name__} before the handshake")  # fmt: skip
                continue
            handler = self.handlers.get(type(message))
            if handler is None:
                name = type(message).__name__
                self.host.misbehaving(peer, Misbehaviour.PROTOCOL, f"{name}: not handled here")
                continue
            try:
                await handler(peer, message, channel)
            except asyncio.CancelledError:
                raise
            except DecodeError as exc:
                self.host.misbehaving(peer, Misbehaviour.MALFORMED, str(exc))
            except Exception:
                log.exception("p2p: error handling %s from peer %d", type(message).__name__,
                              peer.id)  # fmt: skip

