"""A real node's ZMQ notifications, read by a real SUB socket: frames, counters, reorgs, mempool."""

from __future__ import annotations

import struct
import time

import pytest
import zmq
from conftest_keys import ALICE, BOB, address_of
from nodeproc import free_port, wait_until

from coinium.core.params import REGTEST
from coinium.core.transaction import sign_transfer
from coinium.core.units import COIN


class Subscriber:
    def __init__(self, address: str):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(address)

    def receive(self, timeout: float = 10.0) -> tuple[str, bytes, int]:
        if not self.sock.poll(int(timeout * 1000)):
            raise TimeoutError("no ZMQ message")
        topic, body, seq = self.sock.recv_multipart()
        assert len(seq) == 4
        return topic.decode(), body, struct.unpack("<I", seq)[0]

    def drain(self, quiet: float = 0.5) -> list[tuple[str, bytes, int]]:
        messages = []
        while self.sock.poll(int(quiet * 1000)):
            topic, body, seq = self.sock.recv_multipart()
            messages.append((topic.decode(), body, struct.unpack("<I", seq)[0]))
        return messages

    def close(self) -> None:
        self.sock.close()
        self.ctx.term()


@pytest.fixture
def zmq_node(start_node):
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    args = [f"--zmqpub{topic}={address}" for topic in
            ("hashblock", "hashtx", "rawblock", "rawtx", "sequence")]  # fmt: skip
    node = start_node(extra_args=args)
    sub = Subscriber(address)
    # Slow joiner: mine until the subscription demonstrably works, then start from a clean slate.
    miner = address_of(BOB)
    deadline = time.monotonic() + 20
    while True:
        node.rpc("generatetoaddress", 1, miner)
        try:
            sub.receive(timeout=0.5)
            break
        except TimeoutError:
            if time.monotonic() > deadline:
                raise
    sub.drain()
    yield node, sub, address
    sub.close()


def by_topic(messages, topic):
    return [(body, seq) for t, body, seq in messages if t == topic]


def test_getzmqnotifications(zmq_node):
    node, _, address = zmq_node
    notes = node.rpc("getzmqnotifications")
    assert sorted(n["type"] for n in notes) == sorted(
        ["pubhashblock", "pubhashtx", "pubrawblock", "pubrawtx", "pubsequence"])
    assert all(n["address"] == address and n["hwm"] == 1000 for n in notes)


def test_block_connects_are_announced_with_consecutive_sequence_numbers(zmq_node):
    node, sub, _ = zmq_node
    hashes = node.rpc("generatetoaddress", 3, address_of(BOB))
    messages = sub.drain()
    hashblock = by_topic(messages, "hashblock")
    assert [body.hex() for body, _ in hashblock] == hashes
    seqs = [seq for _, seq in hashblock]
    assert seqs == list(range(seqs[0], seqs[0] + 3))
    sequence = by_topic(messages, "sequence")
    assert [body for body, _ in sequence] == [bytes.fromhex(h) + b"C" for h in hashes]
    rawblock = by_topic(messages, "rawblock")
    assert [node.rpc("getblock", h, 0) for h in hashes] == [body.hex() for body, _ in rawblock]
    # Every connected block's coinbase is announced on hashtx/rawtx.
    assert len(by_topic(messages, "hashtx")) == 3 and len(by_topic(messages, "rawtx")) == 3


def test_mempool_add_reorg_and_remove(zmq_node):
    node, sub, _ = zmq_node
    node.rpc("generatetoaddress", 1, address_of(ALICE))
    sub.drain()
    tx = sign_transfer(ALICE, REGTEST.chain_id, BOB.account, COIN, 1000, 0)
    assert node.rpc("sendrawtransaction", tx.raw.hex()) == tx.txid.hex()
    messages = sub.drain()
    snapshot = node.rpc("getrawmempool", False, True)
    assert snapshot["txids"] == [tx.txid.hex()]
    [(body, _)] = by_topic(messages, "sequence")
    assert body[:33] == tx.txid + b"A"
    # As bitcoind: the event carries the sequence it took; the snapshot gives the next one.
    assert struct.unpack("<Q", body[33:])[0] == snapshot["mempool_sequence"] - 1
    assert [b for b, _ in by_topic(messages, "hashtx")] == [tx.txid]
    assert [b for b, _ in by_topic(messages, "rawtx")] == [tx.raw]

    [mined] = node.rpc("generatetoaddress", 1, address_of(BOB))
    assert node.rpc("getrawmempool") == []
    sub.drain()

    # invalidateblock: the block is disconnected (D) and the tx returns to the mempool (A). As in
    # bitcoind, a tip that moves back without connecting anything sends no hashblock.
    node.rpc("invalidateblock", mined)
    messages = sub.drain()
    sequence = [body for body, _ in by_topic(messages, "sequence")]
    assert sequence[0] == bytes.fromhex(mined) + b"D"
    assert any(body[:33] == tx.txid + b"A" for body in sequence[1:])
    assert by_topic(messages, "hashblock") == []
    wait_until(lambda: node.rpc("getrawmempool") == [tx.txid.hex()], timeout=5,
               message="the disconnected transaction back in the mempool")  # fmt: skip
