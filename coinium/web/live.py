"""Live updates: chain, mempool and peer events fanned out to browsers over WebSocket.

The hub is a `ChainListener` and a `MempoolListener` (registered by the dashboard server the way
the ZMQ publisher is), called on the event loop. Each event is encoded once, as JSON and then as
one complete WebSocket frame (a server's frames are unmasked, so every client gets the same
bytes), and written straight to each client's transport: no task per client, no copy per client.
What a client has not yet taken sits in its transport's buffer; once that passes
`CLIENT_BUFFER_BYTES` the client is too slow and is shed (its connection dropped; the page
reconnects and reloads what it shows) instead of being buffered without bound. Mempool events are
coalesced to at most one frame per `MEMPOOL_COALESCE_S` (a burst of a thousand transactions is one
update), and block events to one per `BLOCK_COALESCE_S` (a sync connecting a hundred blocks a
second sends twenty frames, each with the newest tip and how many tips it covers; a block a minute
goes out at once; each carries the finalized and justified checkpoints). Peer changes are
noticed by a light poll of the peer table (the P2P layer has no listener for them).

Clients only listen. Anything they send besides a small ``{"type": "ping"}`` is garbage and closes
that socket (1003); a frame larger than `MAX_CLIENT_FRAME` is refused by aiohttp (1009); either
way only that socket goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from coinium.core.block import Block
from coinium.rpc.methods.staking import finality_fields

log = logging.getLogger("coinium.web")

CLIENT_BUFFER_BYTES = 1 << 20  # unsent bytes one client may hold before it counts as too slow
MAX_CLIENTS = 500
MAX_CLIENT_FRAME = 1024  # bytes a client may send in one frame
MEMPOOL_COALESCE_S = 0.5
FINALITY_FIELDS = ("finalizedheight", "finalizedhash", "justifiedheight", "justifiedhash")
BLOCK_COALESCE_S = 0.05  # tips closer together than this (a sync) share one frame
PEER_POLL_S = 1.0
HEARTBEAT_S = 30.0


def text_frame(text: str) -> bytes:
    """One unfragmented, unmasked WebSocket text frame (RFC 6455 section 5.2)."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 1 << 16:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return header + payload


class _Client:
    __slots__ = ("ws", "transport", "shed")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport):
        self.ws = ws
        self.transport = transport
        self.shed = False


