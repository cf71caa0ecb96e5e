"""A hostile peer speaking the wire protocol over real CurveZMQ: an invalid block, malformed
frames, oversized messages, unrequested data, a flood, a stalled download, impostor keys. Each
gets the peer banned (or refused); the node stays up and correct and its honest peer never
notices."""

from __future__ import annotations

import time

import pytest
import zmq
from conftest_keys import ALICE, address_of
from helpers import DictView
from nodeproc import node_key, peer_address, peer_keys, sync_blocks, wait_connected, wait_until
from p2ppeer import RawPeer
from zmq.utils import z85

from coinium.chain.builder import mine
from coinium.consensus.state_transition import apply_block
from coinium.consensus.subsidy import block_subsidy
from coinium.core.account import Account
from coinium.core.block import Block
from coinium.core.header import Header
from coinium.core.params import BLOCK_VERSION, REGTEST
from coinium.core.state import NS_ACCOUNT
from coinium.core.transaction import Transaction
from coinium.core.units import COIN
from coinium.crypto.state_proof import record_path, root_of_records, value_hash
from coinium.p2p.messages import (
    MAX_TX_SIZE,
    BlockMsg,
    GetData,
    GetHeaders,
    Headers,
    InvKind,
    MempoolReq,
    MsgType,
    NotFound,
    Ping,
    Pong,
    Tip,
    TxMsg,
    encode,
)
from coinium.p2p.transport import CurveKeys, PeerAddress

pytestmark = pytest.mark.slow


def tip_block(node) -> Block:
    return Block.decode(bytes.fromhex(node.rpc("getblock", node.rpc("getbestblockhash"), 0)))


def node_state(node) -> DictView:
    """The node's state after its tip, replayed here from its blocks (a short regtest chain)."""
    view = DictView()
    for height in range(node.rpc("getblockcount") + 1):
        raw = node.rpc("getblock", node.rpc("getblockhash", height), 0)
        view.apply(apply_block(Block.decode(bytes.fromhex(raw)), view, REGTEST))
    return view


def root_of(view: DictView) -> bytes:
    return root_of_records((record_path(ns, key), value_hash(value))
                           for (ns, key), value in view.records.items())  # fmt: skip


def blocks_on(node, count: int, *, overpay: int = 0, state_root: bytes | None = None
              ) -> list[Block]:  # fmt: skip
    """Mined regtest blocks on the node's tip, each committing to the state its parent left;
    ``overpay`` makes the first one's coinbase too rich, ``state_root`` replaces the first one's
    state root."""
    parent = tip_block(node)
    view = node_state(node)
    blocks = []
    timestamp = max(parent.header.timestamp + 1, int(time.time()))
    for i in range(count):
        height = parent.height + 1
        amount = block_subsidy(height, REGTEST) + (overpay if i == 0 else 0)
        coinbase = Transaction.coinbase(height, ALICE.account, amount, b"raw peer")
        root = state_root if i == 0 and state_root is not None else root_of(view)
        header = Header(BLOCK_VERSION, height, parent.hash, coinbase.txid, root, timestamp + i,
                        REGTEST.genesis_bits, 0)  # fmt: skip
        parent = mine(Block(header, (coinbase,)))
        view.apply(_credit(view, coinbase))
        blocks.append(parent)
    return blocks


def _credit(view: DictView, coinbase: Transaction):
    """The state change of a coinbase-only block (applied even when the block overpays, which
    no later block here depends on)."""
    raw = view.get(NS_ACCOUNT, coinbase.recipient)
    before = Account.decode(raw) if raw is not None else Account(0, 0)

    class Delta:
        new = {(NS_ACCOUNT, coinbase.recipient):
               Account(before.balance + coinbase.amount, before.nonce).encode()}

    return Delta


def settled_link(node, other) -> list[int]:
    """The id of the node's one link to ``other`` once it stays put for 2 s: after a restart both
    may dial each other, and the duplicate link is closed a moment later."""
    seen: list[int] = []
    since = time.monotonic()

    def steady() -> bool:
        nonlocal seen, since
        ids = [p["id"] for p in node.rpc("getpeerinfo") if p["key"] == node_key(other)]
        if ids != seen:
            seen, since = ids, time.monotonic()
        return len(ids) == 1 and time.monotonic() - since >= 2.0

    wait_until(steady, 20, message="one settled link")
    return seen


def banned_reasons(node) -> dict[str, str]:
    return {ban["address"]: ban["reason"] for ban in node.rpc("listbanned")}


@pytest.fixture
def network(start_node):
    node = start_node("node")
    honest = start_node("honest", extra_args=[f"--connect={peer_address(node)}"])
    wait_connected(node, honest)
    node.rpc("generatetoaddress", 5, address_of(ALICE))
    sync_blocks([node, honest])
    honest_id = [p["id"] for p in node.rpc("getpeerinfo") if p["key"] == node_key(honest)]
    yield node, honest, honest_id
    # The honest peer never noticed: the same connection all along, and blocks still flow.
    assert [p["id"] for p in node.rpc("getpeerinfo") if p["key"] == node_key(honest)] == honest_id
    honest.rpc("generatetoaddress", 1, address_of(ALICE))
    sync_blocks([node, honest])


