"""Transport: Curve keys, peer addresses, socket options, the ZAP handler, and kicking a peer.

Every link is CurveZMQ (RFC 26). A node's permanent Curve key pair lives in its datadir
(``p2p_key``, owner-only); its public key is its identity, and a peer address names it:
``<64 hex digits of the key>@host:port``. A client must know the server's key before it connects,
so a dialer that names the wrong key (or a server that does not hold the named key) fails the
handshake, and a client must prove it holds the key it presents, so nobody can pose as a peer.

Sockets (one ``zmq.asyncio.Context``, all on the event loop thread):

    ROUTER  bound on the P2P port, CURVE server: requests and replies, and gossip for peers that
            do not subscribe to us (NAT). Each frame carries the ZAP User-Id (the client's key).
    XPUB    bound on the gossip port, CURVE server: blocks and transactions to every subscriber.
            An XPUB (not a plain PUB) shows us each subscription with its User-Id, so we know
            which peers get our gossip there and which need it over the request link.
    DEALER  one per outbound peer, CURVE client with the peer's key as server key.
    SUB     one per peer we can reach, CURVE client, connected to the peer's gossip port.

ZAP (RFC 27) runs on the loop (`ZapHandler`): a handshake from a banned key or IP is refused,
which is what stops libzmq's automatic reconnection from undoing a ban. libzmq cannot close one
connection of a bound socket, so a banned or evicted inbound peer is disconnected by shutting its
TCP socket down (`kick`): the message property ``SRCFD`` names the file descriptor, and the peer
name (taken at the first message) is checked first, so a recycled descriptor is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.asyncio
from zmq.utils import z85

from coinium.p2p.messages import MAX_FRAME_SIZE

log = logging.getLogger("coinium.net")

KEY_FILE = "p2p_key"
ZAP_ENDPOINT = "inproc://zeromq.zap.01"

# Socket options (see docs/PROTOCOL.md). Heartbeats find dead TCP links that never say goodbye.
LINGER_MS = 0
HEARTBEAT_IVL_MS = 10_000
HEARTBEAT_TIMEOUT_MS = 30_000
HEARTBEAT_TTL_MS = 60_000
HANDSHAKE_IVL_MS = 10_000
RECONNECT_IVL_MS = 500
RECONNECT_IVL_MAX_MS = 4_000
DATA_HWM = 20_000  # messages; gossip bursts of small transactions must not be dropped
XPUB_MAX_INBOUND = 4096  # an XPUB only receives (un)subscriptions (and the CURVE handshake)


@dataclass(frozen=True, slots=True)
class CurveKeys:
    public: bytes  # 32 bytes
    secret: bytes  # 32 bytes

    @property
    def public_z85(self) -> bytes:
        return z85.encode(self.public)

    @property
    def secret_z85(self) -> bytes:
        return z85.encode(self.secret)

    @classmethod
    def generate(cls) -> CurveKeys:
        public, secret = zmq.curve_keypair()
        return cls(z85.decode(public), z85.decode(secret))

    @classmethod
    def from_secret(cls, secret: bytes) -> CurveKeys:
        return cls(z85.decode(zmq.curve_public(z85.encode(secret))), secret)


def load_or_create_keys(datadir: Path) -> CurveKeys:
    """The node's Curve key pair, created on first use (hex secret, owner-only file)."""
    path = Path(datadir) / KEY_FILE
    if path.exists():
        text = path.read_text().strip()
        try:
            secret = bytes.fromhex(text)
        except ValueError:
            secret = b""
        if len(secret) != 32:
            raise ValueError(f"{path}: not a 64-hex-digit Curve secret key")
        return CurveKeys.from_secret(secret)
    keys = CurveKeys.generate()
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(keys.secret.hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    log.info("created the node's Curve key pair in %s", path)
    return keys


_ADDRESS = re.compile(r"^([0-9a-fA-F]{64})@(\[[^\]]+\]|[^:@\[\]]+):(\d{1,5})$")


@dataclass(frozen=True, slots=True)
class PeerAddress:
    """``<key hex>@host:port``: where a node's ROUTER listens and the Curve key it holds."""

    key: bytes
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> PeerAddress:
        match = _ADDRESS.match(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not a peer address <64 hex digit key>@host:port")
        key, host, port = bytes.fromhex(match[1]), match[2].strip("[]"), int(match[3])
        if not 0 < port < 65536:
            raise ValueError(f"{text!r}: port {port} out of range")
        return cls(key, host, port)

    @property
    def key_hex(self) -> str:
        return self.key.hex()

    @property
    def hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def endpoint(self, port: int | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port if port is None else port}"

    def __str__(self) -> str:
        return f"{self.key.hex()}@{self.hostport}"


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# --- sockets --------------------------------------------------------------------------------------
def _common(sock: zmq.Socket) -> None:
    sock.setsockopt(zmq.LINGER, LINGER_MS)
    sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
    sock.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TTL_MS)
    sock.setsockopt(zmq.HANDSHAKE_IVL, HANDSHAKE_IVL_MS)
    sock.setsockopt(zmq.TCP_KEEPALIVE, 1)
    sock.setsockopt(zmq.SNDHWM, DATA_HWM)
    sock.setsockopt(zmq.RCVHWM, DATA_HWM)
    if sock.getsockopt(zmq.TYPE) == zmq.XPUB:
        sock.setsockopt(zmq.MAXMSGSIZE, XPUB_MAX_INBOUND)
    else:
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_SIZE)


