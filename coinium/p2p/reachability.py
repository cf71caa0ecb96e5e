"""The reachability self-test: before the node announces an address (one a NAT maps to it, or an
``--externalip``), a connected peer dials it back.

The node sends ``checkaddr(nonce, port)``; the peer dials ``tcp://<the IP it sees the node at>:
<port>`` with the node's Curve key as the server key, and answers ``checkaddrreply(nonce, port,
reachable, host)``: reachable only when the CurveZMQ handshake completed, which proves that the
node itself (the holder of the key) answered there, not some other service on that port. The
dialled host is never taken from the message, so a node cannot make its peers dial third
parties, and each peer serves one check per `SERVE_INTERVAL_S` (more are ignored).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from coinium.p2p.messages import CheckAddr, CheckAddrReply
from coinium.p2p.transport import client_socket

if TYPE_CHECKING:
    from coinium.p2p.manager import PeerManager
    from coinium.p2p.peer import Peer

log = logging.getLogger("coinium.p2p")

DIAL_TIMEOUT_S = 5.0
REPLY_TIMEOUT_S = 15.0
SERVE_INTERVAL_S = 60.0
_DIAL_EVENTS = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
                | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)


@dataclass(frozen=True, slots=True)
class Verdict:
    host: str  # where the checking peer sees us (and dialled)
    port: int
    reachable: bool
    checked_by: str  # the peer's key, hex
    at: int  # unix seconds


async def dial_back(ctx: zmq.asyncio.Context, manager: PeerManager, server_key: bytes, host: str,
                    port: int, timeout: float = DIAL_TIMEOUT_S) -> bool:  # fmt: skip
    """Whether a CurveZMQ handshake with ``server_key`` completes at host:port in time."""
    sock = client_socket(ctx, zmq.DEALER, manager.keys, server_key, ipv6=":" in host)
    monitor = sock.get_monitor_socket(_DIAL_EVENTS)
    try:
        sock.connect(f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}")
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not await monitor.poll(left * 1000):
                break
            event = parse_monitor_message(await monitor.recv_multipart())
            if event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                return True
            if event["event"] & _DIAL_EVENTS:
                return False  # someone answered, but not the holder of that key
        return False
    finally:
        with contextlib.suppress(zmq.ZMQError):
            sock.disable_monitor()
        monitor.close(0)
        sock.close(0)


class Reachability:
    """Both sides of the self-test for one PeerManager."""

    def __init__(self, manager: PeerManager) -> None:
        self.manager = manager
        self.verdicts: dict[int, Verdict] = {}  # by the port checked
        self._waiting: dict[int, tuple[asyncio.Future[Verdict], bytes]] = {}
        self._served: dict[bytes, float] = {}

    # --- the peer that dials back -------------------------------------------------------------
    async def serve(self, peer: Peer, msg: CheckAddr) -> None:
        now = time.monotonic()
        if now - self._served.get(peer.key, -SERVE_INTERVAL_S) < SERVE_INTERVAL_S:
            return  # one check per peer per interval: no dialling on demand
        self._served[peer.key] = now
        host = peer.router_conn.peername[0] if peer.router_conn is not None else peer.ip
        if not host or msg.port == 0:
            return
        ok = await dial_back(self.manager.ctx, self.manager, peer.key, host, msg.port)
        self.manager.send(peer, CheckAddrReply(msg.nonce, msg.port, ok, host))

    # --- the node that asks -------------------------------------------------------------------
    def take_reply(self, peer: Peer, msg: CheckAddrReply) -> bool:
        """Resolve the check this answers; False for a reply nobody asked for."""
        waiting = self._waiting.get(msg.nonce)
        if waiting is None or waiting[1] != peer.key:
            return False
        future, _ = self._waiting.pop(msg.nonce)
        if not future.done():
            future.set_result(Verdict(msg.host, msg.port, msg.reachable, peer.key_hex,
                                      int(time.time())))  # fmt: skip
        return True

    async def check(self, port: int, peers: int = 2,
                    timeout: float = REPLY_TIMEOUT_S) -> Verdict | None:  # fmt: skip
        """Ask up to ``peers`` connected peers (outbound first) to dial ``port`` back; the first
        reachable verdict, else the last unreachable one, else None (no peer answered)."""
        candidates = sorted(self.manager.active_peers(), key=lambda p: p.inbound)[:peers]
        asked: list[asyncio.Future[Verdict]] = []
        loop = asyncio.get_running_loop()
        for peer in candidates:
            nonce = random.getrandbits(64)
            future: asyncio.Future[Verdict] = loop.create_future()
            self._waiting[nonce] = (future, peer.key)
            asked.append(future)
            self.manager.send(peer, CheckAddr(nonce, port))
        found: Verdict | None = None
        try:
            for next_done in asyncio.as_completed(asked, timeout=timeout):
                verdict = await next_done
                found = verdict
                if verdict.reachable:
                    break
        except TimeoutError:
            pass
        finally:
            for nonce, (future, _) in list(self._waiting.items()):
                if future in asked:
                    del self._waiting[nonce]
        if found is not None:
            self.verdicts[port] = found
            log.info("p2p: port %d is %s at %s (checked by %s)", port,
                     "reachable" if found.reachable else "NOT reachable", found.host,
                     found.checked_by[:16])  # fmt: skip
        return found


SELF_TEST_INTERVAL_S = 1800.0  # a verdict is re-checked this often
PEER_WAIT_S = 1.0


async def self_test_loop(manager: PeerManager, mapped: Callable[[], tuple[str, int] | None],
                         interval: float = SELF_TEST_INTERVAL_S) -> None:  # fmt: skip
    """Keep the node's announced addresses verified: the NAT-mapped one (``mapped()``: external
    host and port, or None) is announced only once a peer reached it, and withdrawn when one no
    longer does; ``--externalip`` addresses get a verdict in getnetworkinfo."""
    while True:
        address = mapped()
        ports = {address[1]} if address is not None else set()
        if manager.config.externalip:
            ports.add(manager.port)
        if not ports or not manager.active_peers():
            await asyncio.sleep(PEER_WAIT_S)
            continue
        answered = True
        for port in sorted(ports):
            verdict = await manager.reachability.check(port)
            answered = answered and verdict is not None
            if address is None or port != address[1] or verdict is None:
                continue
            good = verdict.reachable and verdict.host == address[0]
            if good and address not in manager.mapped_addresses:
                manager.mapped_addresses.append(address)
            elif not good and address in manager.mapped_addresses:
                manager.mapped_addresses.remove(address)
        await asyncio.sleep(interval if answered else PEER_WAIT_S * 5)
