"""Connections: the sockets, the per-peer reader, worker and sender tasks, dialling, closing and
eviction. The ROUTER and XPUB the node listens on are the manager's; every DEALER and SUB it dials
is a peer's, opened here and closed in `Connections.disconnect`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from coinium.p2p.addrman import KnownAddress
from coinium.p2p.eviction import ConnectionRate, pending_victim
from coinium.p2p.gossip import SeenCache
from coinium.p2p.messages import (
    Message,
    Ping,
    encode,
    frame_type,
)
from coinium.p2p.peer import PRIORITY, Peer, PeerState, Priority
from coinium.p2p.scoring import Misbehaviour
from coinium.p2p.sendwindow import SEND_STUCK_S, trim_heap
from coinium.p2p.transport import (
    Connection,
    PeerAddress,
    client_socket,
    is_ip,
)

if TYPE_CHECKING:
    from coinium.p2p.manager import PeerManager

log = logging.getLogger("coinium.net")

MIN_GOOD_CONNECTION_S = 30.0  # an outbound link that lasted less counts as a failed attempt
SERVE_QUEUE_BYTES = 16 << 20  # serve more blocks once the peer's queue is below this


@dataclass(slots=True)
class ManualPeer:
    address: PeerAddress
    persistent: bool = True  # False: addnode onetry


class Connections:
    """Links to peers: who is connected, how frames get in and out."""

    def __init__(self, host: PeerManager) -> None:
        self.host = host
        self.xpub_subs: dict[str, Connection | None] = {}
        self._closed_rids = SeenCache(max_entries=10_000, ttl=60.0)
        self._next_id = 0
        self.connection_rate = ConnectionRate()

    def allow(self, key_hex: str, ip: str) -> bool:
        return not self.host.bans.is_banned(key_hex, ip)

    def _peer_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    async def router_loop(self) -> None:
        assert self.host.router is not None
        while True:
            frames = await self.host.router.recv_multipart(copy=False)
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
        peer = self.host.by_rid.get(rid)
        if peer is None:
            if rid in self._closed_rids:
                return  # frames still in flight from a link we closed
            peer = self._new_inbound(rid, key_hex, frame)
            if peer is None:
                return
        elif peer.key_hex != key_hex:
            return
        if len(frames) != 2:
            self.host.dispatch._count_in(peer, "multipart", sum(len(f) for f in frames[1:]))
            self.host.misbehaving(peer, Misbehaviour.MALFORMED, "a message of several frames")
            return
        self.host.dispatch.receive(peer, frame.bytes, "request")

    def _new_inbound(self, rid: bytes, key_hex: str, frame: zmq.Frame) -> Peer | None:
        conn = Connection.of(frame)
        try:
            ip = frame.get("Peer-Address")
        except zmq.ZMQError:
            ip = ""
        if self.host.bans.is_banned(key_hex, ip) or not self.connection_rate.allow(ip):
            if conn is not None:
                conn.kick()
            return None
        # A newcomer is never refused for want of a pending slot: it replaces a squatter.
        pending = [p for p in self.host.peers.values() if p.inbound and not p.active]
        victim = pending_victim(pending, ip)
        if victim is not None:
            self.disconnect(victim, "pending handshake evicted for a newcomer")  # type: ignore[arg-type]
        peer = Peer(self._peer_id(), True, key=bytes.fromhex(key_hex), ip=ip)
        peer.routing_id = rid
        peer.router_conn = conn
        self.host.peers[peer.id] = peer
        self.host.by_rid[rid] = peer
        self._start_peer_tasks(peer)
        return peer

    async def xpub_loop(self) -> None:
        assert self.host.xpub is not None
        while True:
            frames = await self.host.xpub.recv_multipart(copy=False)
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
            crowded = len(self.xpub_subs) > 4 * self.host.config.max_connections \
                and key_hex not in self.xpub_subs and key not in self.host.by_key  # fmt: skip
            if self.host.bans.is_banned(key_hex) or crowded:
                if conn is not None:
                    conn.kick()
                continue
            self.xpub_subs[key_hex] = conn
            peer = self.host.by_key.get(key)
            if peer is not None and peer.state != PeerState.CLOSED:
                peer.subscribed = True
                peer.xpub_conn = conn

    async def server_monitor(self, sock: zmq.asyncio.Socket, link: str) -> None:
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
                    for key_hex, conn in list(self.xpub_subs.items()):
                        if conn is not None and conn.fd == fd and not conn.alive():
                            del self.xpub_subs[key_hex]
                for peer in list(self.host.peers.values()):
                    conn = peer.router_conn if link == "request" else peer.xpub_conn
                    if conn is None or conn.fd != fd or conn.alive():
                        continue
                    if link == "request":
                        self.disconnect(peer, "request link lost")
                    else:
                        peer.subscribed = False
                        peer.xpub_conn = None
                        self.xpub_subs.pop(peer.key_hex, None)
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
                    self.host.misbehaving(peer, Misbehaviour.MALFORMED,
                                          "a message of several frames")
                    continue
                self.host.dispatch.receive(peer, frames[0], channel)
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
                    self.disconnect(peer, f"{link} link: CurveZMQ handshake failed (wrong key, or "
                                "refused by the peer)")  # fmt: skip
                    return
                elif kind == zmq.EVENT_DISCONNECTED:
                    self.disconnect(peer, f"{link} link lost")
                    return
                elif kind == zmq.EVENT_MONITOR_STOPPED:
                    return
        finally:
            monitor.close(0)

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
                self.disconnect(peer, "send failed")
                return
            kind = frame_type(frame)
            peer.stats.sent(kind.name.lower() if kind is not None else "unknown", len(frame))
            if kind is not None and PRIORITY[kind] != Priority.CONTROL:
                nonce = window.record(len(frame))
                ping = encode(Ping(nonce, self.host.tip())) if nonce is not None else None
                if ping is not None and not await self._transmit(peer, ping):
                    self.disconnect(peer, "send failed")
                    return

    async def _transmit(self, peer: Peer, frame: bytes) -> bool:
        deadline = time.monotonic() + SEND_STUCK_S
        while True:
            try:
                if peer.inbound:
                    router = self.host.router
                    assert router is not None and peer.routing_id is not None
                    await router.send_multipart([peer.routing_id, frame], flags=zmq.NOBLOCK)
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

    def publish(self, frame: bytes) -> None:
        assert self.host.xpub is not None
        future = self.host.xpub.send(frame, flags=zmq.NOBLOCK, copy=False)
        future.add_done_callback(_consume)

    def _start_peer_tasks(self, peer: Peer) -> None:
        peer.tasks.append(asyncio.create_task(self.host.dispatch.worker(peer),
                                              name=f"p2p-worker-{peer.id}"))  # fmt: skip
        peer.tasks.append(asyncio.create_task(self._sender(peer), name=f"p2p-sender-{peer.id}"))

    def connect(self, address: PeerAddress, conn_type: str) -> Peer | None:
        """Dial a peer: a DEALER with its key as server key, our VERSION queued."""
        assert self.host.ctx is not None and self.host.keys is not None
        key = address.key
        if key == self.host.keys.public or key in self.host.by_key or key in self.host.outbound:
            return None
        if self.host.bans.is_banned(key.hex()):
            return None
        peer = Peer(self._peer_id(), False, address=address, conn_type=conn_type)
        sock = client_socket(self.host.ctx, zmq.DEALER, self.host.keys, key,
                             ipv6=":" in address.host)  # fmt: skip
        peer.dealer = sock
        monitor = sock.get_monitor_socket(_MONITORED_EVENTS)
        self.host.peers[peer.id] = peer
        self.host.outbound[key] = peer
        self._start_peer_tasks(peer)
        peer.tasks.append(asyncio.create_task(self._dealer_loop(peer),
                                              name=f"p2p-dealer-{peer.id}"))  # fmt: skip
        peer.tasks.append(asyncio.create_task(self._monitor_loop(peer, monitor, "request"),
                                              name=f"p2p-monitor-{peer.id}"))  # fmt: skip
        try:
            sock.connect(address.endpoint())
        except zmq.ZMQError as exc:  # an address libzmq cannot use (a name that does not resolve)
            self.disconnect(peer, f"cannot connect to {address.hostport}: {exc}")
            monitor.close(0)  # its reader was cancelled before it ran, so it cannot close it
            return None
        self.host.addrman.attempt(key)
        self.send(peer, self.host.handshake.version_message())
        peer.version_sent = True
        log.debug("dialling %s (%s)", address, conn_type)
        return peer

    def connect_gossip(self, peer: Peer) -> None:
        """Subscribe to the peer's gossip socket, if it has one we can reach."""
        assert self.host.ctx is not None and self.host.keys is not None and peer.version is not None
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
        sock = client_socket(self.host.ctx, zmq.SUB, self.host.keys, peer.key, ipv6=":" in host)
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
        if peer.state == PeerState.CLOSED:
            return
        was_active = peer.active
        peer.state = PeerState.CLOSED
        self.host.closed_traffic[0] += peer.stats.bytes_recv
        self.host.closed_traffic[1] += peer.stats.bytes_sent
        peer.disconnect_reason = reason
        self.host.peers.pop(peer.id, None)
        if self.host.by_key.get(peer.key) is peer:
            del self.host.by_key[peer.key]
        if self.host.outbound.get(peer.key) is peer:
            del self.host.outbound[peer.key]
        if peer.routing_id is not None and self.host.by_rid.get(peer.routing_id) is peer:
            del self.host.by_rid[peer.routing_id]
            self._closed_rids.add(peer.routing_id)
        self.host.sync.peer_gone(peer)
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
        if self.xpub_subs.get(peer.key_hex) is peer.xpub_conn:
            self.xpub_subs.pop(peer.key_hex, None)
        score = peer.score()
        if peer.key in self.host.addrman:
            self.host.addrman.set_score(peer.key, score)
        if not peer.inbound:
            lasted = time.monotonic() - peer.created
            if was_active and lasted >= MIN_GOOD_CONNECTION_S:
                self.host.addrman.success(peer.key, score)
            else:
                self.host.addrman.failure(peer.key)
        level = logging.INFO if was_active or not peer.inbound else logging.DEBUG
        log.log(level, "peer %d (%s, %s) disconnected: %s", peer.id, peer.conn_type,
                peer.key_hex[:16], reason)  # fmt: skip

    def eviction_candidate(self) -> Peer | None:
        """The inbound peer to drop for a newcomer when inbound slots are full: Bitcoin Core's
        protect-then-evict, shortened. Protected: the 4 fastest (min ping), the 4 that last
        brought novel blocks and the 4 that last brought novel transactions; of the rest, the
        lowest score goes (the youngest connection between equals)."""
        candidates = [p for p in self.host.peers.values() if p.inbound and p.active]

        def protect(key: Callable[[Peer], Any], count: int) -> None:
            for peer in sorted(candidates, key=key)[:count]:
                candidates.remove(peer)

        protect(lambda p: p.ping.min_rtt if p.ping.min_rtt is not None else 1e9, 4)
        protect(lambda p: -p.stats.last_block, 4)
        protect(lambda p: -p.stats.last_transaction, 4)
        if not candidates:
            return None
        return min(candidates, key=lambda p: (p.score(), -p.created))

    def inbound_count(self) -> int:
        """Inbound peers holding a slot: active, and those past VERSION (about to be)."""
        return sum(1 for p in self.host.by_key.values() if p.inbound)

    async def connection_loop(self) -> None:
        while True:
            try:
                self._open_connections()
            except Exception:
                log.exception("p2p: connection upkeep failed")
            await asyncio.sleep(0.5)

    def _open_connections(self) -> None:
        if self.host.keys is None:
            return
        for key, manual in list(self.host.manual.items()):
            host = self.host
            if key in host.by_key or key in host.outbound or host.bans.is_banned(key.hex()):
                continue
            if not self.host.addrman.ready(key):
                continue
            self.connect(manual.address, "manual")
            if not manual.persistent:
                del self.host.manual[key]
        if self.host.config.connect:
            return  # -connect: these peers and no others
        automatic = sum(1 for p in self.host.outbound.values()
                        if p.conn_type == "outbound-full-relay")  # fmt: skip

        def exclude(entry: KnownAddress) -> bool:
            return (entry.key in self.host.by_key or entry.key in self.host.outbound
                    or entry.key in self.host.manual or entry.key == self.host.public_key
                    or self.host.bans.is_banned(entry.key.hex()))  # fmt: skip

        while automatic < self.max_outbound:
            entry = self.host.addrman.select(exclude)
            if entry is None:
                break
            if entry.source == "seed":
                self.connect(entry.address, "addr-fetch")
            else:
                self.connect(entry.address, "outbound-full-relay")
                automatic += 1

    async def drain(self, peer: Peer) -> None:
        while peer.queue.bytes > SERVE_QUEUE_BYTES and peer.state != PeerState.CLOSED:
            await asyncio.sleep(0.01)

    @property
    def max_outbound(self) -> int:
        return min(self.host.config.max_outbound, self.host.config.max_connections)

    @property
    def max_inbound(self) -> int:
        return max(0, self.host.config.max_connections - self.max_outbound)



_MONITORED_EVENTS = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
                     | zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
                     | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_MONITOR_STOPPED)  # fmt: skip


def _consume(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()  # a PUB never blocks; a failed send is gossip lost, repaired by pull
