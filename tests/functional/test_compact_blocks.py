"""Compact block relay against a real node process: a raw peer sends a block of real transfers
as CMPCTBLOCK and watches what the node asks for. The block is mined by a second node that holds
the transactions, so every byte is what an honest miner makes."""

from __future__ import annotations

import dataclasses
import random

import pytest
from conftest_keys import ALICE, BOB, address_of
from nodeproc import peer_address, peer_keys, sync_blocks, wait_connected, wait_until
from p2ppeer import RawPeer
from test_p2p_hostile import banned_reasons, blocks_on

from coinium.chain.builder import mine
from coinium.core.block import Block
from coinium.core.params import REGTEST
from coinium.core.transaction import sign_transfer
from coinium.core.units import COIN
from coinium.p2p.compact import short_id, short_id_key
from coinium.p2p.compactrelay import compact_of
from coinium.p2p.messages import (
    BlockMsg,
    BlockTxn,
    CmpctBlock,
    GetBlockTxn,
    GetData,
    InvKind,
)

pytestmark = pytest.mark.slow

TRANSFERS = 6


def _block(node, block_hash: str) -> Block:
    return Block.decode(bytes.fromhex(node.rpc("getblock", block_hash, 0)))


@pytest.fixture
def mined(start_node):
    """A miner node with a block of TRANSFERS transfers, a receiver node on the same chain
    before it (the two never connect), the block and one more transfer that is not in it."""
    miner = start_node("miner")
    receiver = start_node("receiver")
    for block_hash in miner.rpc("generatetoaddress", 3, address_of(ALICE)):
        receiver.rpc("submitblock", miner.rpc("getblock", block_hash, 0))
    txs = [sign_transfer(ALICE, REGTEST.chain_id, BOB.account, COIN, 5000, nonce)
           for nonce in range(TRANSFERS + 1)]  # fmt: skip
    for tx in txs[:TRANSFERS]:
        miner.rpc("sendrawtransaction", tx.raw.hex())
    [block_hash] = miner.rpc("generatetoaddress", 1, address_of(ALICE))
    block = _block(miner, block_hash)
    assert len(block.transactions) == TRANSFERS + 1
    return receiver, block, txs[TRANSFERS]


def _offer(receiver, txs) -> None:
    for tx in txs:
        receiver.rpc("sendrawtransaction", tx.raw.hex())


def _tip_is(node, block: Block) -> None:
    wait_until(lambda: node.rpc("getbestblockhash") == block.hash.hex(), 10,
               message="the block as the node's tip")  # fmt: skip


def test_a_compact_block_of_known_transactions_is_rebuilt_without_a_round_trip(mined):
    receiver, block, _ = mined
    _offer(receiver, block.transactions[1:])
    peer = RawPeer(peer_address(receiver))
    try:
        peer.handshake()
        compact = compact_of(block, random.getrandbits(64))
        peer.send(compact)
        _tip_is(receiver, block)
        peer.sync_with_ping()
        assert not [m for m in peer.received if isinstance(m, (GetBlockTxn, GetData))]
        # About 6 bytes a transaction instead of the transaction.
        assert len(compact.payload()) < len(block.encode()) // 2
    finally:
        peer.close()


def test_a_compact_block_with_missing_transactions_costs_one_round_trip(mined):
    receiver, block, _ = mined
    known = block.transactions[1:4]  # the first half (a later nonce needs the earlier ones)
    _offer(receiver, known)
    peer = RawPeer(peer_address(receiver))
    try:
        peer.handshake()
        peer.send(compact_of(block, random.getrandbits(64)))
        request = peer.wait_for(GetBlockTxn)
        expected = tuple(i for i, tx in enumerate(block.transactions)
                         if i > 0 and tx not in known)  # fmt: skip
        assert request.block_hash == block.hash and request.indexes == expected
        peer.send(BlockTxn(block.hash, tuple(block.transactions[i] for i in request.indexes)))
        _tip_is(receiver, block)
        peer.sync_with_ping()
        assert sum(isinstance(m, GetBlockTxn) for m in peer.received) == 1
        assert not [m for m in peer.received if isinstance(m, GetData)]
    finally:
        peer.close()