class LiveHub:
    def __init__(self, node: Any):
        self.node = node
        self.clients: set[_Client] = set()
        self.shed_count = 0  # clients dropped for being slow (shown in metrics)
        self._mempool_pending: asyncio.TimerHandle | None = None
        self._block_pending: dict[str, Any] | None = None  # the next block frame, once due
        self._last_block_frame = float("-inf")  # loop time the last block frame went out
        self._peer_task: asyncio.Task[None] | None = None
        self._last_peers: tuple[Any, ...] | None = None

    def start(self) -> None:
        self._peer_task = asyncio.create_task(self._watch_peers())

    async def stop(self) -> None:
        if self._peer_task is not None:
            self._peer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._peer_task
        if self._mempool_pending is not None:
            self._mempool_pending.cancel()
        for client in list(self.clients):
            await client.ws.close(code=WSCloseCode.GOING_AWAY, message=b"node stopping")

    # --- fan-out ------------------------------------------------------------------------------
    def broadcast(self, event: dict[str, Any]) -> None:
        if not self.clients:
            return
        frame = text_frame(json.dumps(event, separators=(",", ":")))
        for client in list(self.clients):
            transport = client.transport
            if transport.is_closing():
                self.clients.discard(client)
            elif transport.get_write_buffer_size() + len(frame) > CLIENT_BUFFER_BYTES:
                self._shed(client)
            else:
                transport.write(frame)

    def _shed(self, client: _Client) -> None:
        if client.shed:
            return
        client.shed = True
        self.shed_count += 1
        self.clients.discard(client)
        log.info("dashboard: shedding a slow live client (%d bytes unsent)",
                 client.transport.get_write_buffer_size())  # fmt: skip
        # Its buffer is full, so a polite close frame would wait behind it: drop the connection.
        client.transport.abort()

    # --- ChainListener ------------------------------------------------------------------------
    def block_connected(self, block: Block) -> None:
        pass  # tip_updated sends one frame per outcome, even for a reorg of many blocks

    def block_disconnected(self, block: Block) -> None:
        pass

    def tip_updated(self, tip: Block) -> None:
        if not self.clients:
            return
        header = tip.header
        pending = self._block_pending
        self._block_pending = {
            "type": "block", "height": tip.height, "hash": tip.hash.hex(),
            "time": header.timestamp, "txs": len(tip.transactions), "size": tip.size,
            "mempool": self._mempool_summary(),
            "tips": 1 + (pending["tips"] if pending is not None else 0),  # tips this frame covers
        }  # fmt: skip
        if pending is not None:
            return  # a frame is already due: it will carry this newer tip instead
        # Written on a later turn of the loop, not inside the listener call: by then the chain
        # thread is on its next block, and the writes overlap it instead of delaying it. During
        # a fast sync, at most one frame per BLOCK_COALESCE_S carries the newest tip.
        loop = asyncio.get_running_loop()
        due = self._last_block_frame + BLOCK_COALESCE_S
        if loop.time() >= due:
            loop.call_soon(self._send_block)
        else:
            loop.call_at(due, self._send_block)

    def _send_block(self) -> None:
        event, self._block_pending = self._block_pending, None
        self._last_block_frame = asyncio.get_running_loop().time()
        if event is not None:
            # Read once per frame, not per tip (the ZMQ publisher's `finalized` reads the same
            # record at each tip): the overview's and staking page's checkpoints follow live.
            fields = finality_fields(self.node.chain)
            event["finality"] = {name: fields[name] for name in FINALITY_FIELDS}
            self.broadcast(event)

    # --- MempoolListener ----------------------------------------------------------------------
    def transaction_added(self, tx_raw: bytes, txid: bytes, mempool_sequence: int) -> None:
        self._mempool_changed()

    def transaction_removed(self, tx_raw: bytes, txid: bytes, reason: str,
                            mempool_sequence: int) -> None:  # fmt: skip
        self._mempool_changed()

    def _mempool_changed(self) -> None:
        if self._mempool_pending is None and self.clients:
            loop = asyncio.get_running_loop()
            self._mempool_pending = loop.call_later(MEMPOOL_COALESCE_S, self._send_mempool)

    def _send_mempool(self) -> None:
        self._mempool_pending = None
        self.broadcast({"type": "mempool", **self._mempool_summary()})

    def _mempool_summary(self) -> dict[str, int]:
        pool = self.node.mempool
        return {"size": len(pool), "bytes": pool.total_bytes}

    # --- peers --------------------------------------------------------------------------------
    def peer_summary(self) -> dict[str, Any]:
        p2p = self.node.p2p
        if p2p is None:
            return {"peers": 0, "inbound": 0, "banned": 0, "ids": []}
        peers = p2p.active_peers()
        return {
            "peers": len(peers),
            "inbound": sum(1 for p in peers if p.inbound),
            "banned": len(p2p.view.list_banned()),
            "ids": sorted(p.id for p in peers),
        }

    async def _watch_peers(self) -> None:
        while True:
            await asyncio.sleep(PEER_POLL_S)
            try:
                summary = self.peer_summary()
            except Exception:  # a peer table mid-change: look again next time
                log.debug("dashboard: peer poll failed", exc_info=True)
                continue
            key = (summary["ids"], summary["banned"])
            if key != self._last_peers:
                self._last_peers = key
                self.broadcast({"type": "peers", **summary})

    # --- one browser --------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        if len(self.clients) >= MAX_CLIENTS:
            raise web.HTTPServiceUnavailable(text="too many live clients")
        # No compression: every client must be able to take the same pre-built frame bytes.
        ws = web.WebSocketResponse(max_msg_size=MAX_CLIENT_FRAME, heartbeat=HEARTBEAT_S,
                                   compress=False)  # fmt: skip
        await ws.prepare(request)
        transport = request.transport
        if transport is None:  # the browser left during the handshake
            return ws
        client = _Client(ws, transport)  # type: ignore[arg-type]
        self.clients.add(client)
        try:
            await self._receive_loop(ws)
        finally:
            self.clients.discard(client)
            await ws.close()
        return ws

    async def _receive_loop(self, ws: web.WebSocketResponse) -> None:
        async for message in ws:
            if message.type == WSMsgType.TEXT and _is_ping(message.data):
                continue
            if message.type == WSMsgType.ERROR:  # oversized or malformed: aiohttp closed it
                log.info("dashboard: live client error: %s", ws.exception())
                return
            await ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"clients only listen")
            return


def _is_ping(text: str) -> bool:
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("type") == "ping"