def expect_ban(node, peer: RawPeer, reason: str) -> None:
    wait_until(lambda: banned_reasons(node).get(peer.key_hex) == reason, 10,
               message=f"a ban for {reason}")  # fmt: skip
    assert peer.key_hex not in peer_keys(node)


def test_misbehaving_peers_are_banned_and_the_node_carries_on(network):
    node, honest, _ = network
    address = peer_address(node)
    height = node.rpc("getblockcount")

    # An invalid block (a coinbase paying more than the subsidy, with valid proof of work).
    peer = RawPeer(address)
    peer.handshake()
    bad = blocks_on(node, 1, overpay=COIN)[0]
    peer.send(BlockMsg.from_block(bad))
    expect_ban(node, peer, "invalid-block")
    assert peer.disconnected()
    peer.close()

    # Malformed frames: an empty frame, a truncated ping, an inventory whose count lies.
    peer = RawPeer(address)
    peer.handshake()
    peer.send_raw(b"")
    peer.send_raw(bytes((MsgType.PING,)) + b"\x01\x02\x03")
    peer.send_raw(bytes((MsgType.INV, InvKind.TX)) + (5).to_bytes(2, "little") + bytes(32))
    expect_ban(node, peer, "malformed-message")
    peer.close()

    # Oversized: a "transaction" past its type's cap.
    peer = RawPeer(address)
    peer.handshake()
    peer.send_raw(bytes((MsgType.TX,)) + bytes(MAX_TX_SIZE + 1))  # one byte over the tx cap
    expect_ban(node, peer, "oversized-message")
    peer.close()

    # Unrequested data: headers, notfound and pongs nobody asked for.
    peer = RawPeer(address)
    peer.handshake()
    for _ in range(3):
        peer.send(Headers((tip_block(node).header,)))
        peer.send(NotFound(InvKind.BLOCK, (bytes(32),)))
        peer.send(Pong(12345, Tip(0, bytes(32), 0)))
    expect_ban(node, peer, "unrequested-data")
    peer.close()

    # A flood: thousands of pings in a burst.
    peer = RawPeer(address)
    peer.handshake()
    frame = encode(Ping(1, Tip(0, bytes(32), 0)))
    for _ in range(3000):
        try:
            peer.sock.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            break  # banned and dropped already: a blocking send would wait for ever
    expect_ban(node, peer, "flooding")
    peer.close()

    # A transaction with a forged signature.
    peer = RawPeer(address)
    peer.handshake()
    forged = Transaction.transfer(ALICE.public_key, ALICE.account, COIN, 10_000, 0,
                                  signature=bytes(range(64)))  # fmt: skip
    peer.send(TxMsg.from_tx(forged))
    expect_ban(node, peer, "invalid-tx")
    peer.close()

    # A frame over ZMQ_MAXMSGSIZE never reaches the node: libzmq drops the connection itself.
    peer = RawPeer(address)
    peer.handshake()
    peer.send_raw(bytes((MsgType.BLOCK,)) + bytes(5_000_000))
    assert peer.disconnected()
    peer.close()

    # Still up, still correct, and the bans keep the keys out.
    assert node.rpc("getblockcount") == height
    assert len(banned_reasons(node)) == 6
    # The node notices the dropped link too (its ROUTER's monitor), then only the honest peer
    # is left.
    wait_until(lambda: node.rpc("getconnectioncount") == 1, 10, message="one peer left")
    assert peer_keys(node) == {node_key(honest)}


def test_a_block_committing_to_a_wrong_state_root_gets_its_peer_banned(network):
    """Valid proof of work and transactions, but a state root other than the tip's state."""
    node, _, _ = network
    height = node.rpc("getblockcount")
    good_root = bytes.fromhex(node.rpc("getblocktemplate")["stateroot"])
    assert blocks_on(node, 1)[0].header.state_root == good_root  # the helper's root is right
    peer = RawPeer(peer_address(node))
    peer.handshake()
    lying = blocks_on(node, 1, state_root=bytes([0x5A]) * 32)[0]
    peer.send(BlockMsg.from_block(lying))
    expect_ban(node, peer, "invalid-block")
    assert peer.disconnected()
    peer.close()
    assert node.rpc("getblockcount") == height


def test_a_banned_key_stays_out_across_a_restart(network):
    node, honest, honest_id = network
    keys = CurveKeys.generate()
    peer = RawPeer(peer_address(node), keys)
    peer.handshake()
    peer.send(BlockMsg.from_block(blocks_on(node, 1, overpay=COIN)[0]))
    expect_ban(node, peer, "invalid-block")
    peer.close()

    node.stop()
    node.start()
    wait_connected(node, honest)
    honest_id[:] = settled_link(node, honest)
    assert banned_reasons(node).get(keys.public.hex()) == "invalid-block"
    # The same key is refused at the CurveZMQ handshake: no reply, ever.
    again = RawPeer(peer_address(node), keys)
    with pytest.raises(TimeoutError):
        again.handshake(timeout=2)
    again.close()
    node.rpc("setban", keys.public.hex(), "remove")
    welcome = RawPeer(peer_address(node), keys)
    welcome.handshake()
    assert welcome.alive()
    welcome.close()