def server_socket(ctx: zmq.asyncio.Context, kind: int, keys: CurveKeys) -> zmq.asyncio.Socket:
    """A CURVE server (ROUTER or XPUB) whose every client ZAP checks."""
    sock = ctx.socket(kind)
    _common(sock)
    sock.curve_server = True
    sock.curve_secretkey = keys.secret_z85
    sock.curve_publickey = keys.public_z85
    if kind == zmq.ROUTER:
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
    if kind == zmq.XPUB:
        sock.setsockopt(zmq.XPUB_VERBOSE, 1)  # every subscription, even a repeated one
    return sock


def client_socket(ctx: zmq.asyncio.Context, kind: int, keys: CurveKeys, server_key: bytes,
                  ipv6: bool = False) -> zmq.asyncio.Socket:  # fmt: skip
    """A CURVE client (DEALER or SUB) that only completes a handshake with ``server_key``."""
    sock = ctx.socket(kind)
    _common(sock)
    if ipv6:
        sock.setsockopt(zmq.IPV6, 1)
    sock.curve_serverkey = z85.encode(server_key)
    sock.curve_publickey = keys.public_z85
    sock.curve_secretkey = keys.secret_z85
    sock.setsockopt(zmq.RECONNECT_IVL, RECONNECT_IVL_MS)
    sock.setsockopt(zmq.RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS)
    if kind == zmq.DEALER:
        sock.setsockopt(zmq.IMMEDIATE, 1)  # queue nothing for a link that is not up
    if kind == zmq.SUB:
        sock.setsockopt(zmq.SUBSCRIBE, b"")
    return sock


def bind(sock: zmq.Socket, host: str, port: int) -> int:
    """Bind on ``host:port`` (port 0: any free port); return the port."""
    if ":" in host:
        sock.setsockopt(zmq.IPV6, 1)
    wildcard = host in ("0.0.0.0", "::", "*")
    address = "*" if wildcard else (f"[{host}]" if ":" in host else host)
    if port == 0:
        return sock.bind_to_random_port(f"tcp://{address}")
    sock.bind(f"tcp://{address}:{port}")
    return port


@dataclass(frozen=True, slots=True)
class Connection:
    """The TCP connection a frame arrived on: its descriptor and the peer name seen at the time."""

    fd: int
    peername: tuple

    @classmethod
    def of(cls, frame: zmq.Frame) -> Connection | None:
        try:
            fd = frame.get(zmq.SRCFD)
        except zmq.ZMQError:
            return None
        if fd is None or fd < 0:
            return None
        try:
            with socket.socket(fileno=os.dup(fd)) as dup:
                return cls(fd, dup.getpeername())
        except OSError:
            return None

    def alive(self) -> bool:
        """Whether the descriptor still holds this very connection."""
        try:
            with socket.socket(fileno=os.dup(self.fd)) as dup:
                return dup.getpeername() == self.peername
        except OSError:
            return False

    def kick(self) -> bool:
        """Shut the connection down (libzmq then drops its pipe); False if it is already gone."""
        try:
            with socket.socket(fileno=os.dup(self.fd)) as dup:
                if dup.getpeername() != self.peername:
                    return False  # the descriptor now belongs to another connection
                dup.shutdown(socket.SHUT_RDWR)
                return True
        except OSError:
            return False


class ZapHandler:
    """ZAP for the whole context: CURVE only, refusing what ``allow(key_hex, ip)`` refuses. The
    User-Id of an accepted client is its public key in hex, which every frame then carries."""

    def __init__(self, ctx: zmq.asyncio.Context, allow: Callable[[str, str], bool]):
        self.ctx = ctx
        self.allow = allow
        self.refused = 0
        self._sock: zmq.asyncio.Socket | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._sock = self.ctx.socket(zmq.REP)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind(ZAP_ENDPOINT)
        self._task = asyncio.create_task(self._serve(), name="p2p-zap")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sock is not None:
            self._sock.close(0)

    async def _serve(self) -> None:
        assert self._sock is not None
        while True:
            frames = await self._sock.recv_multipart()
            try:
                reply = self._answer(frames)
            except Exception:  # a handler bug must not leave ZAP without a reply
                log.exception("ZAP request failed")
                reply = [b"1.0", frames[1] if len(frames) > 1 else b"", b"500", b"error", b"", b""]
            await self._sock.send_multipart(reply)

    def _answer(self, frames: list[bytes]) -> list[bytes]:
        if len(frames) < 6:
            return [b"1.0", b"", b"500", b"bad request", b"", b""]
        version, request_id, _domain, address, _identity, mechanism = frames[:6]
        credentials = frames[6:]
        if mechanism != b"CURVE" or len(credentials) != 1 or len(credentials[0]) != 32:
            return [version, request_id, b"400", b"CURVE only", b"", b""]
        key_hex = credentials[0].hex()
        ip = address.decode(errors="replace")
        if not self.allow(key_hex, ip):
            self.refused += 1
            log.debug("refused connection from %s (key %s): banned", ip, key_hex)
            return [version, request_id, b"400", b"banned", b"", b""]
        return [version, request_id, b"200", b"OK", key_hex.encode(), b""]
