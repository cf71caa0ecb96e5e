"""Curve keys, peer addresses, and CurveZMQ with the ZAP handler over real sockets."""

from __future__ import annotations

import asyncio
import os
import stat

import pytest
import zmq
import zmq.asyncio
from zmq.utils import z85

from coinium.p2p.transport import (
    Connection,
    CurveKeys,
    PeerAddress,
    ZapHandler,
    bind,
    client_socket,
    load_or_create_keys,
    server_socket,
)


def test_keys_are_created_once_and_kept_private(tmp_path):
    keys = load_or_create_keys(tmp_path)
    assert len(keys.public) == 32 and load_or_create_keys(tmp_path) == keys
    assert stat.S_IMODE(os.stat(tmp_path / "p2p_key").st_mode) == 0o600
    assert CurveKeys.from_secret(keys.secret) == keys
    (tmp_path / "p2p_key").write_text("nonsense")
    with pytest.raises(ValueError):
        load_or_create_keys(tmp_path)


def test_peer_addresses():
    key = bytes(range(32))
    text = f"{key.hex()}@127.0.0.1:19444"
    address = PeerAddress.parse(text)
    assert (address.key, address.host, address.port) == (key, "127.0.0.1", 19444)
    assert str(address) == text and address.endpoint(19445) == "tcp://127.0.0.1:19445"
    v6 = PeerAddress.parse(f"{key.hex()}@[::1]:1")
    assert v6.host == "::1" and str(v6).endswith("@[::1]:1") and v6.endpoint() == "tcp://[::1]:1"
    assert PeerAddress.parse(f"{key.hex()}@node.example:9333").host == "node.example"
    for bad in ("127.0.0.1:19444", f"{key.hex()[:-2]}@h:1", f"{key.hex()}@h:0",
                f"{key.hex()}@h:70000", f"{key.hex()}@h"):  # fmt: skip
        with pytest.raises(ValueError):
            PeerAddress.parse(bad)


async def _exchange(server_keys, client_keys, banned, claim=None, server_key=None):
    """Connect a DEALER to a CURVE ROUTER with ZAP; what the ROUTER received (or None)."""
    ctx = zmq.asyncio.Context()
    zap = ZapHandler(ctx, lambda key_hex, ip: key_hex not in banned)
    zap.start()
    router = server_socket(ctx, zmq.ROUTER, server_keys)
    port = bind(router, "127.0.0.1", 0)
    dealer = client_socket(ctx, zmq.DEALER, client_keys, server_key or server_keys.public)
    if claim is not None:
        dealer.curve_publickey = z85.encode(claim)
    dealer.connect(f"tcp://127.0.0.1:{port}")
    try:
        await asyncio.wait_for(dealer.send(b"hello"), 1.0)
        frames = await asyncio.wait_for(router.recv_multipart(copy=False), 1.0)
    except TimeoutError:
        return None
    finally:
        await zap.stop()
        ctx.destroy(linger=0)
    user = frames[-1].get("User-Id")
    return frames[-1].bytes, user


def test_curve_and_zap():
    server, client, other = CurveKeys.generate(), CurveKeys.generate(), CurveKeys.generate()
    # The right key: the frame arrives, tagged with the client's key.
    assert asyncio.run(_exchange(server, client, set())) == (b"hello", client.public.hex())
    # A banned key: refused at the handshake.
    assert asyncio.run(_exchange(server, client, {client.public.hex()})) is None
    # A client that claims a key it does not hold.
    assert asyncio.run(_exchange(server, client, set(), claim=other.public)) is None
    # A client that dials a server under the wrong key.
    assert asyncio.run(_exchange(server, client, set(), server_key=other.public)) is None


def test_kick_checks_the_peer_name_first():
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    a = socket.create_connection(listener.getsockname())
    b, _ = listener.accept()
    conn = Connection(b.fileno(), b.getpeername())
    stale = Connection(b.fileno(), ("127.0.0.1", 1))
    assert conn.alive() and not stale.alive() and not stale.kick()
    assert conn.kick()
    assert a.recv(1) == b""  # the other side sees the connection end
    b.close()
    assert not conn.alive()  # libzmq closed its descriptor: the connection is gone
    for s in (a, listener):
        s.close()
