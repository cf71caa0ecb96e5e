"""The PeerManager: connections, handshake, message dispatch, relay and peer upkeep.

The node starts it after the chain and mempool and stops it first. It is a `ChainListener` (a new
tip is relayed once the chain accepted it) and a `MempoolListener` (a transaction is relayed once
the mempool took it). It reaches the chain only through the callables in `NodeHooks`: reads run
on the chain thread (``on_chain``), blocks enter through the node's ``submit_block`` (which also
tells every listener) and transactions through ``submit_transaction``.

Per peer, three kinds of task: a reader per socket it owns (DEALER, SUB and their monitors; the
shared ROUTER and XPUB have one reader each), one worker that handles its decoded messages in
order, and one sender that drains its priority queue. Readers account bytes, apply the rate
limits and decode; a frame that fails any of it costs the peer score and never reaches a handler.
Every handler runs inside one ``try``: whatever a peer sends, the node keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from coinium.chain.chainstate import AcceptResult, AcceptStatus
from coinium.chain.locator import headers_after, raw_blocks, stored_blocks
from coinium.core.block import Block
from coinium.core.codec import DecodeError
from coinium.core.params import NetworkParams
from coinium.core.transaction import Transaction
from coinium.crypto.address import account_id
from coinium.mempool.pool import Mempool, MempoolReject
from coinium.p2p import scoring
from coinium.p2p.addrman import AddrMan, KnownAddress
from coinium.p2p.banlist import DEFAULT_BAN_TIME, Ban, BanList, ban_subject
from coinium.p2p.eviction import ConnectionRate, handshake_timeout, pending_victim
from coinium.p2p.gossip import Gossip, SeenCache
from coinium.p2p.messages import (
    MIN_PROTOCOL_VERSION,
    NODE_NETWORK,
    PROTOCOL_VERSION,
    Addr,
    AddrRecord,
    BlockMsg,
    CheckAddr,
    CheckAddrReply,
    GetAddr,
    GetData,
    GetHeaders,
    Headers,
    Inv,
    InvKind,
    MalformedMessage,
    MempoolReq,
    Message,
    MsgType,
    NotFound,
    OversizedMessage,
    Ping,
    Pong,
    Tip,
    TxMsg,
    UnknownMessage,
    Verack,
    Version,
    decode,
    encode,
    frame_type,
)
from coinium.p2p.peer import PRIORITY, RATE_CLASS, Peer, PeerState, Priority, RateClass
from coinium.p2p.peerdb import PeerDB
from coinium.p2p.reachability import Reachability
from coinium.p2p.scoring import Merit, Misbehaviour
from coinium.p2p.sendwindow import SEND_STUCK_S, keep_large_buffers_out_of_the_heap, trim_heap
from coinium.p2p.sync import MAX_PER_GETDATA, UNCONNECTING_TOLERANCE, BlockSync, decode_block
from coinium.p2p.transport import (
    Connection,
    CurveKeys,
    PeerAddress,
    ZapHandler,
    bind,
    client_socket,
    is_ip,
    load_or_create_keys,
    server_socket,
)

log = logging.getLogger("coinium.net")

# An address whose fresh keys earn this many automatic bans within KEY_BANS_WINDOW_S is banned
# as an address: keys are free, so a key ban alone is evaded by making another.
KEY_BANS_BEFORE_ADDRESS_BAN = 16
KEY_BANS_WINDOW_S = 3600.0
INBOX_MAX_MESSAGES = 10_000
INBOX_MAX_BYTES = 64 << 20
MIN_GOOD_CONNECTION_S = 30.0  # an outbound link that lasted less counts as a failed attempt
ADDR_FLUSH_S = 10.0  # known addresses and scores reach peers.lmdb this often (if changed)
MEMPOOL_REQUEST_INTERVAL_S = 30.0
TX_ORPHANS_MAX = 1000
TX_ORPHAN_TTL_S = 20 * 60.0
RECENT_RAW_BLOCKS = 32
SERVE_BATCH = 16  # blocks read per chain call when serving a getdata
SERVE_QUEUE_BYTES = 16 << 20  # serve more blocks once the peer's queue is below this
ADDR_FETCH_TIMEOUT_S = 30.0
SERVICE_NAMES = {NODE_NETWORK: "NETWORK"}


@dataclass(frozen=True, slots=True)
class P2PConfig:
    datadir: Path
    params: NetworkParams
    listen: bool = True
    bind: str = "0.0.0.0"
    port: int = 0  # 0: any free port
    pub_port: int = 0  # 0: any free port (announced in the handshake)
    connect: tuple[str, ...] = ()  # only these peers (no discovery), as bitcoind -connect
    addnode: tuple[str, ...] = ()  # always keep these connected, besides the others
    seednode: tuple[str, ...] = ()  # ask these for addresses when we know too few
    externalip: tuple[str, ...] = ()  # where others can reach us (announced)
    max_connections: int = 125
    max_outbound: int = 8
    ban_time: int = DEFAULT_BAN_TIME
    ping_interval: float = 15.0
    user_agent: str = "/coinium:0.1.0/"


@dataclass(slots=True)
class NodeHooks:
    """The node's side, as plain callables (p2p sits below the node and may not import it)."""

    on_chain: Callable[..., Awaitable[Any]]  # on_chain(fn, *args) runs fn(chain, *args)
    submit_block: Callable[[Block], Awaitable[AcceptResult]]
    submit_transaction: Callable[[Transaction], Awaitable[None]]
    tip: Callable[[], tuple[int, bytes, int]]  # (height, hash, chainwork) of the current tip
    mempool: Mempool
    # A run of blocks in one call (the chain's sync pipeline); without it, one at a time.
    submit_blocks: Callable[[list[Block]], Awaitable[list[AcceptResult]]] | None = None


@dataclass(slots=True)
class _TxOrphan:
    tx: Transaction
    peer: Peer | None
    expires: float


@dataclass(slots=True)
class _Manual:
    address: PeerAddress
    persistent: bool = True  # False: addnode onetry


