"""ZmqNotifier on real ZeroMQ sockets (127.0.0.1, free ports): exact frames and sequence numbers.

Slow joiner: a SUB socket misses what is published before its subscription reaches the PUB
socket, so each subscriber first syncs: it subscribes to a probe topic and the test sends probes
straight on the notifier's socket (never through a notifier, so no counter moves) until one
arrives. Subscriptions travel in order on one connection, so the real topics are live by then.
"""

from __future__ import annotations

import logging
import struct
import time
from types import SimpleNamespace

import pytest
import zmq
from notify.notify_helpers import free_endpoint, seq

from coinium.chain.builder import build_block, generate, mine
from coinium.chain.chainstate import AcceptStatus
from coinium.config import ZMQ_TOPICS, ZmqPublisher
from coinium.core.params import REGTEST
from coinium.core.transaction import sign_transfer
from coinium.core.units import COIN
from coinium.node import Node
from coinium.notify.zmq_publisher import TOPICS, NotifierError, ZmqNotifier

PROBE = b"probe"
CHAIN_ID = REGTEST.chain_id


def mempool_seq(n: int) -> bytes:
    return struct.pack("<Q", n)


class Subscriber:
    """A SUB socket connected to one address, subscribed to everything."""

    def __init__(self, context: zmq.Context, address: str, topics: tuple[bytes, ...] = (b"",)):
        self.address = address
        self.sock = context.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        for topic in topics:
            self.sock.setsockopt(zmq.SUBSCRIBE, topic)
        self.sock.connect(address)

    def sync(self, notifier: ZmqNotifier, timeout: float = 5.0) -> None:
        pub = notifier._sockets[self.address]
        self.sock.setsockopt(zmq.SUBSCRIBE, PROBE)
        deadline = time.monotonic() + timeout
        while True:
            pub.send_multipart([PROBE, b"", b""])
            if self.sock.poll(20) and self.sock.recv_multipart()[0] == PROBE:
                break
            assert time.monotonic() < deadline, f"subscriber never joined {self.address}"
        self.sock.setsockopt(zmq.UNSUBSCRIBE, PROBE)

    def recv(self, timeout: float = 5.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            assert left_ms > 0 and self.sock.poll(left_ms), f"no message on {self.address}"
            frames = self.sock.recv_multipart()
            if frames[0] != PROBE:  # probes still in flight after sync
                return frames

    def recv_many(self, n: int) -> list[list[bytes]]:
        return [self.recv() for _ in range(n)]

    def close(self) -> None:
        self.sock.close(linger=0)


@pytest.fixture
def zctx():
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


@pytest.fixture
def make_notifier(zctx):
    """Notifiers on the test's context, all closed at the end."""
    notifiers: list[ZmqNotifier] = []

    def make(*publishers: ZmqPublisher) -> ZmqNotifier:
        notifier = ZmqNotifier(publishers, context=zctx)
        notifiers.append(notifier)
        return notifier

    yield make
    for notifier in notifiers:
        notifier.close()


@pytest.fixture
def subscribe(zctx):
    """Connected, synced subscribers, all closed at the end."""
    subscribers: list[Subscriber] = []

    def make(notifier: ZmqNotifier, address: str) -> Subscriber:
        sub = Subscriber(zctx, address)
        subscribers.append(sub)
        sub.sync(notifier)
        return sub

    yield make
    for sub in subscribers:
        sub.close()


def all_topics_on(address: str) -> list[ZmqPublisher]:
    return [ZmqPublisher(topic, address) for topic in ZMQ_TOPICS]


def publish_like_node(notifier: ZmqNotifier, chain, result) -> None:
    """The node's own dispatch (disconnected, connected, then the tip), with only the notifier."""
    Node.publish(SimpleNamespace(listeners=[notifier], chain=chain), result)


def test_topics_match_the_config():
    assert TOPICS == ZMQ_TOPICS


def test_connected_block_then_tip_exact_frames(chain, alice, bob, make_notifier, subscribe):
    generate(chain, 1, alice.account)
    tx = sign_transfer(alice, CHAIN_ID, bob.account, COIN, 1000, 0)
    [block] = generate(chain, 1, bob.account, [tx])
    coinbase = block.transactions[0]
    address = free_endpoint()
    notifier = make_notifier(*all_topics_on(address))  # five notifiers sharing one socket
    sub = subscribe(notifier, address)

    notifier.block_connected(block)
    notifier.tip_updated(block)

    assert sub.recv_many(7) == [
        [b"hashtx", coinbase.txid, seq(0)],
        [b"rawtx", coinbase.raw, seq(0)],
        [b"hashtx", tx.txid, seq(1)],
        [b"rawtx", tx.raw, seq(1)],
        [b"sequence", block.hash + b"C", seq(0)],
        [b"hashblock", block.hash, seq(0)],
        [b"rawblock", block.encode(), seq(0)],
    ]
    # RPC byte order is the natural order: the frame's hex is what getbestblockhash shows.
    assert block.hash.hex() == chain.tip.hash.hex()
    assert seq(1) == b"\x01\x00\x00\x00"


def test_reorg_sends_disconnects_connects_and_only_the_new_tip(
    chain, alice, bob, make_notifier, subscribe
):
    [a1] = generate(chain, 1, alice.account)
    tx = sign_transfer(alice, CHAIN_ID, bob.account, COIN, 500, 0)
    [a2] = generate(chain, 1, alice.account, [tx])
    address = free_endpoint()
    notifier = make_notifier(*all_topics_on(address))
    sub = subscribe(notifier, address)

    b2 = mine(build_block(chain, [], bob.account, parent=a1.hash, extra=b"side"))
    assert chain.accept_block(b2).status == AcceptStatus.SIDE_BRANCH
    b3 = mine(build_block(chain, [], bob.account, parent=b2.hash))
    result = chain.accept_block(b3)
    assert result.status == AcceptStatus.NEW_TIP
    assert [b.hash for b in result.disconnected] == [a2.hash]
    assert [b.hash for b in result.connected] == [b2.hash, b3.hash]
    publish_like_node(notifier, chain, result)

    a2_coinbase, b2_coinbase = a2.transactions[0], b2.transactions[0]
    b3_coinbase = b3.transactions[0]
    assert sub.recv_many(13) == [
        # the disconnected block's transactions are announced again, then its "D"
        [b"hashtx", a2_coinbase.txid, seq(0)],
        [b"rawtx", a2_coinbase.raw, seq(0)],
        [b"hashtx", tx.txid, seq(1)],
        [b"rawtx", tx.raw, seq(1)],
        [b"sequence", a2.hash + b"D", seq(0)],
        [b"hashtx", b2_coinbase.txid, seq(2)],
        [b"rawtx", b2_coinbase.raw, seq(2)],
        [b"sequence", b2.hash + b"C", seq(1)],
        [b"hashtx", b3_coinbase.txid, seq(3)],
        [b"rawtx", b3_coinbase.raw, seq(3)],
        [b"sequence", b3.hash + b"C", seq(2)],
        # only the new tip on the block topics, even though two blocks connected
        [b"hashblock", b3.hash, seq(0)],
        [b"rawblock", b3.encode(), seq(0)],
    ]


def test_tip_moving_back_without_a_connect_sends_no_block_topics(
    chain, alice, make_notifier, subscribe
):
    blocks = generate(chain, 3, alice.account)
    address = free_endpoint()
    notifier = make_notifier(*all_topics_on(address))
    sub = subscribe(notifier, address)

    result = chain.invalidate_block(blocks[2].hash)  # tip back to blocks[1], nothing connected
    assert result.disconnected and not result.connected
    publish_like_node(notifier, chain, result)
    cb = blocks[2].transactions[0]
    assert sub.recv_many(3) == [
        [b"hashtx", cb.txid, seq(0)],
        [b"rawtx", cb.raw, seq(0)],
        [b"sequence", blocks[2].hash + b"D", seq(0)],
    ]

    new = mine(build_block(chain, [], alice.account, extra=b"after invalidation"))
    result = chain.accept_block(new)
    assert result.status == AcceptStatus.NEW_TIP
    publish_like_node(notifier, chain, result)
    cb = new.transactions[0]
    assert sub.recv_many(5) == [
        [b"hashtx", cb.txid, seq(1)],
        [b"rawtx", cb.raw, seq(1)],
        [b"sequence", new.hash + b"C", seq(1)],
        [b"hashblock", new.hash, seq(0)],  # 0: the invalidation sent no hashblock
        [b"rawblock", new.encode(), seq(0)],
    ]


def test_mempool_add_and_remove_bodies(chain, alice, bob, make_notifier, subscribe):
    generate(chain, 1, alice.account)
    tx = sign_transfer(alice, CHAIN_ID, bob.account, COIN, 1000, 0)
    address = free_endpoint()
    notifier = make_notifier(*all_topics_on(address))
    sub = subscribe(notifier, address)

    notifier.transaction_added(tx.raw, tx.txid, 7)
    notifier.transaction_removed(tx.raw, tx.txid, "block", 8)  # the block's "C" says it
    notifier.transaction_removed(tx.raw, tx.txid, "expiry", 9)

    added = bytes.fromhex(tx.txid.hex() + "41" + "0700000000000000")
    removed = bytes.fromhex(tx.txid.hex() + "52" + "0900000000000000")
    assert added == tx.txid + b"A" + mempool_seq(7) and len(added) == 41
    assert sub.recv_many(4) == [
        [b"hashtx", tx.txid, seq(0)],
        [b"rawtx", tx.raw, seq(0)],
        [b"sequence", added, seq(0)],
        [b"sequence", removed, seq(1)],  # nothing for the "block" removal, no hashtx/rawtx
    ]


def test_counters_are_per_topic_and_address(chain, alice, make_notifier, subscribe):
    blocks = generate(chain, 2, alice.account)
    a, b = free_endpoint(), free_endpoint()
    notifier = make_notifier(
        ZmqPublisher("hashblock", a, hwm=10),
        ZmqPublisher("hashtx", a, hwm=50),
        ZmqPublisher("hashblock", b, hwm=0),
    )
    assert len(notifier._sockets) == 2  # topics on one address share a socket
    assert notifier._sockets[a].getsockopt(zmq.SNDHWM) == 50  # the larger of 10 and 50
    assert notifier._sockets[b].getsockopt(zmq.SNDHWM) == 0
    assert notifier.notifications() == [
        {"type": "pubhashblock", "address": a, "hwm": 10},
        {"type": "pubhashtx", "address": a, "hwm": 50},
        {"type": "pubhashblock", "address": b, "hwm": 0},
    ]
    sub_a, sub_b = subscribe(notifier, a), subscribe(notifier, b)
    for block in blocks:
        notifier.block_connected(block)
        notifier.tip_updated(block)

    assert sub_a.recv_many(4) == [
        [b"hashtx", blocks[0].transactions[0].txid, seq(0)],
        [b"hashblock", blocks[0].hash, seq(0)],
        [b"hashtx", blocks[1].transactions[0].txid, seq(1)],
        [b"hashblock", blocks[1].hash, seq(1)],
    ]
    assert sub_b.recv_many(2) == [
        [b"hashblock", blocks[0].hash, seq(0)],
        [b"hashblock", blocks[1].hash, seq(1)],
    ]


def test_unlimited_hwm_wins_on_a_shared_socket(make_notifier):
    address = free_endpoint()
    notifier = make_notifier(ZmqPublisher("hashtx", address, 5), ZmqPublisher("rawtx", address, 0))
    assert notifier._sockets[address].getsockopt(zmq.SNDHWM) == 0


def test_same_topic_and_address_twice_publishes_once(chain, alice, make_notifier, subscribe):
    [block] = generate(chain, 1, alice.account)
    address = free_endpoint()
    notifier = make_notifier(ZmqPublisher("hashblock", address), ZmqPublisher("hashblock", address))
    assert notifier.notifications() == [{"type": "pubhashblock", "address": address, "hwm": 1000}]
    sub = subscribe(notifier, address)
    notifier.block_connected(block)
    notifier.tip_updated(block)
    notifier.block_connected(block)
    notifier.tip_updated(block)
    assert sub.recv_many(2) == [
        [b"hashblock", block.hash, seq(0)],
        [b"hashblock", block.hash, seq(1)],
    ]


def test_sequence_wraps_at_u32(chain, alice, make_notifier, subscribe):
    [block] = generate(chain, 1, alice.account)
    address = free_endpoint()
    notifier = make_notifier(ZmqPublisher("hashblock", address))
    sub = subscribe(notifier, address)
    notifier._notifiers[0].sequence = 0xFFFFFFFF
    for _ in range(2):
        notifier.block_connected(block)
        notifier.tip_updated(block)
    assert [frames[2] for frames in sub.recv_many(2)] == [b"\xff\xff\xff\xff", seq(0)]


class RefusingSocket:
    """Stands in for a PUB socket whose queue is full."""

    def send(self, data, flags=0):
        assert flags & zmq.NOBLOCK, "a notifier must never block the event loop"
        raise zmq.Again()


def test_failed_send_is_logged_and_does_not_advance_the_counter(
    chain, alice, make_notifier, subscribe, caplog
):
    blocks = generate(chain, 2, alice.account)
    address = free_endpoint()
    notifier = make_notifier(ZmqPublisher("hashblock", address))
    sub = subscribe(notifier, address)
    hashblock = notifier._notifiers[0]
    real_socket, hashblock.socket = hashblock.socket, RefusingSocket()
    with caplog.at_level(logging.WARNING, logger="coinium.zmq"):
        notifier.block_connected(blocks[0])
        notifier.tip_updated(blocks[0])  # dropped: must not raise into the node
    assert hashblock.sequence == 0 and hashblock.dropped == 1
    assert "unable to publish hashblock" in caplog.text
    hashblock.socket = real_socket
    notifier.block_connected(blocks[1])
    notifier.tip_updated(blocks[1])
    assert sub.recv() == [b"hashblock", blocks[1].hash, seq(0)]


def test_bind_failure_is_a_clear_error_and_releases_what_was_bound(zctx):
    free, busy = free_endpoint(), free_endpoint()
    blocker = zctx.socket(zmq.PUB)
    blocker.setsockopt(zmq.LINGER, 0)
    blocker.bind(busy)
    try:
        with pytest.raises(NotifierError) as err:
            ZmqNotifier([ZmqPublisher("hashblock", free), ZmqPublisher("hashtx", busy),
                         ZmqPublisher("rawtx", busy)])  # fmt: skip
        assert str(err.value) == (
            f"cannot bind zmqpubhashtx, zmqpubrawtx to {busy}: Address already in use"
        )
    finally:
        blocker.close()
    # The notifier made its own context and terminated it on failure: `free` is free again.
    again = ZmqNotifier([ZmqPublisher("hashblock", free)])
    again.close()


def test_unknown_topic_is_refused():
    with pytest.raises(NotifierError, match="unknown ZMQ topic 'hashblocks'"):
        ZmqNotifier([ZmqPublisher("hashblocks", free_endpoint())])


def test_close_is_idempotent_and_later_events_are_ignored(chain, alice, zctx):
    [block] = generate(chain, 1, alice.account)
    address = free_endpoint()
    notifier = ZmqNotifier(all_topics_on(address))  # its own context
    notifier.close()
    notifier.close()
    notifier.block_connected(block)
    notifier.tip_updated(block)
    notifier.transaction_added(block.transactions[0].raw, block.transactions[0].txid, 1)
    # Its context is terminated, so the port is released and can be bound again at once.
    shared = ZmqNotifier(all_topics_on(address), context=zctx)
    shared.close()
    assert not zctx.closed  # a context passed in is the caller's to terminate


def test_contract_topic_sends_each_event_of_a_connected_block(chain, make_notifier, subscribe,
                                                              zctx):  # fmt: skip
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contracts"))
    from contract_helpers import Chain, example, u64

    from coinium.contracts.records import decode_event
    from coinium.notify.watch import describe

    token_chain = Chain(str(chain.store.path.parent / "contracts"))
    try:
        alice, bob = token_chain.keys[:2]
        token = token_chain.deploy(alice, example("token"), u64(100))
        txs = [token_chain.execute(alice, token, b"\x01" + bob.account + u64(n)) for n in (1, 2)]
        block = token_chain.block(txs)
        address = free_endpoint()
        notifier = ZmqNotifier([ZmqPublisher("contract", address)], context=zctx,
                               read_record=token_chain.state.get_record)  # fmt: skip
        try:
            sub = subscribe(notifier, address)
            notifier.block_connected(block)
            frames = sub.recv_many(2)
        finally:
            notifier.close()
        events = [decode_event(f[1][:32], f[1][32:]) for f in frames]
        assert [(f[0], f[2]) for f in frames] == [(b"contract", seq(0)), (b"contract", seq(1))]
        assert [(e["txid"], e["topic"], e["data"][-8:]) for e in events] == \
            [(txs[0].txid, b"transfer", u64(1)), (txs[1].txid, b"transfer", u64(2))]
        assert describe("contract", frames[0][1])["event"] == "transfer"
    finally:
        token_chain.close()