def test_a_compact_block_of_mostly_unseen_transactions_is_fetched_in_full(mined):
    receiver, block, _ = mined
    _offer(receiver, block.transactions[1:2])  # one of six known
    peer = RawPeer(peer_address(receiver))
    try:
        peer.handshake()
        peer.send(compact_of(block, random.getrandbits(64)))
        asked = peer.wait_for(GetData)
        assert asked.kind == InvKind.BLOCK and asked.hashes == (block.hash,)
        peer.send(BlockMsg.from_block(block))
        _tip_is(receiver, block)
        assert not [m for m in peer.received if isinstance(m, GetBlockTxn)]
    finally:
        peer.close()


def test_a_short_id_collision_falls_back_to_the_full_block_at_no_cost(mined):
    """Two cases: the block's own short ids repeat, and one of them matches another
    transaction in the mempool (the rebuilt block then misses its Merkle root)."""
    receiver, block, outsider = mined
    _offer(receiver, [*block.transactions[1:], outsider])
    peer = RawPeer(peer_address(receiver))
    try:
        peer.handshake()
        salt = random.getrandbits(64)
        honest = compact_of(block, salt)
        ids = list(honest.short_ids)
        repeated = CmpctBlock(block.header, salt, honest.coinbase, (ids[0], ids[0], *ids[2:]))
        peer.send(repeated)
        asked = peer.wait_for(GetData)
        assert asked.kind == InvKind.BLOCK and asked.hashes == (block.hash,)
        ids[2] = short_id(short_id_key(block.header, salt), outsider.txid)
        peer.send(CmpctBlock(block.header, salt, honest.coinbase, tuple(ids)))
        asked = peer.wait_for(GetData)
        assert asked.hashes == (block.hash,)
        peer.send(BlockMsg.from_block(block))
        _tip_is(receiver, block)
        assert peer.alive()  # no penalty: a collision is nobody's fault
        assert peer.key_hex not in banned_reasons(receiver)
    finally:
        peer.close()


def test_a_compact_block_failing_validation_after_relay_costs_its_sender_and_is_not_relayed_again(
        start_node):  # fmt: skip
    node = start_node("node")
    node.rpc("generatetoaddress", 2, address_of(ALICE))
    watcher, liar, again = (RawPeer(peer_address(node)) for _ in range(3))
    try:
        for peer in (watcher, liar, again):
            peer.handshake()
        # Valid proof of work and Merkle root: relayed at once. A wrong state root: refused.
        lying = blocks_on(node, 1, state_root=bytes([0x5A]) * 32)[0]
        liar.send(compact_of(lying, 1))
        relayed = watcher.wait_for(CmpctBlock, where=lambda m: m.hash == lying.hash)
        assert relayed.header == lying.header and not relayed.checked  # relayed before validation
        wait_until(lambda: banned_reasons(node).get(liar.key_hex) == "invalid-block", 10,
                   message="the liar banned")  # fmt: skip
        assert liar.key_hex not in peer_keys(node)
        again.send(compact_of(lying, 2))
        again.send(BlockMsg.from_block(lying))
        again.sync_with_ping()
        watcher.sync_with_ping()
        assert sum(isinstance(m, (CmpctBlock, BlockMsg)) for m in watcher.received) == 1
        assert node.rpc("getbestblockhash") != lying.hash.hex()
    finally:
        for peer in (watcher, liar, again):
            peer.close()


def test_the_honest_relayer_of_a_block_that_fails_is_not_blamed_downstream(start_node):
    """The relay before validation is marked unchecked: the next node refuses the block too,
    but keeps its link to the relayer; only the block's author is banned."""
    relayer = start_node("relayer")
    downstream = start_node("downstream", extra_args=[f"--connect={peer_address(relayer)}"])
    wait_connected(relayer, downstream)
    relayer.rpc("generatetoaddress", 2, address_of(ALICE))
    sync_blocks([relayer, downstream])
    link = [p["id"] for p in downstream.rpc("getpeerinfo")]

    def compact_bytes() -> int:
        return downstream.rpc("getpeerinfo")[0]["bytesrecv_per_msg"].get("cmpctblock", 0)

    before = compact_bytes()
    liar = RawPeer(peer_address(relayer))
    try:
        liar.handshake()
        lying = blocks_on(relayer, 1, state_root=bytes([0x5A]) * 32)[0]
        liar.send(compact_of(lying, 3))
        wait_until(lambda: banned_reasons(relayer).get(liar.key_hex) == "invalid-block", 10,
                   message="the author banned")  # fmt: skip
        wait_until(lambda: compact_bytes() > before, 10, message="the early relay")
        relayer.rpc("generatetoaddress", 1, address_of(ALICE))
        sync_blocks([relayer, downstream])
        assert [p["id"] for p in downstream.rpc("getpeerinfo")] == link
        assert downstream.rpc("listbanned") == []
        assert downstream.rpc("getbestblockhash") != lying.hash.hex()
    finally:
        liar.close()