class PeerManager:
    def __init__(self, config: P2PConfig, hooks: NodeHooks):
        self.config = config
        self.params = config.params
        self.hooks = hooks
        self.keys: CurveKeys | None = None
        self.nonce = random.getrandbits(64)
        self.peers: dict[int, Peer] = {}
        self.by_key: dict[bytes, Peer] = {}  # handshake done (or under way), any direction
        self.outbound: dict[bytes, Peer] = {}  # every outbound link, from the dial on
        self.by_rid: dict[bytes, Peer] = {}  # inbound links by ROUTER routing id
        self.manual: dict[bytes, _Manual] = {}
        self.closed_traffic = [0, 0]  # bytes received from and sent to peers since closed
        self.mapped_addresses: list[tuple[str, int]] = []  # (host, port) a NAT maps to us
        self.reachability = Reachability(self)  # the dial-back self-test (checkaddr)
        self.port = 0
        self.pub_port = 0
        self.started_at = time.monotonic()
        self.ctx: zmq.asyncio.Context | None = None
        self.router: zmq.asyncio.Socket | None = None
        self.xpub: zmq.asyncio.Socket | None = None
        self.zap: ZapHandler | None = None
        self.db: PeerDB | None = None
        self.bans = BanList(None)
        self.addrman = AddrMan(None)
        self.gossip = Gossip(None)
        self.sync = BlockSync(self)
        self.seen_blocks = SeenCache()  # blocks handled (stored, or refused for good)
        self.tx_rejects = SeenCache(ttl=600.0)  # txids the mempool refused (cleared on new tips)
        self.tx_orphans: OrderedDict[tuple[bytes, int], _TxOrphan] = OrderedDict()
        self._xpub_subs: dict[str, Connection | None] = {}
        self._closed_rids = SeenCache(max_entries=10_000, ttl=60.0)
        self._processing: set[bytes] = set()
        self._block_source: OrderedDict[bytes, Peer | None] = OrderedDict()
        self._recent_raw: OrderedDict[bytes, bytes] = OrderedDict()
        self._tx_source: dict[bytes, Peer] = {}
        self._next_id = 0
        self._tasks: list[asyncio.Task] = []
        self._background: set[asyncio.Task] = set()
        self._last_flush = time.monotonic()
        self._last_seed = 0.0
        self.banned_total = 0
        self.connection_rate = ConnectionRate()
        self._key_bans_by_ip: OrderedDict[str, list[float]] = OrderedDict()
        self._handlers: dict[type, Callable[..., Awaitable[None]]] = {
            Version: self._on_version, Verack: self._on_verack, Ping: self._on_ping,
            Pong: self._on_pong, GetAddr: self._on_getaddr, Addr: self._on_addr,
            Inv: self._on_inv, GetData: self._on_getdata, NotFound: self._on_notfound,
            GetHeaders: self._on_getheaders, Headers: self._on_headers, BlockMsg: self._on_block,
            CheckAddr: self._on_checkaddr, CheckAddrReply: self._on_checkaddrreply,
            TxMsg: self._on_tx, MempoolReq: self._on_mempool,
        }  # fmt: skip

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        config = self.config
        keep_large_buffers_out_of_the_heap()
        self.keys = load_or_create_keys(config.datadir)
        self.db = PeerDB(config.datadir)
        self.bans = BanList(self.db)
        self.addrman = AddrMan(self.db)
        self.ctx = zmq.asyncio.Context()
        self.zap = ZapHandler(self.ctx, self._allow)
        self.zap.start()  # before any CURVE server binds: no handshake goes unchecked
        if config.listen:
            self.router = server_socket(self.ctx, zmq.ROUTER, self.keys)
            self.port = bind(self.router, config.bind, config.port)
            self.xpub = server_socket(self.ctx, zmq.XPUB, self.keys)
            self.pub_port = bind(self.xpub, config.bind, config.pub_port)
            self._spawn(self._router_loop(), "p2p-router")
            self._spawn(self._xpub_loop(), "p2p-xpub")
            self._spawn(self._server_monitor(self.router, "request"), "p2p-router-monitor")
            self._spawn(self._server_monitor(self.xpub, "gossip"), "p2p-xpub-monitor")
        self.gossip = Gossip(self._publish if self.xpub is not None else None)
        for text in (*config.connect, *config.addnode):
            address = PeerAddress.parse(text)
            self.manual[address.key] = _Manual(address)
            self.addrman.add(address, "manual")
            self.addrman.reset_backoff(address.key)
        for text in config.seednode:
            address = PeerAddress.parse(text)
            self.addrman.add(address, "seed")
        self.sync.start()
        self._spawn(self._connection_loop(), "p2p-connections")
        self._spawn(self._maintenance_loop(), "p2p-maintenance")
        log.info("p2p: key %s, %s", self.keys.public.hex(),
                 f"listening on {config.bind}:{self.port} (gossip on port {self.pub_port})"
                 if config.listen else "not listening")  # fmt: skip

    async def stop(self) -> None:
        for task in (*self._tasks, *self._background):
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.sync.stop()
        for peer in list(self.peers.values()):
            self._close(peer, "shutting down")
        await asyncio.sleep(0)  # let the cancelled peer tasks unwind
        for sock in (self.router, self.xpub):
            if sock is not None:
                sock.close(0)
        if self.zap is not None:
            await self.zap.stop()
        if self.ctx is not None:
            self.ctx.destroy(linger=0)
        if self.db is not None:
            self.addrman.flush()
            await asyncio.to_thread(self.db.close)  # waits for the queued writes
            self.db = None
        log.info("p2p stopped")

    def _spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)  # type: ignore[arg-type]
        self._tasks.append(task)
        return task

    # --- facts for others ---------------------------------------------------------------------
    @property
    def public_key(self) -> bytes:
        assert self.keys is not None
        return self.keys.public

    def tip(self) -> Tip:
        height, block_hash, work = self.hooks.tip()
        return Tip(height, block_hash, work)

    async def on_chain(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(chain, *args)`` on the chain thread."""
        return await self.hooks.on_chain(fn, *args)

    def background(self, coro: Awaitable[None]) -> None:
        """Run a short job on its own; its failure is logged, never lost."""
        task = asyncio.create_task(coro)  # type: ignore[arg-type]
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("p2p: background job failed", exc_info=task.exception())

    def active_peers(self) -> list[Peer]:
        return [p for p in self.peers.values() if p.active]

    def local_addresses(self) -> list[PeerAddress]:
        """Where other nodes can reach this one: the strings they pass to --connect."""
        if not self.config.listen or self.keys is None:
            return []
        if self.config.externalip:
            hosts = list(self.config.externalip)
        elif self.config.bind not in ("0.0.0.0", "::", "*"):
            hosts = [self.config.bind]
        else:
            hosts = ["127.0.0.1"]
        return [PeerAddress(self.keys.public, host, self.port) for host in hosts] + [
            PeerAddress(self.keys.public, host, port) for host, port in self.mapped_addresses]

    def _allow(self, key_hex: str, ip: str) -> bool:
        return not self.bans.is_banned(key_hex, ip)

    def _peer_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    # --- sockets: reading ---------------------------------------------------------------------
    async def _router_loop(self) -> None:
        assert self.router is not None
        while True:
            frames = await self.router.recv_multipart(copy=False)
            try:
                self._on_router_frames(frames)
            except Exception:
                log.exception("p2p: dropping a request frame")

    def _on_router_frames(self, frames: list[zmq.Frame]) -> None:
        if len(frames) < 2:
            return
        rid, frame = frames[0].bytes, frames[-1]
        try:
            key_hex = frame.get("User-Id")
        except zmq.ZMQError:
            return
        peer = self.by_rid.get(rid)
        if peer is None:
            if rid in self._closed_rids:
                return  # frames still in flight from a link we closed
            peer = self._new_inbound(rid, key_hex, frame)
            if peer is None:
                return
        elif peer.key_hex != key_hex:
            return
        if len(frames) != 2:
            self._count_in(peer, "multipart", sum(len(f) for f in frames[1:]))
            self.misbehaving(peer, Misbehaviour.MALFORMED, "a message of several frames")
            return
        self._receive(peer, frame.bytes, "request")

    def _new_inbound(self, rid: bytes, key_hex: str, frame: zmq.Frame) -> Peer | None:
        conn = Connection.of(frame)
        try:
            ip = frame.get("Peer-Address")
        except zmq.ZMQError:
            ip = ""
        if self.bans.is_banned(key_hex, ip) or not self.connection_rate.allow(ip):
            if conn is not None:
                conn.kick()
            return None
        # A newcomer is never refused for want of a pending slot: it replaces a squatter.
        pending = [p for p in self.peers.values() if p.inbound and not p.active]
        victim = pending_victim(pending, ip)
        if victim is not None:
            self._close(victim, "pending handshake evicted for a newcomer")  # type: ignore[arg-type]
        peer = Peer(self._peer_id(), True, key=bytes.fromhex(key_hex), ip=ip)
        peer.routing_id = rid
        peer.router_conn = conn
        self.peers[peer.id] = peer
        self.by_rid[rid] = peer
        self._start_peer_tasks(peer)
        return peer

    async def _xpub_loop(self) -> None:
        assert self.xpub is not None
        while True:
            frames = await self.xpub.recv_multipart(copy=False)
            frame = frames[0]
            data = frame.bytes
            if data[:1] != b"\x01":
                continue  # unsubscriptions carry no User-Id; the peer's own close covers them
            try:
                key_hex = frame.get("User-Id")
            except zmq.ZMQError:
                continue
            conn = Connection.of(frame)
            key = bytes.fromhex(key_hex)
            # Room for subscribers that are not (yet) our peers is bounded; our peers' always is.
            crowded = len(self._xpub_subs) > 4 * self.config.max_connections \
                and key_hex not in self._xpub_subs and key not in self.by_key  # fmt: skip
            if self.bans.is_banned(key_hex) or crowded:
                if conn is not None:
                    conn.kick()
                continue
            self._xpub_subs[key_hex] = conn
            peer = self.by_key.get(key)
            if peer is not None and peer.state != PeerState.CLOSED:
                peer.subscribed = True
                peer.xpub_conn = conn

    async def _server_monitor(self, sock: zmq.asyncio.Socket, link: str) -> None:
        """A bound socket's lost connections (event value: the descriptor): an inbound peer whose
        request link dropped is gone; one whose SUB dropped gets our gossip on its request link."""
        monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED | zmq.EVENT_MONITOR_STOPPED)
        try:
            while True:
                event = parse_monitor_message(await monitor.recv_multipart())
                if event["event"] == zmq.EVENT_MONITOR_STOPPED:
                    return
                fd = event["value"]
                if link == "gossip":  # a subscriber that never became a peer is forgotten too
                    for key_hex, conn in list(self._xpub_subs.items()):
                        if conn is not None and conn.fd == fd and not conn.alive():
                            del self._xpub_subs[key_hex]
                for peer in list(self.peers.values()):
                    conn = peer.router_conn if link == "request" else peer.xpub_conn
                    if conn is None or conn.fd != fd or conn.alive():
                        continue
                    if link == "request":
                        self._close(peer, "request link lost")
                    else:
                        peer.subscribed = False
                        peer.xpub_conn = None
                        self._xpub_subs.pop(peer.key_hex, None)
        finally:
            with contextlib.suppress(zmq.ZMQError):
                sock.disable_monitor()
            monitor.close(0)

    async def _dealer_loop(self, peer: Peer) -> None:
        await self._read_loop(peer, peer.dealer, "request")

    async def _sub_loop(self, peer: Peer) -> None:
        await self._read_loop(peer, peer.sub, "gossip")

    async def _read_loop(self, peer: Peer, sock: zmq.asyncio.Socket, channel: str) -> None:
        while True:
            frames = await sock.recv_multipart()
            try:
                if len(frames) != 1:
                    self.misbehaving(peer, Misbehaviour.MALFORMED, "a message of several frames")
                    continue
                self._receive(peer, frames[0], channel)
            except Exception:
                log.exception("p2p: dropping a frame from peer %d", peer.id)

    async def _monitor_loop(self, peer: Peer, monitor: zmq.asyncio.Socket, link: str) -> None:
        try:
            while True:
                event = parse_monitor_message(await monitor.recv_multipart())
                kind = event["event"]
                if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                    if link == "gossip":
                        peer.gossip_connected = True
                elif kind in (zmq.EVENT_HANDSHAKE_FAILED_AUTH, zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
                              zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL):
                    # The server does not hold the key we dialled (or refused ours: banned).
                    self._close(peer, f"{link} link: CurveZMQ handshake failed (wrong key, or "
                                "refused by the peer)")  # fmt: skip
                    return
                elif kind == zmq.EVENT_DISCONNECTED:
                    self._close(peer, f"{link} link lost")
                    return
                elif kind == zmq.EVENT_MONITOR_STOPPED:
                    return
        finally:
            monitor.close(0)

    # --- receiving ----------------------------------------------------------------------------
    def _count_in(self, peer: Peer, kind: str, size: int) -> None:
        peer.stats.received(kind, size)

    def _receive(self, peer: Peer, data: bytes, channel: str) -> None:
        """Account, rate-limit and decode one frame, then queue it for the peer's worker."""
        if peer.state == PeerState.CLOSED:
            return
        kind = frame_type(data)
        self._count_in(peer, kind.name.lower() if kind is not None else "unknown", len(data))
        rate_class = RATE_CLASS.get(kind, RateClass.OTHER) if kind is not None else RateClass.OTHER
        if not peer.buckets[rate_class].take():
            self.misbehaving(peer, Misbehaviour.FLOOD, f"{rate_class.value} messages")
            return
        try:
            message = decode(data)
        except OversizedMessage as exc:
            self.misbehaving(peer, Misbehaviour.OVERSIZED, str(exc))
            return
        except UnknownMessage as exc:
            self.misbehaving(peer, Misbehaviour.UNKNOWN_MESSAGE, str(exc))
            return
        except MalformedMessage as exc:
            self.misbehaving(peer, Misbehaviour.MALFORMED, str(exc))
            return
        if channel == "gossip" and not isinstance(message, (BlockMsg, TxMsg)):
            self.misbehaving(peer, Misbehaviour.GOSSIP_CHANNEL, type(message).__name__)
            return
        # Pings and pongs are answered as they arrive, not behind what the worker is busy with:
        # they measure the link, and they move the send window (`coinium.p2p.sendwindow`).
        if isinstance(message, Pong) and peer.window.acknowledge(message.nonce):
            peer.queue.wake()
            return
        if isinstance(message, Ping) and peer.active:
            self._answer_ping(peer, message)
            return
        if peer.inbox.qsize() >= INBOX_MAX_MESSAGES \
                or peer.inbox_bytes + len(data) > INBOX_MAX_BYTES:  # fmt: skip
            self.misbehaving(peer, Misbehaviour.FLOOD, "inbox full")
            return
        peer.inbox_bytes += len(data)
        peer.inbox.put_nowait((message, len(data), channel))

    async def _worker(self, peer: Peer) -> None:
        # The state is checked before each wait: a handler that closed its own peer (a ban) must
        # end this task, not leave it waiting on an inbox nobody fills ("Task was destroyed but
        # it is pending!" when the peer is collected).
        while peer.state != PeerState.CLOSED:
            message, size, channel = await peer.inbox.get()
            peer.inbox_bytes -= size
            if peer.state == PeerState.CLOSED:
                return
            if not peer.active and not isinstance(message, (Version, Verack)):
                self.misbehaving(peer, Misbehaviour.PROTOCOL,
                                 f"{type(message).__name__} before the handshake")  # fmt: skip
                continue
            handler = self._handlers[type(message)]
            try:
                await handler(peer, message, channel)
            except asyncio.CancelledError:
                raise
            except DecodeError as exc:
                self.misbehaving(peer, Misbehaviour.MALFORMED, str(exc))
            except Exception:
                log.exception("p2p: error handling %s from peer %d", type(message).__name__,
                              peer.id)  # fmt: skip

    # --- sending ------------------------------------------------------------------------------
    def send(self, peer: Peer, message: Message) -> None:
        if peer.state == PeerState.CLOSED:
            return
        peer.queue.put(encode(message), PRIORITY[message.TYPE])

    def send_frame(self, peer: Peer, frame: bytes) -> None:
        kind = frame_type(frame)
        assert kind is not None
        if peer.state != PeerState.CLOSED:
            peer.queue.put(frame, PRIORITY[kind])

    async def _sender(self, peer: Peer) -> None:
        window = peer.window
        while True:
            frame = await peer.queue.get(window.room)
            wait = peer.send_bytes.wait_time(len(frame))
            if wait:
                await asyncio.sleep(wait)
            peer.send_bytes.take(len(frame))
            if not await self._transmit(peer, frame):
                self._close(peer, "send failed")
                return
            kind = frame_type(frame)
            peer.stats.sent(kind.name.lower() if kind is not None else "unknown", len(frame))
            if kind is not None and PRIORITY[kind] != Priority.CONTROL:
                nonce = window.record(len(frame))
                if nonce is not None and not await self._transmit(peer,
                                                                  encode(Ping(nonce, self.tip()))):
                    self._close(peer, "send failed")
                    return

    async def _transmit(self, peer: Peer, frame: bytes) -> bool:
        deadline = time.monotonic() + SEND_STUCK_S
        while True:
            try:
                if peer.inbound:
                    assert self.router is not None and peer.routing_id is not None
                    await self.router.send_multipart([peer.routing_id, frame], flags=zmq.NOBLOCK)
                else:
                    await peer.dealer.send(frame, flags=zmq.NOBLOCK)
                return True
            except zmq.Again:
                # High-water mark, or (DEALER) no link up yet: the handshake timeout covers that.
                if peer.active and time.monotonic() > deadline:
                    return False
                await asyncio.sleep(0.005 if peer.active else 0.02)
            except zmq.ZMQError as exc:
                if exc.errno == zmq.EHOSTUNREACH:
                    return False
                raise

    def _publish(self, frame: bytes) -> None:
        assert self.xpub is not None
        future = self.xpub.send(frame, flags=zmq.NOBLOCK, copy=False)
        future.add_done_callback(_consume)

    # --- connections --------------------------------------------------------------------------
    def _start_peer_tasks(self, peer: Peer) -> None:
        peer.tasks.append(asyncio.create_task(self._worker(peer), name=f"p2p-worker-{peer.id}"))
        peer.tasks.append(asyncio.create_task(self._sender(peer), name=f"p2p-sender-{peer.id}"))

    def connect(self, address: PeerAddress, conn_type: str) -> Peer | None:
        """Dial a peer: a DEALER with its key as server key, our VERSION queued."""
        assert self.ctx is not None and self.keys is not None
        key = address.key
        if key == self.keys.public or key in self.by_key or key in self.outbound:
            return None
        if self.bans.is_banned(key.hex()):
            return None
        peer = Peer(self._peer_id(), False, address=address, conn_type=conn_type)
        sock = client_socket(self.ctx, zmq.DEALER, self.keys, key, ipv6=":" in address.host)
        peer.dealer = sock
        monitor = sock.get_monitor_socket(_MONITORED_EVENTS)
        self.peers[peer.id] = peer
        self.outbound[key] = peer
        self._start_peer_tasks(peer)
        peer.tasks.append(asyncio.create_task(self._dealer_loop(peer),
                                              name=f"p2p-dealer-{peer.id}"))  # fmt: skip
        peer.tasks.append(asyncio.create_task(self._monitor_loop(peer, monitor, "request"),
                                              name=f"p2p-monitor-{peer.id}"))  # fmt: skip
        try:
            sock.connect(address.endpoint())
        except zmq.ZMQError as exc:  # an address libzmq cannot use (a name that does not resolve)
            self._close(peer, f"cannot connect to {address.hostport}: {exc}")
            monitor.close(0)  # its reader was cancelled before it ran, so it cannot close it
            return None
        self.addrman.attempt(key)
        self.send(peer, self._version())
        peer.version_sent = True
        log.debug("dialling %s (%s)", address, conn_type)
        return peer

    def _connect_gossip(self, peer: Peer) -> None:
        """Subscribe to the peer's gossip socket, if it has one we can reach."""
        assert self.ctx is not None and self.keys is not None and peer.version is not None
        port = peer.version.pub_port
        if not port:
            return
        if peer.address is not None:
            host = peer.address.host
        else:  # what an inbound peer says of itself: an IP address, or where we see it
            listen_host = peer.version.listen_host
            host = listen_host if is_ip(listen_host) else peer.ip
        if not host:
            return
        sock = client_socket(self.ctx, zmq.SUB, self.keys, peer.key, ipv6=":" in host)
        monitor = sock.get_monitor_socket(_MONITORED_EVENTS)
        try:
            sock.connect(PeerAddress(peer.key, host, port).endpoint())
        except zmq.ZMQError as exc:
            sock.disable_monitor()
            monitor.close(0)
            sock.close(0)
            log.debug("peer %d: cannot subscribe to its gossip at %s port %d: %s", peer.id,
                      host, port, exc)  # fmt: skip
            return
        peer.sub = sock
        peer.tasks.append(asyncio.create_task(self._sub_loop(peer), name=f"p2p-sub-{peer.id}"))
        peer.tasks.append(asyncio.create_task(self._monitor_loop(peer, monitor, "gossip"),
                                              name=f"p2p-submon-{peer.id}"))  # fmt: skip

    def disconnect(self, peer: Peer, reason: str) -> None:
        self._close(peer, reason)

    def _close(self, peer: Peer, reason: str) -> None:
        if peer.state == PeerState.CLOSED:
            return
        was_active = peer.active
        peer.state = PeerState.CLOSED
        self.closed_traffic[0] += peer.stats.bytes_recv
        self.closed_traffic[1] += peer.stats.bytes_sent
        peer.disconnect_reason = reason
        self.peers.pop(peer.id, None)
        if self.by_key.get(peer.key) is peer:
            del self.by_key[peer.key]
        if self.outbound.get(peer.key) is peer:
            del self.outbound[peer.key]
        if peer.routing_id is not None and self.by_rid.get(peer.routing_id) is peer:
            del self.by_rid[peer.routing_id]
            self._closed_rids.add(peer.routing_id)
        self.sync.peer_gone(peer)
        current = asyncio.current_task()
        for task in peer.tasks:
            if task is not current:
                task.cancel()
        for sock in (peer.dealer, peer.sub):
            if sock is not None:
                with contextlib.suppress(zmq.ZMQError):
                    sock.disable_monitor()
                sock.close(0)
        for conn in (peer.router_conn, peer.xpub_conn):
            if conn is not None:
                conn.kick()
        held = peer.queue.bytes + peer.window.unacked
        peer.queue.clear()
        if held > 1 << 20:  # libzmq frees the link's pipe on its own thread: trim a little later
            asyncio.get_running_loop().call_later(1.0, trim_heap)
        if self._xpub_subs.get(peer.key_hex) is peer.xpub_conn:
            self._xpub_subs.pop(peer.key_hex, None)
        score = peer.score()
        if peer.key in self.addrman:
            self.addrman.set_score(peer.key, score)
        if not peer.inbound:
            lasted = time.monotonic() - peer.created
            if was_active and lasted >= MIN_GOOD_CONNECTION_S:
                self.addrman.success(peer.key, score)
            else:
                self.addrman.failure(peer.key)
        level = logging.INFO if was_active or not peer.inbound else logging.DEBUG
        log.log(level, "peer %d (%s, %s) disconnected: %s", peer.id, peer.conn_type,
                peer.key_hex[:16], reason)  # fmt: skip

    def _eviction_candidate(self) -> Peer | None:
        """The inbound peer to drop for a newcomer when inbound slots are full: Bitcoin Core's
        protect-then-evict, shortened. Protected: the 4 fastest (min ping), the 4 that last
        brought novel blocks and the 4 that last brought novel transactions; of the rest, the
        lowest score goes (the youngest connection between equals)."""
        candidates = [p for p in self.peers.values() if p.inbound and p.active]

        def protect(key: Callable[[Peer], Any], count: int) -> None:
            for peer in sorted(candidates, key=key)[:count]:
                candidates.remove(peer)

        protect(lambda p: p.ping.min_rtt if p.ping.min_rtt is not None else 1e9, 4)
        protect(lambda p: -p.stats.last_block, 4)
        protect(lambda p: -p.stats.last_transaction, 4)
        if not candidates:
            return None
        return min(candidates, key=lambda p: (p.score(), -p.created))

    @property
    def max_outbound(self) -> int:
        return min(self.config.max_outbound, self.config.max_connections)

    @property
    def max_inbound(self) -> int:
        return max(0, self.config.max_connections - self.max_outbound)

    # --- misbehaviour -------------------------------------------------------------------------
    def misbehaving(self, peer: Peer, what: Misbehaviour, detail: str = "") -> None:
        """The one way a peer is punished: its score falls, and at the threshold it is banned."""
        if peer.state == PeerState.CLOSED:
            return
        now = time.monotonic()
        score = peer.reputation.penalize(what, now)
        if scoring.PENALTY[what]:
            level = logging.DEBUG if what == Misbehaviour.FLOOD else logging.INFO
            log.log(level, "peer %d misbehaving (%s%s): score %.1f", peer.id, what.value,
                    f": {detail}" if detail else "", score)  # fmt: skip
        if peer.reputation.should_ban(now):
            self.ban_peer(peer, what.value)

    def ban_peer(self, peer: Peer, reason: str) -> None:
        self.bans.ban(peer.key_hex, self.config.ban_time, reason=reason)
        self.banned_total += 1
        log.warning("banning peer %d (%s) for %d s: %s", peer.id, peer.key_hex,
                    self.config.ban_time, reason)  # fmt: skip
        self._close(peer, f"banned: {reason}")
        if peer.inbound and peer.ip:
            self._count_key_ban(peer.ip)

    def _count_key_ban(self, ip: str) -> None:
        """Ban the address whose fresh keys keep earning bans (see KEY_BANS_BEFORE_ADDRESS_BAN)."""
        now = time.monotonic()
        times = [t for t in self._key_bans_by_ip.pop(ip, []) if now - t < KEY_BANS_WINDOW_S]
        times.append(now)
        self._key_bans_by_ip[ip] = times
        while len(self._key_bans_by_ip) > 4096:
            self._key_bans_by_ip.popitem(last=False)
        if len(times) < KEY_BANS_BEFORE_ADDRESS_BAN:
            return
        del self._key_bans_by_ip[ip]
        try:
            self.bans.ban(ip, self.config.ban_time,
                          reason=f"{len(times)} keys banned from this address")  # fmt: skip
        except ValueError:
            return
        log.warning("banning address %s for %d s: %d of its keys were banned", ip,
                    self.config.ban_time, len(times))  # fmt: skip

    def reward(self, peer: Peer | None, what: Merit) -> None:
        if peer is not None and peer.state != PeerState.CLOSED:
            peer.reputation.reward(what, time.monotonic())

    # --- handshake ----------------------------------------------------------------------------
    def _version(self) -> Version:
        return Version(
            protocol=PROTOCOL_VERSION, chain_id=self.params.chain_id,
            genesis=self.params.genesis_hash, services=NODE_NETWORK, timestamp=int(time.time()),
            nonce=self.nonce, tip=self.tip(),
            listen_port=self.port if self.router is not None else 0,
            pub_port=self.pub_port if self.xpub is not None else 0,
            listen_host=self.config.externalip[0] if self.config.externalip else "",
            user_agent=self.config.user_agent,
        )  # fmt: skip

    async def _on_version(self, peer: Peer, msg: Version, channel: str) -> None:
        if peer.version is not None:
            self.misbehaving(peer, Misbehaviour.PROTOCOL, "a second VERSION")
            return
        if msg.chain_id != self.params.chain_id or msg.genesis != self.params.genesis_hash:
            self.misbehaving(peer, Misbehaviour.WRONG_NETWORK,
                             f"chain id {msg.chain_id:#x}, genesis {msg.genesis.hex()[:16]}")
            return
        if msg.protocol < MIN_PROTOCOL_VERSION:
            self._close(peer, f"protocol version {msg.protocol} is too old")
            return
        if peer.key == self.public_key or msg.nonce == self.nonce:
            if peer.address is not None:
                self.addrman.remove(peer.key)
            self._close(peer, "connected to ourselves")
            return
        peer.version = msg
        peer.note_tip(msg.tip)
        other = self.by_key.get(peer.key)
        if other is not None and other is not peer:
            if other.inbound and peer.inbound:
                self._close(other, "superseded by a new connection from the same key")
            else:
                # Both sides dialled each other: both keep the link dialled by the smaller key.
                own = self.public_key
                new_dialler = peer.key if peer.inbound else own
                old_dialler = other.key if other.inbound else own
                if new_dialler < old_dialler:
                    self._close(other, "duplicate link")
                else:
                    self._close(peer, "duplicate link")
                    return
        if peer.inbound and self._inbound_count() >= self.max_inbound:
            victim = self._eviction_candidate()
            if victim is None:
                self._close(peer, "inbound slots full")
                return
            self._close(victim, "evicted to make room for a new inbound peer")
        self.by_key[peer.key] = peer
        if not peer.version_sent:
            self.send(peer, self._version())
            peer.version_sent = True
        self.send(peer, Verack())
        peer.state = PeerState.HANDSHAKE
        if peer.verack_received:
            self._activate(peer)

    def _inbound_count(self) -> int:
        """Inbound peers holding a slot: active, and those past VERSION (about to be)."""
        return sum(1 for p in self.by_key.values() if p.inbound)

    async def _on_verack(self, peer: Peer, msg: Verack, channel: str) -> None:
        if peer.verack_received or not peer.version_sent or peer.active:
            self.misbehaving(peer, Misbehaviour.PROTOCOL, "an unexpected VERACK")
            return
        peer.verack_received = True
        if peer.version is not None:
            self._activate(peer)

    def _activate(self, peer: Peer) -> None:
        assert peer.version is not None
        peer.state = PeerState.ACTIVE
        version = peer.version
        if peer.inbound:
            if version.listen_port:
                host = version.listen_host if is_ip(version.listen_host) else peer.ip
                if host:
                    self.addrman.add(PeerAddress(peer.key, host, version.listen_port), "inbound")
        else:
            self.addrman.add(peer.address, "manual" if peer.key in self.manual else "gossip")
        conn = self._xpub_subs.get(peer.key_hex, False)
        if conn is not False:
            peer.subscribed = True
            peer.xpub_conn = conn  # type: ignore[assignment]
        self._connect_gossip(peer)
        if not peer.inbound:
            self.send(peer, GetAddr())
        self.send(peer, MempoolReq())
        for address in self.local_addresses() if self.config.externalip else ():
            record = AddrRecord(address.key, address.host, address.port, NODE_NETWORK,
                                int(time.time()))  # fmt: skip
            self.send(peer, Addr((record,)))
        log.info("peer %d connected: %s %s, %s, height %d", peer.id,
                 "inbound from" if peer.inbound else "outbound to",
                 peer.address or peer.ip, version.user_agent, version.tip.height)  # fmt: skip
        self._maybe_sync(peer)

    # --- ping, anti-entropy -------------------------------------------------------------------
    def _maybe_sync(self, peer: Peer) -> None:
        """Anti-entropy: a peer with more work than our tip has blocks we lack."""
        ours = self.tip()
        if peer.tip.work > ours.work and peer.tip.hash not in self.seen_blocks:
            self.background(self.sync.request_headers(peer))

    def ping(self, peer: Peer) -> None:
        if peer.ping.nonce is not None:
            return  # one outstanding ping at a time
        peer.ping.nonce = random.getrandbits(64)
        peer.ping.sent_at = time.monotonic()
        self.send(peer, Ping(peer.ping.nonce, self.tip()))

    async def _on_ping(self, peer: Peer, msg: Ping, channel: str) -> None:
        self._answer_ping(peer, msg)

    def _answer_ping(self, peer: Peer, msg: Ping) -> None:
        self.send(peer, Pong(msg.nonce, self.tip()))
        peer.note_tip(msg.tip)
        self._maybe_sync(peer)

    async def _on_pong(self, peer: Peer, msg: Pong, channel: str) -> None:
        rtt = peer.ping.answered(msg.nonce, time.monotonic())
        if rtt is None:
            self.misbehaving(peer, Misbehaviour.UNREQUESTED, "a pong for no ping")
            return
        self.reward(peer, Merit.PONG)
        peer.note_tip(msg.tip)
        self._maybe_sync(peer)

    # --- the reachability self-test (coinium.p2p.reachability) ------------------------------------
    async def _on_checkaddr(self, peer: Peer, msg: CheckAddr, channel: str) -> None:
        self.background(self.reachability.serve(peer, msg))  # dialling takes seconds

    async def _on_checkaddrreply(self, peer: Peer, msg: CheckAddrReply, channel: str) -> None:
        if not self.reachability.take_reply(peer, msg):
            self.misbehaving(peer, Misbehaviour.UNREQUESTED, "a checkaddrreply for no checkaddr")

    # --- addresses ----------------------------------------------------------------------------
    async def _on_getaddr(self, peer: Peer, msg: GetAddr, channel: str) -> None:
        if peer.getaddr_answered:
            return  # once per connection, as bitcoind (a cached answer would do as well)
        peer.getaddr_answered = True

        def exclude(entry: KnownAddress) -> bool:
            return entry.key == peer.key or self.bans.is_banned(entry.key.hex()) \
                or not is_ip(entry.host)  # fmt: skip

        records = [AddrRecord(e.key, e.host, e.port, e.services, e.last_seen)
                   for e in self.addrman.sample(1000, exclude)]  # fmt: skip
        if records:
            self.send(peer, Addr(tuple(records)))

    async def _on_addr(self, peer: Peer, msg: Addr, channel: str) -> None:
        if not peer.addr_records.take(len(msg.records)):
            self.misbehaving(peer, Misbehaviour.FLOOD, f"{len(msg.records)} addresses")
            return
        self.addrman.add_records(msg.records, self.public_key)
        if peer.conn_type == "addr-fetch":
            self._close(peer, "addresses fetched")

    # --- inventory and data -------------------------------------------------------------------
    async def _on_inv(self, peer: Peer, msg: Inv, channel: str) -> None:
        for item in msg.hashes:
            peer.known.add(item)
        if msg.kind == InvKind.TX:
            mempool = self.hooks.mempool
            wanted = [h for h in msg.hashes if h not in mempool and h not in self.tx_rejects
                      and h not in self.gossip.txs_relayed and h not in peer.tx_requested]
            for txid in wanted:
                peer.tx_requested.add(txid)
            for i in range(0, len(wanted), 2000):
                self.send(peer, GetData(InvKind.TX, tuple(wanted[i : i + 2000])))
        elif any(h not in self.seen_blocks for h in msg.hashes):
            await self.sync.request_headers(peer)

    async def _on_getdata(self, peer: Peer, msg: GetData, channel: str) -> None:
        missing = []
        await self._drain(peer)
        if msg.kind == InvKind.TX:
            mempool = self.hooks.mempool
            for txid in msg.hashes:
                entry = mempool.get(txid)
                if entry is None:
                    missing.append(txid)
                else:
                    peer.known.add(txid)
                    self.send(peer, TxMsg(entry.tx.raw))
        else:
            if len(msg.hashes) > MAX_PER_GETDATA:
                self.misbehaving(peer, Misbehaviour.TOO_MANY_ITEMS,
                                 f"{len(msg.hashes)} blocks in one getdata")  # fmt: skip
                return
            # A few blocks per read, and only as fast as the peer takes them: a request for
            # many large blocks must not pile up in memory.
            for i in range(0, len(msg.hashes), SERVE_BATCH):
                await self._drain(peer)
                chunk = msg.hashes[i : i + SERVE_BATCH]
                for block_hash, raw in await self.hooks.on_chain(raw_blocks, chunk):
                    if raw is None:
                        missing.append(block_hash)
                    else:
                        peer.known.add(block_hash)
                        self.send_frame(peer, bytes((MsgType.BLOCK,)) + raw)
        if missing:
            self.send(peer, NotFound(msg.kind, tuple(missing)))

    async def _drain(self, peer: Peer) -> None:
        while peer.queue.bytes > SERVE_QUEUE_BYTES and peer.state != PeerState.CLOSED:
            await asyncio.sleep(0.01)

    async def _on_notfound(self, peer: Peer, msg: NotFound, channel: str) -> None:
        if msg.kind == InvKind.BLOCK:
            if not self.sync.on_notfound(peer, msg.hashes):
                self.misbehaving(peer, Misbehaviour.UNREQUESTED, "notfound for no request")
        else:
            requested = [h for h in msg.hashes if h in peer.tx_requested]
            for txid in requested:
                peer.tx_requested.discard(txid)
            if not requested:
                self.misbehaving(peer, Misbehaviour.UNREQUESTED, "notfound for no request")

    async def _on_getheaders(self, peer: Peer, msg: GetHeaders, channel: str) -> None:
        await self._drain(peer)
        headers = await self.hooks.on_chain(headers_after, msg.locator, msg.stop)
        self.send(peer, Headers(tuple(headers)))

    async def _on_headers(self, peer: Peer, msg: Headers, channel: str) -> None:
        await self.sync.on_headers(peer, msg.headers)

    async def _on_mempool(self, peer: Peer, msg: MempoolReq, channel: str) -> None:
        now = time.monotonic()
        if peer.last_mempool_request and \
                now - peer.last_mempool_request < MEMPOOL_REQUEST_INTERVAL_S:  # fmt: skip
            return
        peer.last_mempool_request = now
        await self._drain(peer)
        txids = self.hooks.mempool.txids()
        for i in range(0, len(txids), 2000):
            chunk = tuple(txids[i : i + 2000])
            for txid in chunk:
                peer.known.add(txid)
            self.send(peer, Inv(InvKind.TX, chunk))

    # --- blocks -------------------------------------------------------------------------------
    async def _on_block(self, peer: Peer, msg: BlockMsg, channel: str) -> None:
        block_hash = msg.hash
        peer.known.add(block_hash)
        if self.sync.requested(block_hash):
            await self.sync.on_block(peer, msg, block_hash)
            return
        if block_hash in self.seen_blocks or block_hash in self._processing:
            return  # a relay of something we have: every neighbour sends it
        if self.sync.wants(block_hash):
            return  # a block of the download that was not asked for yet: it is, in its turn
        block = await decode_block(msg)  # DecodeError: malformed, handled by the worker
        if block_hash in self.seen_blocks or block_hash in self._processing:
            return  # another copy was handled while this one decoded
        parent = block.header.prev_hash
        if parent not in self.seen_blocks and not await self.on_chain(stored_blocks, [parent]):
            # No orphan blocks from pushes (Bitcoin Core's rule): nothing is checked, stored or
            # held for a block that does not connect; its headers are asked for instead.
            peer.unconnecting += 1
            if peer.unconnecting % UNCONNECTING_TOLERANCE == 0:
                self.misbehaving(peer, Misbehaviour.UNCONNECTING_HEADERS, "unconnecting blocks")
            await self.sync.request_headers(peer)
            return
        self._processing.add(block_hash)
        try:
            result = await self.submit_block(block, peer, msg.raw)
        finally:
            self._processing.discard(block_hash)
        if result.status == AcceptStatus.ORPHAN:
            await self.sync.request_headers(peer)

    async def submit_block(self, block: Block, peer: Peer | None,
                           raw: bytes | None) -> AcceptResult:  # fmt: skip
        """Hand a block to the chain and settle with the peer that sent it."""
        self._remember_source(block, peer, raw)
        return self._settle(block, peer, await self.hooks.submit_block(block))

    async def submit_blocks(
        self, run: list[tuple[Block, Peer | None, bytes | None]]
    ) -> list[AcceptResult]:
        """Hand a run of consecutive blocks (a sync) to the chain in one call, then settle with
        each block's peer exactly as `submit_block` does."""
        if self.hooks.submit_blocks is None:
            return [await self.submit_block(block, peer, raw) for block, peer, raw in run]
        for block, peer, raw in run:
            self._remember_source(block, peer, raw)
        results = await self.hooks.submit_blocks([block for block, _, _ in run])
        return [self._settle(block, peer, result)
                for (block, peer, _), result in zip(run, results, strict=True)]  # fmt: skip

    def _remember_source(self, block: Block, peer: Peer | None, raw: bytes | None) -> None:
        block_hash = block.hash
        if raw is not None:
            self._recent_raw[block_hash] = raw
            while len(self._recent_raw) > RECENT_RAW_BLOCKS:
                self._recent_raw.popitem(last=False)
        self._block_source[block_hash] = peer
        while len(self._block_source) > RECENT_RAW_BLOCKS:
            self._block_source.popitem(last=False)

    def _settle(self, block: Block, peer: Peer | None, result: AcceptResult) -> AcceptResult:
        block_hash = block.hash
        if result.status == AcceptStatus.INVALID:
            offence = scoring.for_block_error(result.error)
            if peer is not None and offence is not None:
                self.misbehaving(peer, offence, f"block {block_hash.hex()[:16]}: {result.reason}")
            # Refused for good: not a corrupted copy of a good block (mutated), nor one that may
            # be valid later (time-too-new).
            if result.error is None or (result.error.permanent and not result.error.mutated):
                self.seen_blocks.add(block_hash)
            return result
        self.seen_blocks.add(block_hash)
        if peer is not None:
            peer.note_tip(Tip(block.height, block_hash, 0))
            if result.status == AcceptStatus.NEW_TIP:
                self.reward(peer, Merit.NOVEL_BLOCK)
                peer.stats.last_block = int(time.time())
            else:
                self.reward(peer, Merit.SERVED_BLOCK)
        return result

    def block_synced(self, block_hash: bytes) -> None:
        """The sync reached the end of its path: tell the peers about our tip now."""
        height, tip_hash, _ = self.hooks.tip()
        raw = self._recent_raw.get(tip_hash)
        if raw is not None:
            self.gossip.relay_block(BlockMsg(raw), tip_hash, self.active_peers(),
                                    self._block_source.get(tip_hash))  # fmt: skip

    # --- transactions -------------------------------------------------------------------------
    async def _on_tx(self, peer: Peer, msg: TxMsg, channel: str) -> None:
        txid = msg.txid
        peer.known.add(txid)
        peer.tx_requested.discard(txid)
        mempool = self.hooks.mempool
        if txid in mempool or txid in self.tx_rejects or txid in self.gossip.txs_relayed:
            return
        try:
            tx = msg.decode()
        except DecodeError as exc:
            self.misbehaving(peer, Misbehaviour.INVALID_TX, f"undecodable: {exc}")
            return
        await self._accept_tx(tx, peer)

    async def _accept_tx(self, tx: Transaction, peer: Peer | None, release: bool = True) -> bool:
        txid = tx.txid
        if peer is not None:
            self._tx_source[txid] = peer
        try:
            await self.hooks.submit_transaction(tx)
        except MempoolReject as reject:
            offence = scoring.for_tx_reject(reject.reason)
            if offence is not None and peer is not None:
                self.misbehaving(peer, offence, f"tx {txid.hex()[:16]}: {reject.reason}")
            if reject.reason == "nonce-gap":
                self._hold_orphan(tx, peer)
            elif reject.reason != "txn-already-in-mempool":
                self.tx_rejects.add(txid)
            return False
        finally:
            self._tx_source.pop(txid, None)
        if peer is not None:
            self.reward(peer, Merit.NOVEL_TX)
            peer.stats.last_transaction = int(time.time())
        if release and self.tx_orphans:
            await self._release_orphans(tx)
        return True

    def _hold_orphan(self, tx: Transaction, peer: Peer | None) -> None:
        """A transaction whose sender has a nonce gap: keep it until the gap closes."""
        key = (account_id(tx.sender), tx.nonce)
        self.tx_orphans[key] = _TxOrphan(tx, peer, time.monotonic() + TX_ORPHAN_TTL_S)
        while len(self.tx_orphans) > TX_ORPHANS_MAX:
            self.tx_orphans.popitem(last=False)

    async def _release_orphans(self, tx: Transaction) -> None:
        sender, nonce = account_id(tx.sender), tx.nonce
        while True:
            nonce += 1
            orphan = self.tx_orphans.pop((sender, nonce), None)
            if orphan is None or not await self._accept_tx(orphan.tx, orphan.peer, release=False):
                return

    # --- listeners (chain and mempool) --------------------------------------------------------
    def block_connected(self, block: Block) -> None:
        self.seen_blocks.add(block.hash)
        # A confirmed transaction may come back to the mempool in a reorg: relay it again then.
        for tx in block.transactions[1:]:
            self.gossip.txs_relayed.discard(tx.txid)

    def block_disconnected(self, block: Block) -> None:
        pass

    def tip_updated(self, tip: Block) -> None:
        self.tx_rejects = SeenCache(ttl=600.0)  # a new state: refused txs may now be fine
        block_hash = tip.hash
        if self.sync.is_intermediate(block_hash) or not self.peers:
            return
        raw = self._recent_raw.get(block_hash)
        message = BlockMsg(raw) if raw is not None else BlockMsg.from_block(tip)
        self.gossip.relay_block(message, block_hash, self.active_peers(),
                                self._block_source.get(block_hash))  # fmt: skip

    def transaction_added(self, tx_raw: bytes, txid: bytes, mempool_sequence: int) -> None:
        if self.peers:
            self.gossip.relay_tx(TxMsg(tx_raw), txid, self.active_peers(),
                                 self._tx_source.get(txid))  # fmt: skip

    def transaction_removed(self, tx_raw: bytes, txid: bytes, reason: str,
                            mempool_sequence: int) -> None:  # fmt: skip
        pass

    # --- upkeep -------------------------------------------------------------------------------
    async def _connection_loop(self) -> None:
        while True:
            try:
                self._open_connections()
            except Exception:
                log.exception("p2p: connection upkeep failed")
            await asyncio.sleep(0.5)

    def _open_connections(self) -> None:
        if self.keys is None:
            return
        for key, manual in list(self.manual.items()):
            if key in self.by_key or key in self.outbound or self.bans.is_banned(key.hex()):
                continue
            if not self.addrman.ready(key):
                continue
            self.connect(manual.address, "manual")
            if not manual.persistent:
                del self.manual[key]
        if self.config.connect:
            return  # -connect: these peers and no others
        automatic = sum(1 for p in self.outbound.values() if p.conn_type == "outbound-full-relay")

        def exclude(entry: KnownAddress) -> bool:
            return (entry.key in self.by_key or entry.key in self.outbound
                    or entry.key in self.manual or entry.key == self.public_key
                    or self.bans.is_banned(entry.key.hex()))  # fmt: skip

        while automatic < self.max_outbound:
            entry = self.addrman.select(exclude)
            if entry is None:
                break
            if entry.source == "seed":
                self.connect(entry.address, "addr-fetch")
            else:
                self.connect(entry.address, "outbound-full-relay")
                automatic += 1

    async def _maintenance_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self._maintain(time.monotonic())
            except Exception:
                log.exception("p2p: peer upkeep failed")

    def _maintain(self, now: float) -> None:
        interval = self.config.ping_interval
        timeout = handshake_timeout(sum(1 for p in self.peers.values() if not p.active))
        for peer in list(self.peers.values()):
            if not peer.active:
                if now - peer.created > timeout:
                    self._close(peer, "handshake timeout")
                continue
            if peer.window.stuck(now):
                self._close(peer, f"does not read what we send ({peer.window.unacked} bytes "
                             f"unacknowledged for {SEND_STUCK_S:.0f} s)")  # fmt: skip
                continue
            if peer.ping.nonce is not None and now - peer.ping.sent_at > max(60.0, 4 * interval):
                self._close(peer, "ping timeout")
                continue
            if now - peer.stats.last_recv_mono > max(90.0, 6 * interval):
                self._close(peer, "no message for too long")
                continue
            if peer.conn_type == "addr-fetch" and now - peer.created > ADDR_FETCH_TIMEOUT_S:
                self._close(peer, "no addresses from the seed")
                continue
            if peer.ping.nonce is None and now - peer.ping.sent_at >= interval:
                self.ping(peer)
        self.sync.check_stalls(now)
        expired = [k for k, o in self.tx_orphans.items() if o.expires < now]
        for key in expired:
            del self.tx_orphans[key]
        if now - self._last_flush >= ADDR_FLUSH_S:
            self._last_flush = now
            for peer in self.peers.values():
                if peer.key in self.addrman:
                    self.addrman.set_score(peer.key, peer.score(now))
            self.addrman.flush()
            self.bans.sweep()

    # --- RPC ----------------------------------------------------------------------------------
    def peer_info(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [self._describe(peer, now) for peer in sorted(self.peers.values(), key=_by_id)
                if peer.active]  # fmt: skip

    def _describe(self, peer: Peer, now: float) -> dict[str, Any]:
        version = peer.version
        services = version.services if version else 0
        if peer.router_conn is not None:
            host, port = peer.router_conn.peername[:2]
            addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        elif peer.address is not None:
            addr = peer.address.hostport
        else:
            addr = peer.ip
        info: dict[str, Any] = {
            "id": peer.id,
            "addr": addr,
            "network": "ipv6" if ":" in peer.ip else "ipv4",
            "services": f"{services:016x}",
            "servicesnames": [n for bit, n in SERVICE_NAMES.items() if services & bit],
            "relaytxes": True,
            "lastsend": peer.stats.last_send,
            "lastrecv": peer.stats.last_recv,
            "last_transaction": peer.stats.last_transaction,
            "last_block": peer.stats.last_block,
            "bytessent": peer.stats.bytes_sent,
            "bytesrecv": peer.stats.bytes_recv,
            "conntime": peer.stats.conn_time,
            "timeoffset": (version.timestamp - peer.stats.conn_time) if version else 0,
        }
        if peer.ping.last_rtt is not None:
            info["pingtime"] = round(peer.ping.last_rtt, 6)
            info["minping"] = round(peer.ping.min_rtt or 0.0, 6)
        if peer.ping.nonce is not None:
            info["pingwait"] = round(now - peer.ping.sent_at, 6)
        listen = None
        if peer.address is not None:
            listen = str(peer.address)
        elif version is not None and version.listen_port:
            host = version.listen_host or peer.ip
            listen = str(PeerAddress(peer.key, host, version.listen_port))
        info.update({
            "version": version.protocol if version else 0,
            "subver": version.user_agent if version else "",
            "inbound": peer.inbound,
            "startingheight": version.tip.height if version else -1,
            "synced_headers": peer.best_known_height,
            "synced_blocks": peer.tip.height,
            "inflight": sorted(self.sync.headers[h].header.height for h in peer.in_flight
                               if h in self.sync.headers),
            "addr_relay_enabled": True,
            "permissions": [],
            "bytessent_per_msg": dict(peer.stats.sent_per_msg),
            "bytesrecv_per_msg": dict(peer.stats.recv_per_msg),
            "connection_type": peer.conn_type,
            "transport_protocol_type": "curvezmq",
            "session_id": "",
            # Coinium's own fields:
            "key": peer.key_hex,
            "peeraddress": listen,
            "score": round(peer.score(now), 3),
            "gossip_in": peer.gossip_connected,  # we subscribe to its gossip socket
            "gossip_out": "pub" if peer.subscribed else "request-link",
            "sendqueue": len(peer.queue),
        })  # fmt: skip
        return info

    def network_info(self) -> dict[str, Any]:
        active = self.active_peers()
        inbound = sum(1 for p in active if p.inbound)
        return {
            "protocolversion": PROTOCOL_VERSION,
            "subversion": self.config.user_agent,
            "localservices": f"{NODE_NETWORK:016x}",
            "localservicesnames": ["NETWORK"],
            "localrelay": True,
            "connections": len(active),
            "connections_in": inbound,
            "connections_out": len(active) - inbound,
            "networkactive": True,
            "networks": [
                {"name": name, "limited": False, "reachable": True, "proxy": "",
                 "proxy_randomize_credentials": False} for name in ("ipv4", "ipv6")
            ],  # fmt: skip
            "localaddresses": [
                {"address": str(a), "host": a.host, "port": a.port, "score": 1,
                 "reachable": self._verified(a.host, a.port)}
                for a in self.local_addresses()
            ],  # fmt: skip
            "key": self.public_key.hex(),
            "listening": self.router is not None,
            "gossipport": self.pub_port,
            "banned": len(self.bans),
            "knownaddresses": len(self.addrman),
            "warnings": [],
        }

    def _verified(self, host: str, port: int) -> bool | None:
        """What a peer dialling host:port back found (None: not checked)."""
        verdict = self.reachability.verdicts.get(port)
        return verdict.reachable if verdict is not None and verdict.host == host else None

    def traffic_totals(self) -> tuple[int, int]:
        """(bytes received, bytes sent) over every peer since start (getnettotals)."""
        peers = list(self.peers.values())
        return (self.closed_traffic[0] + sum(p.stats.bytes_recv for p in peers),
                self.closed_traffic[1] + sum(p.stats.bytes_sent for p in peers))  # fmt: skip

    def connection_count(self) -> int:
        return len(self.active_peers())

    def add_node(self, text: str, command: str) -> None:
        """``addnode``: add/remove a persistent manual peer, or dial one once."""
        address = PeerAddress.parse(text)
        if command == "add":
            if address.key in self.manual and self.manual[address.key].persistent:
                raise KeyError("already added")
            self.manual[address.key] = _Manual(address)
            self.addrman.add(address, "manual")
            self.addrman.reset_backoff(address.key)
        elif command == "remove":
            if address.key not in self.manual:
                raise LookupError("not added")
            del self.manual[address.key]
        elif command == "onetry":
            self.addrman.reset_backoff(address.key)
            self.connect(address, "manual")
        else:
            raise ValueError(command)

    def disconnect_node(self, address: str | None = None, peer_id: int | None = None) -> bool:
        for peer in list(self.peers.values()):
            if peer_id is not None and peer.id != peer_id:
                continue
            if address is not None and not _names_peer(peer, address):
                continue
            self._close(peer, "disconnected by request")
            return True
        return False

    def set_ban(self, subject: str, command: str, ban_time: int = 0,
                absolute: bool = False) -> Ban | None:  # fmt: skip
        if command == "remove":
            if not self.bans.unban(subject):
                raise LookupError("not banned")
            return None
        canonical = ban_subject(subject)
        if any(b.subject == canonical for b in self.bans.entries()):
            raise KeyError("already banned")
        if absolute:
            ban = self.bans.ban(canonical, until=ban_time)
        else:
            ban = self.bans.ban(canonical, ban_time or self.config.ban_time)
        for peer in list(self.peers.values()):
            if self.bans.is_banned(peer.key_hex, peer.ip):
                self._close(peer, "banned by request")
        return ban

    def list_banned(self) -> list[Ban]:
        return self.bans.entries()

    def clear_banned(self) -> None:
        self.bans.clear()

    def ping_all(self) -> None:
        for peer in self.active_peers():
            self.ping(peer)


_MONITORED_EVENTS = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
                     | zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
                     | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_MONITOR_STOPPED)  # fmt: skip


def _consume(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()  # a PUB never blocks; a failed send is gossip lost, repaired by pull


def _by_id(peer: Peer) -> int:
    return peer.id


def _names_peer(peer: Peer, text: str) -> bool:
    text = text.strip()
    if text == peer.key_hex:
        return True
    if peer.address is not None and text in (str(peer.address), peer.address.hostport):
        return True
    if peer.router_conn is not None:
        host, port = peer.router_conn.peername[:2]
        if text in (f"{host}:{port}", f"[{host}]:{port}"):
            return True
    return False