def test_a_stalling_peer_is_replaced(network):
    node, honest, _ = network
    chain = blocks_on(node, 3)
    work_hint = 1 << 200  # "I have far more work than you": the node asks for headers
    peer = RawPeer(peer_address(node))
    peer.handshake(tip=Tip(chain[-1].height, chain[-1].hash, work_hint))
    request = peer.wait_for(GetHeaders, 10)
    assert isinstance(request, GetHeaders)
    peer.send(Headers(tuple(b.header for b in chain)))
    peer.wait_for(GetData, 10)  # ... and never delivers
    wait_until(lambda: peer.key_hex not in peer_keys(node), 15, message="the staller dropped")
    peer.close()
    # The blocks come from an honest peer instead.
    for block in chain:
        assert honest.rpc("submitblock", block.encode().hex()) is None
    assert sync_blocks([node, honest]) == chain[-1].hash.hex()


def test_wrong_keys_are_refused(network, start_node):
    node, honest, _ = network
    real = PeerAddress.parse(peer_address(node))
    # A node told the wrong key for its peer never connects (the CurveZMQ handshake fails).
    wrong = PeerAddress(CurveKeys.generate().public, real.host, real.port)
    stray = start_node("stray", extra_args=[f"--connect={wrong}"])
    time.sleep(3)
    assert stray.rpc("getconnectioncount") == 0
    # A client claiming a key it does not hold cannot complete the handshake.
    impostor = RawPeer(str(real), claim=node_key(honest) and bytes.fromhex(node_key(honest)))
    with pytest.raises(TimeoutError):
        impostor.handshake(timeout=2)
    impostor.close()
    # Another network's peer is refused (and banned: it is never useful).
    stranger = RawPeer(str(real))
    stranger.send_raw(b"")  # nothing yet: just make sure the link is up
    with pytest.raises(TimeoutError):
        stranger.handshake(chain_id=0xC01A0001, timeout=2)
    wait_until(lambda: banned_reasons(node).get(stranger.key_hex) == "wrong-network", 10,
               message="a ban for another network")  # fmt: skip
    stranger.close()


def test_an_inbound_peer_naming_an_unusable_gossip_host_is_still_welcomed(start_node):
    # What an inbound peer says of itself is not a place to dial: a host that is no IP address
    # (here one libzmq refuses outright) made the handshake's last step raise, so the peer got
    # no MEMPOOL request, no address exchange and no sync.
    node = start_node("node")
    peer = RawPeer(peer_address(node))
    try:
        peer.handshake(listen_port=1, pub_port=1, listen_host="no such host")
        peer.wait_for(MempoolReq, 10)
        assert peer.alive()
        assert "Traceback" not in node.output()
    finally:
        peer.close()


def test_stray_gossip_subscribers_do_not_crowd_out_peers(start_node):
    # Subscribers to the gossip socket that never become peers were remembered for good; past
    # 4 x maxconnections of them every new subscriber was refused, and a node whose gossip
    # subscription is refused drops the whole connection: no new peer could stay.
    node = start_node("node", extra_args=["--maxconnections=9"])
    info = node.rpc("getnetworkinfo")
    server_key = bytes.fromhex(info["key"])
    ctx = zmq.Context()
    subs = []
    try:
        for _ in range(4 * 9 + 2):
            keys = CurveKeys.generate()
            sock = ctx.socket(zmq.SUB)
            sock.setsockopt(zmq.LINGER, 0)
            sock.curve_serverkey = z85.encode(server_key)
            sock.curve_publickey = keys.public_z85
            sock.curve_secretkey = keys.secret_z85
            sock.setsockopt(zmq.SUBSCRIBE, b"")
            subs.append((sock, sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)))
            sock.connect(f"tcp://127.0.0.1:{info['gossipport']}")
        for _, monitor in subs:
            assert monitor.poll(10_000), "a subscriber never got through the handshake"
        time.sleep(1.0)  # the node reads every subscription
    finally:
        for sock, monitor in subs:
            sock.disable_monitor()
            monitor.close(0)
            sock.close(0)
        ctx.term()
    honest = start_node("honest", extra_args=[f"--connect={peer_address(node)}"])

    def honest_links() -> list[tuple[int, str]]:
        return [(p["id"], p["gossip_out"]) for p in node.rpc("getpeerinfo")
                if p["key"] == node_key(honest)]  # fmt: skip

    wait_until(lambda: [g for _, g in honest_links()] == ["pub"], 20,
               message="the honest peer subscribed to the node's gossip")  # fmt: skip
    links = honest_links()
    time.sleep(2)
    assert honest_links() == links  # the same connection, still subscribed