def test_a_pushed_full_block_goes_on_unchecked_before_validation_and_blames_only_its_author(
        mined, start_node):  # fmt: skip
    """A full block (of transactions the relayer lacks) pushed to a node goes on at once as an
    unchecked compact block; a downstream node that lacks them too fetches the full block from
    the relayer. A bad one (same transactions, a wrong state root, real proof of work) bans its
    author at the relayer, and the downstream node blames nobody."""
    relayer, block, _ = mined
    downstream = start_node("downstream", extra_args=[f"--connect={peer_address(relayer)}"])
    wait_connected(relayer, downstream)
    sync_blocks([relayer, downstream])
    link = [p["id"] for p in downstream.rpc("getpeerinfo")]
    bad = mine(Block(dataclasses.replace(block.header, state_root=bytes([0x5A]) * 32, nonce=0),
                     block.transactions))  # fmt: skip
    watcher, author = RawPeer(peer_address(relayer)), RawPeer(peer_address(relayer))
    try:
        watcher.handshake()
        author.handshake()
        author.send(BlockMsg.from_block(bad))
        relayed = watcher.wait_for(CmpctBlock, where=lambda m: m.hash == bad.hash)
        assert not relayed.checked and len(relayed.short_ids) == TRANSFERS
        wait_until(lambda: banned_reasons(relayer).get(author.key_hex) == "invalid-block", 10,
                   message="the author banned")  # fmt: skip
        # The good block, pushed by the watcher: relayed the same way, fetched in full.
        watcher.send(BlockMsg.from_block(block))
        _tip_is(relayer, block)
        _tip_is(downstream, block)
        assert downstream.rpc("getpeerinfo")[0]["bytesrecv_per_msg"].get("block", 0) > 0
        assert [p["id"] for p in downstream.rpc("getpeerinfo")] == link
        assert downstream.rpc("listbanned") == []
        assert watcher.alive() and watcher.key_hex not in banned_reasons(relayer)
        assert sum(isinstance(m, CmpctBlock) and m.hash == bad.hash
                   for m in watcher.received) == 1  # never relayed again  # fmt: skip
    finally:
        watcher.close()
        author.close()


def test_a_new_tip_goes_compact_to_protocol_2_peers_and_in_full_to_protocol_1(start_node):
    node = start_node("node")
    new, old = RawPeer(peer_address(node)), RawPeer(peer_address(node))
    try:
        new.handshake()
        old.handshake(protocol=1)
        [block_hash] = node.rpc("generatetoaddress", 1, address_of(ALICE))
        wanted = bytes.fromhex(block_hash)
        assert new.wait_for(CmpctBlock, where=lambda m: m.hash == wanted).short_ids == ()
        assert old.wait_for(BlockMsg, where=lambda m: m.hash == wanted).raw == \
            bytes.fromhex(node.rpc("getblock", block_hash, 0))  # fmt: skip
        assert not [m for m in old.received if isinstance(m, CmpctBlock)]
    finally:
        new.close()
        old.close()


def test_a_coinbase_that_is_no_transaction_is_malformed(mined):
    receiver, block, _ = mined
    peer = RawPeer(peer_address(receiver))
    try:
        peer.handshake()
        compact = compact_of(block, 7)
        peer.send(CmpctBlock(block.header, 7, b"\x00", compact.short_ids))
        def score() -> float:
            # 0 until the node lists the peer: the RPC can overtake the worker that activates
            # it (the handshake returned when our VERACK was sent, not when it was read).
            return next((p["score"] for p in receiver.rpc("getpeerinfo")
                         if p["key"] == peer.key_hex), 0.0)  # fmt: skip

        wait_until(lambda: score() <= -40, 10, message="a penalty for the malformed coinbase")
        assert peer.alive()  # a penalty, not a crash: the node still answers
        assert receiver.rpc("getbestblockhash") != block.hash.hex()
    finally:
        peer.close()
