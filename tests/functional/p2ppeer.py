"""A scriptable raw peer (Bitcoin Core's P2PInterface, "mininode"): real CurveZMQ, our wire codec,
and no manners unless asked. It dials a node's ROUTER like a node would, and can then send
anything: well-formed messages, malformed or oversized frames, unrequested data, floods.

Default timeouts are generous (15 s): they bound what should happen, and CI runs on a loaded
2-core machine. A test that expects *nothing* passes its own short timeout."""

from __future__ import annotations

import random
import time

import zmq
from zmq.utils import z85

from coinium.core.params import REGTEST
from coinium.p2p.messages import (
    PROTOCOL_VERSION,
    Message,
    Ping,
    Pong,
    Tip,
    Verack,
    Version,
    decode,
    encode,
)
from coinium.p2p.transport import CurveKeys, PeerAddress


class RawPeer:
    def __init__(self, address: str, keys: CurveKeys | None = None, *,
                 claim: bytes | None = None, server_key: bytes | None = None,
                 slow_reader: bool = False):  # fmt: skip
        """``claim``: present this public key while holding another secret (an impostor);
        ``server_key``: expect this key from the node instead of the one in its address;
        ``slow_reader``: take (almost) nothing off the link unless asked (libzmq would otherwise
        read 1,000 messages ahead on its own)."""
        self.address = PeerAddress.parse(address)
        self.keys = keys or CurveKeys.generate()
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RECONNECT_IVL, 200)
        self.curve_keys = (z85.encode(server_key or self.address.key),
                           z85.encode(claim or self.keys.public))  # (the node's, ours)
        self.sock.curve_serverkey, self.sock.curve_publickey = self.curve_keys
        self.sock.curve_secretkey = self.keys.secret_z85
        if slow_reader:
            self.sock.setsockopt(zmq.RCVHWM, 1)
            self.sock.setsockopt(zmq.RCVBUF, 64 << 10)
        self.monitor = self.sock.get_monitor_socket()
        self.sock.connect(self.address.endpoint())
        self.received: list[Message] = []
        self.node_version: Version | None = None
        self.sub: zmq.Socket | None = None  # on the node's gossip socket, once `subscribe`d

    @property
    def key_hex(self) -> str:
        return self.keys.public.hex()

    def close(self) -> None:
        if self.sub is not None:
            self.sub.close(0)
        self.sock.disable_monitor()
        self.monitor.close(0)
        self.sock.close(0)
        self.ctx.term()

    # --- sending ------------------------------------------------------------------------------
    def send(self, message: Message) -> None:
        self.send_raw(encode(message))

    def send_raw(self, frame: bytes) -> None:
        self.sock.send(frame)

    def subscribe(self) -> None:
        """Subscribe to the node's gossip socket with our key, as a node that can reach it does
        (after the handshake: the port is in the node's version); `recv` then reads both links."""
        assert self.node_version is not None and self.node_version.pub_port
        sub = self.ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.curve_serverkey, sub.curve_publickey = self.curve_keys
        sub.curve_secretkey = self.keys.secret_z85
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(f"tcp://{self.address.host}:{self.node_version.pub_port}")
        self.sub = sub

    # --- receiving ----------------------------------------------------------------------------
    def recv(self, timeout: float = 15.0) -> Message | None:
        """The next message from the node, on the request link or (once subscribed) its gossip."""
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        if self.sub is not None:
            poller.register(self.sub, zmq.POLLIN)
        ready = dict(poller.poll(int(timeout * 1000)))
        if not ready:
            return None
        sock = self.sock if self.sock in ready else self.sub
        assert sock is not None
        message = decode(sock.recv())
        if isinstance(message, Ping):
            self.send(Pong(message.nonce, Tip(0, REGTEST.genesis_hash, 0)))
        self.received.append(message)
        return message

    def wait_for(self, kind: type, timeout: float = 15.0, where=None) -> Message:
        """The next message of ``kind`` (others are kept in ``received``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.recv(max(0.01, deadline - time.monotonic()))
            if isinstance(message, kind) and (where is None or where(message)):
                return message
        raise TimeoutError(f"no {kind.__name__} from the node within {timeout} s")

    def handshake(self, tip: Tip | None = None, chain_id: int = REGTEST.chain_id,
                  timeout: float = 10.0, *, listen_port: int = 0, pub_port: int = 0,
                  listen_host: str = "", protocol: int = PROTOCOL_VERSION) -> Version:  # fmt: skip
        self.send(Version(protocol, chain_id, REGTEST.genesis_hash, 1, int(time.time()),
                          random.getrandbits(64), tip or Tip(0, REGTEST.genesis_hash, 0),
                          listen_port, pub_port, listen_host, "/rawpeer:0.1/"))  # fmt: skip
        version = self.wait_for(Version, timeout)
        self.wait_for(Verack, timeout)
        self.send(Verack())
        self.node_version = version  # type: ignore[assignment]
        return version  # type: ignore[return-value]

    def sync_with_ping(self, timeout: float = 15.0) -> None:
        """A processing barrier: the node answered everything sent before this ping."""
        nonce = random.getrandbits(64)
        self.send(Ping(nonce, Tip(0, REGTEST.genesis_hash, 0)))
        self.wait_for(Pong, timeout, where=lambda m: m.nonce == nonce)

    def alive(self, timeout: float = 10.0) -> bool:
        try:
            self.sync_with_ping(timeout)
        except TimeoutError:
            return False
        return True

    def disconnected(self, timeout: float = 15.0) -> bool:
        """Whether the node dropped our link (a DISCONNECTED event on our socket)."""
        from zmq.utils.monitor import recv_monitor_message

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.monitor.poll(50):
                event = recv_monitor_message(self.monitor)
                if event["event"] in (zmq.EVENT_DISCONNECTED, zmq.EVENT_HANDSHAKE_FAILED_AUTH,
                                      zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
                                      zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL):  # fmt: skip
                    return True
        return False
