"""The PeerManager: the composition root of the peer-to-peer layer, and what the node sees of it.

The node starts it after the chain and mempool and stops it first. It is a `ChainListener` (a new
tip is relayed once the chain accepted it) and a `MempoolListener` (a transaction is relayed once
the mempool took it). It reaches the chain only through the callables in `NodeHooks`: reads run
on the chain thread (``on_chain``), blocks enter through the node's ``submit_block`` (which also
tells every listener) and transactions through ``submit_transaction``.

The work is done by parts, one module each, that reach each other only through this object:

    connections   `Connections`: sockets, per-peer reader/worker/sender tasks, dialling, closing
    dispatch      `Dispatcher`: frame accounting, rate limits, decoding, the handler table
    handshake     `Handshake`: VERSION/VERACK, pings, addresses, the reachability self-test
    txrelay       `TxRelay`: transaction inventory, requests, admission, orphans, relay
    blockrelay    `BlockRelay`: block pushes, serving blocks and headers, relay of new tips
    compactrelay  `CompactRelay`: new blocks as compact blocks, rebuilt from the mempool
    sync          `BlockSync`: the headers-first download (through `SyncHost`)
    penalties     `Penalties`: the one way a peer is scored, banned or rewarded
    rpcview       `PeerView`: what getpeerinfo, getnetworkinfo, addnode, setban ... see and do

Every message type has exactly one handler, registered in `_handler_table` (a test checks the
table against the message registry); a new message kind adds its module's table there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio

from coinium.chain.chainstate import AcceptResult
from coinium.core.block import Block
from coinium.core.params import NetworkParams
from coinium.core.transaction import Transaction
from coinium.mempool.pool import Mempool
from coinium.p2p.addrman import AddrMan
from coinium.p2p.banlist import DEFAULT_BAN_TIME, BanList
from coinium.p2p.blockrelay import BlockRelay
from coinium.p2p.compactrelay import CompactRelay
from coinium.p2p.connections import Connections, ManualPeer
from coinium.p2p.dispatch import Dispatcher, Handler, by_kind
from coinium.p2p.eviction import handshake_timeout
from coinium.p2p.gossip import Gossip
from coinium.p2p.handshake import Handshake
from coinium.p2p.messages import (
    GetData,
    Inv,
    Message,
    NotFound,
    Tip,
)
from coinium.p2p.peer import Peer
from coinium.p2p.peerdb import PeerDB
from coinium.p2p.penalties import Penalties
from coinium.p2p.reachability import Reachability
from coinium.p2p.rpcview import PeerView
from coinium.p2p.scoring import Merit, Misbehaviour
from coinium.p2p.sendwindow import SEND_STUCK_S, keep_large_buffers_out_of_the_heap
from coinium.p2p.sync import BlockSync
from coinium.p2p.transport import (
    CurveKeys,
    PeerAddress,
    ZapHandler,
    bind,
    load_or_create_keys,
    server_socket,
)
from coinium.p2p.txrelay import TxRelay

log = logging.getLogger("coinium.net")

ADDR_FLUSH_S = 10.0  # known addresses and scores reach peers.lmdb this often (if changed)
ADDR_FETCH_TIMEOUT_S = 30.0


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


class PeerManager:
    def __init__(self, config: P2PConfig, hooks: NodeHooks):
        self.config = config
        self.params = config.params
        self.hooks = hooks
        self.keys: CurveKeys | None = None
        self.nonce = random.getrandbits(64)
        # The peer table, shared by the parts.
        self.peers: dict[int, Peer] = {}
        self.by_key: dict[bytes, Peer] = {}  # handshake done (or under way), any direction
        self.outbound: dict[bytes, Peer] = {}  # every outbound link, from the dial on
        self.by_rid: dict[bytes, Peer] = {}  # inbound links by ROUTER routing id
        self.manual: dict[bytes, ManualPeer] = {}
        self.closed_traffic = [0, 0]  # bytes received from and sent to peers since closed
        self.mapped_addresses: list[tuple[str, int]] = []  # (host, port) a NAT maps to us
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
        # The parts.
        self.links = Connections(self)
        self.penalties = Penalties(self)
        self.handshake = Handshake(self)
        self.dispatch = Dispatcher(self)
        self.txs = TxRelay(self)
        self.blocks = BlockRelay(self)
        self.compact = CompactRelay(self)
        self.sync = BlockSync(self)
        self.reachability = Reachability(self)  # the dial-back self-test (checkaddr)
        self.view = PeerView(self)
        self.dispatch.handlers = self._handler_table()
        self._tasks: list[asyncio.Task] = []
        self._background: set[asyncio.Task] = set()
        self._last_flush = time.monotonic()

    def _handler_table(self) -> dict[type, Handler]:
        """Every message type the node accepts, and who handles it. A kind of message with
        parts in both relays (inventory, requests, misses) goes to the one its kind names."""
        return {
            **self.handshake.handlers(),
            **self.txs.handlers(),
            **self.blocks.handlers(),
            **self.compact.handlers(),
            Inv: by_kind(self.txs.on_inv, self.blocks.on_inv),
            GetData: by_kind(self.txs.on_getdata, self.blocks.on_getdata),
            NotFound: by_kind(self.txs.on_notfound, self.blocks.on_notfound),
        }

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        config = self.config
        keep_large_buffers_out_of_the_heap()
        self.keys = load_or_create_keys(config.datadir)
        self.db = PeerDB(config.datadir)
        self.bans = BanList(self.db)
        self.addrman = AddrMan(self.db)
        self.ctx = zmq.asyncio.Context()
        self.zap = ZapHandler(self.ctx, self.links.allow)
        self.zap.start()  # before any CURVE server binds: no handshake goes unchecked
        if config.listen:
            self.router = server_socket(self.ctx, zmq.ROUTER, self.keys)
            self.port = bind(self.router, config.bind, config.port)
            self.xpub = server_socket(self.ctx, zmq.XPUB, self.keys)
            self.pub_port = bind(self.xpub, config.bind, config.pub_port)
            self._spawn(self.links.router_loop(), "p2p-router")
            self._spawn(self.links.xpub_loop(), "p2p-xpub")
            self._spawn(self.links.server_monitor(self.router, "request"), "p2p-router-monitor")
            self._spawn(self.links.server_monitor(self.xpub, "gossip"), "p2p-xpub-monitor")
        self.gossip = Gossip(self.links.publish if self.xpub is not None else None)
        for text in (*config.connect, *config.addnode):
            address = PeerAddress.parse(text)
            self.manual[address.key] = ManualPeer(address)
            self.addrman.add(address, "manual")
            self.addrman.reset_backoff(address.key)
        for text in config.seednode:
            address = PeerAddress.parse(text)
            self.addrman.add(address, "seed")
        self.sync.start()
        self._spawn(self.links.connection_loop(), "p2p-connections")
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
            self.disconnect(peer, "shutting down")
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

    # --- facts and services for the parts (and `SyncHost`) ------------------------------------
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

    def send(self, peer: Peer, message: Message) -> None:
        self.links.send(peer, message)

    def disconnect(self, peer: Peer, reason: str) -> None:
        self.links.disconnect(peer, reason)

    def misbehaving(self, peer: Peer, what: Misbehaviour, detail: str = "") -> None:
        self.penalties.misbehaving(peer, what, detail)

    def reward(self, peer: Peer | None, what: Merit, count: int = 1) -> None:
        self.penalties.reward(peer, what, count)

    async def submit_block(self, block: Block, peer: Peer | None,
                           raw: bytes | None) -> AcceptResult:  # fmt: skip
        return await self.blocks.submit_block(block, peer, raw)

    async def submit_blocks(
        self, run: list[tuple[Block, Peer | None, bytes | None]]
    ) -> list[AcceptResult]:
        return await self.blocks.submit_blocks(run)

    def block_synced(self, block_hash: bytes) -> None:
        self.blocks.block_synced(block_hash)

    # --- listeners (chain and mempool) --------------------------------------------------------
    def block_connected(self, block: Block) -> None:
        self.blocks.block_connected(block)

    def block_disconnected(self, block: Block) -> None:
        pass

    def tip_updated(self, tip: Block) -> None:
        self.txs.new_tip()
        self.blocks.tip_updated(tip)

    def transaction_added(self, tx_raw: bytes, txid: bytes, mempool_sequence: int) -> None:
        self.txs.transaction_added(tx_raw, txid, mempool_sequence)

    def transaction_removed(self, tx_raw: bytes, txid: bytes, reason: str,
                            mempool_sequence: int) -> None:  # fmt: skip
        self.txs.transaction_removed(tx_raw, txid, reason, mempool_sequence)

    # --- upkeep -------------------------------------------------------------------------------
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
                    self.disconnect(peer, "handshake timeout")
                continue
            if peer.window.stuck(now):
                self.disconnect(peer, f"does not read what we send ({peer.window.unacked} bytes "
                                f"unacknowledged for {SEND_STUCK_S:.0f} s)")  # fmt: skip
                continue
            if peer.ping.nonce is not None and now - peer.ping.sent_at > max(60.0, 4 * interval):
                self.disconnect(peer, "ping timeout")
                continue
            if now - peer.stats.last_recv_mono > max(90.0, 6 * interval):
                self.disconnect(peer, "no message for too long")
                continue
            if peer.conn_type == "addr-fetch" and now - peer.created > ADDR_FETCH_TIMEOUT_S:
                self.disconnect(peer, "no addresses from the seed")
                continue
            if peer.ping.nonce is None and now - peer.ping.sent_at >= interval:
                self.handshake.ping(peer)
        self.sync.check_stalls(now)
        self.txs.expire_orphans(now)
        if now - self._last_flush >= ADDR_FLUSH_S:
            self._last_flush = now
            for peer in self.peers.values():
                if peer.key in self.addrman:
                    self.addrman.set_score(peer.key, peer.score(now))
            self.addrman.flush()
            self.bans.sweep()
