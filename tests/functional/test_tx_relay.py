"""Transaction relay against a real node process: raw peers over real CurveZMQ, each subscribed to
the node's gossip socket as a reachable node is, send and announce transactions and watch what
comes back on either link."""

from __future__ import annotations

import time

import pytest
from conftest_keys import ALICE, BOB, address_of
from nodeproc import wait_until
from p2ppeer import RawPeer

from coinium.core.params import REGTEST
from coinium.core.transaction import sign_transfer
from coinium.core.units import COIN
from coinium.p2p.messages import GetData, Inv, InvKind, TxMsg, TxsMsg

pytestmark = pytest.mark.slow


def _txids(peer: RawPeer) -> set[bytes]:
    """The transactions the peer has received so far, on either link."""
    got: set[bytes] = set()
    for message in peer.received:
        if isinstance(message, TxsMsg):
            got.update(tx.txid for tx in message.txs)
        elif isinstance(message, TxMsg):
            got.add(message.txid)
    return got


def _read_until(peer: RawPeer, done, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout} s")
        peer.recv(0.05)


def _subscribed_peer(node, rpc_port_address: str) -> RawPeer:
    peer = RawPeer(rpc_port_address)
    peer.handshake()
    peer.subscribe()
    wait_until(lambda: any(p["key"] == peer.key_hex and p["gossip_out"] == "pub"
                           for p in node.rpc("getpeerinfo")), 20,
               message="the raw peer subscribed to the node's gossip")  # fmt: skip
    return peer


def test_a_peer_never_gets_back_what_it_sent_or_announced(start_node):
    node = start_node("node")
    node.rpc("generatetoaddress", 2, address_of(ALICE))
    txs = [sign_transfer(ALICE, REGTEST.chain_id, BOB.account, COIN, 5000, nonce)
           for nonce in range(31)]  # fmt: skip
    sent, announced, later = txs[:20], txs[20:30], txs[30]
    address = node.rpc("getnetworkinfo")["localaddresses"][0]["address"]
    a = _subscribed_peer(node, address)
    b = _subscribed_peer(node, address)
    try:
        # a sends a batch and announces ten more (and never answers the node's request for
        # them); b gets a's batch, then sends the ten a announced and one more.
        a.send(TxsMsg(tuple(sent)))
        a.send(Inv(InvKind.TX, tuple(tx.txid for tx in announced)))
        _read_until(b, lambda: {tx.txid for tx in sent} <= _txids(b), what="a's batch at b")
        a.wait_for(GetData, where=lambda m: m.kind == InvKind.TX)  # the node read a's inv
        b.send(TxsMsg((*announced, later)))
        # What a neither sent nor announced reaches it ...
        _read_until(a, lambda: later.txid in _txids(a), what="b's new transaction at a")
        assert node.rpc("getmempoolinfo")["size"] == len(txs)
        # ... and nothing else, on either link, a while after (frames to one peer keep their
        # order, but its two links do not: read both for a second more).
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            a.recv(0.05)
            b.recv(0.05)
        assert _txids(a) == {later.txid}
        assert _txids(b) == {tx.txid for tx in sent}
    finally:
        a.close()
        b.close()
