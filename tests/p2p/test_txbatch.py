"""Transaction relay in batches (`coinium.p2p.txbatch`) and batch admission of TXS messages, on a
real PeerManager over a real chain (no listener; peers are `Peer` objects whose send queues we
read): what goes out in how many frames to which peer, the per-peer budget, the request links
(never the XPUB), the receive-side charge per transaction, and the verdicts and penalties of a TXS
message."""

from __future__ import annotations

import asyncio
import time

import pytest
from helpers import key

from coinium.chain.builder import build_block, generate, mine
from coinium.chain.chainstate import ChainState
from coinium.core.params import REGTEST
from coinium.core.transaction import sign_transfer
from coinium.core.units import COIN
from coinium.mempool.pool import Mempool
from coinium.p2p.manager import NodeHooks, P2PConfig, PeerManager
from coinium.p2p.messages import (
    MAX_TXS,
    Tip,
    TxMsg,
    TxsMsg,
    Version,
    decode,
    encode,
)
from coinium.p2p.peer import Peer, PeerState, RateClass, TokenBucket
from coinium.p2p.scoring import PENALTY, Misbehaviour

CHAIN_ID = REGTEST.chain_id


@pytest.fixture
def node(tmp_path):
    chain = ChainState(tmp_path / "chain", REGTEST, sync=False)
    generate(chain, 1, key(1).account)
    mempool = Mempool(REGTEST, chain.get_account)

    async def on_chain(fn, *args):
        return fn(chain, *args)

    async def submit_block(block):
        return chain.accept_block(block)

    async def submit_transaction(tx):
        mempool.add(tx)

    def tip():
        return chain.tip.height, chain.tip.hash, chain.tip.chainwork

    (tmp_path / "p2p").mkdir()
    hooks = NodeHooks(on_chain, submit_block, submit_transaction, tip, mempool)
    manager = PeerManager(P2PConfig(tmp_path / "p2p", REGTEST, listen=False), hooks)
    mempool.listeners.append(manager)
    yield manager, mempool
    mempool.close()
    chain.close()


def add_peer(manager: PeerManager, n: int, protocol: int, subscribed: bool = False) -> Peer:
    peer = Peer(n, inbound=True, key=bytes([n]) * 32)
    peer.state = PeerState.ACTIVE
    peer.subscribed = subscribed
    peer.version = Version(protocol, CHAIN_ID, REGTEST.genesis_hash, 1, int(time.time()), n,
                           Tip(0, bytes(32), 0), 0, 0, "", "/test/")  # fmt: skip
    manager.peers[peer.id] = peer
    return peer


def queued(peer: Peer) -> list:
    frames = []
    while (frame := peer.queue.pop_nowait()) is not None:
        frames.append(decode(frame))
    return frames


def transfers(count: int, fee: int = 1000):
    return [sign_transfer(key(1), CHAIN_ID, key(2).account, 1, fee, n) for n in range(count)]


def test_what_one_loop_step_admits_goes_out_as_few_frames(node):
    manager, mempool = node
    new, old, source = add_peer(manager, 1, 3), add_peer(manager, 2, 2), add_peer(manager, 3, 3)
    txs = transfers(25)

    async def body():
        results = await mempool.add_batch(txs)
        assert all(r is not None and not isinstance(r, Exception) for r in results)
        await asyncio.sleep(0.05)  # the flush runs once the admitting batch is over

    manager.txs._tx_source.update({tx.txid: source for tx in txs[:5]})
    asyncio.run(body())
    [batch] = queued(new)
    assert isinstance(batch, TxsMsg) and [tx.txid for tx in batch.txs] == [t.txid for t in txs]
    singles = queued(old)  # protocol 2 does not read TXS: a TX each
    assert [type(m) for m in singles] == [TxMsg] * 25
    assert [m.txid for m in singles] == [tx.txid for tx in txs]
    assert [tx.txid for tx in queued(source)[0].txs] == [t.txid for t in txs[5:]]  # not back
    assert manager.gossip.relayed["tx"] == 25


def test_what_the_same_step_replaced_is_not_relayed(node):
    manager, mempool = node
    peer = add_peer(manager, 1, 3)
    first = sign_transfer(key(1), CHAIN_ID, key(2).account, 1, 1000, 0)
    better = sign_transfer(key(1), CHAIN_ID, key(2).account, 1, 3000, 0)

    async def body():
        await mempool.add_batch([first, better])
        await asyncio.sleep(0.05)

    asyncio.run(body())
    assert mempool.txids() == [better.txid]
    assert [[tx.txid for tx in m.txs] for m in queued(peer)] == [[better.txid]]


def test_what_a_block_took_in_the_same_step_is_not_relayed(node):
    # The mempool announces no removal for a block's transactions: the new tip says it.
    manager, mempool = node
    peer = add_peer(manager, 1, 3)
    mined, waiting = transfers(2)

    async def body():
        mempool.add(mined)
        mempool.add(waiting)
        # The fixture's chain hooks never suspend: all this is one step of the loop.
        block = await manager.hooks.on_chain(
            lambda chain: mine(build_block(chain, [mined], key(1).account)))
        assert (await manager.hooks.submit_block(block)).status.value == "new-tip"
        mempool.block_connected(block)  # what the node's chain listeners hear
        mempool.tip_updated(block)
        manager.tip_updated(block)
        assert not [m for m in queued(peer) if isinstance(m, TxsMsg)]  # no flush yet (the block
        # itself went to the peer)
        await asyncio.sleep(0.05)

    asyncio.run(body())
    assert mempool.txids() == [waiting.txid]
    assert [[tx.txid for tx in m.txs] for m in queued(peer)] == [[waiting.txid]]


def test_large_batches_split_at_the_cap_and_the_budget_holds_the_rest(node):
    manager, _ = node
    fast, slow = add_peer(manager, 1, 3), add_peer(manager, 2, 3)
    items = transfers(2 * MAX_TXS + 500)  # (signed before the budget starts: a loaded machine
    # can take a second over it)
    budget_since = time.monotonic()
    slow.tx_send = TokenBucket(rate=500, burst=300)

    def allowed() -> float:  # what the slow peer's budget lets through by now, at most
        return 300 + 500 * (time.monotonic() - budget_since)

    async def body():
        results = await manager.hooks.mempool.add_batch(items)
        assert not [r for r in results if isinstance(r, Exception)]
        await asyncio.sleep(0.05)  # the flush after the batch's last signatures
        assert [len(m.txs) for m in queued(fast)] == [MAX_TXS, MAX_TXS, 500]
        got = sum(len(m.txs) for m in queued(slow))
        assert 300 <= got <= allowed() < len(items)  # its burst went at once, the rest waits
        deadline = time.monotonic() + 30
        while got < len(items) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            got += sum(len(m.txs) for m in queued(slow))
            assert got <= allowed()  # never more than the budget
        assert got == len(items) and len(slow.tx_backlog) == 0  # all of it, in the end

    asyncio.run(body())


def test_subscribers_get_txs_on_their_request_link_minus_what_they_sent_or_announced(node):
    # The XPUB reaches every subscriber alike: it would send a batch back to its source.
    manager, _ = node
    published: list[bytes] = []
    manager.gossip.publish = published.append
    source = add_peer(manager, 1, 3, subscribed=True)
    announcer = add_peer(manager, 2, 3, subscribed=True)
    other = add_peer(manager, 3, 3, subscribed=True)
    txs = transfers(4)
    manager.txs._tx_source.update({tx.txid: source for tx in txs[:3]})
    announcer.known.update([txs[1].txid])  # it announced this one to us

    async def relay():
        await manager.hooks.mempool.add_batch(txs)
        await asyncio.sleep(0.05)

    asyncio.run(relay())
    assert published == []
    relayed = {peer: [tx.txid for m in queued(peer) for tx in m.txs]
               for peer in (source, announcer, other)}  # fmt: skip
    assert relayed[source] == [txs[3].txid]
    assert relayed[announcer] == [txs[0].txid, txs[2].txid, txs[3].txid]
    assert relayed[other] == [tx.txid for tx in txs]
    assert all(tx.txid in peer.known for tx in txs for peer in (announcer, other))  # not again


def test_a_txs_message_is_charged_per_transaction(node):
    manager, _ = node
    peer = add_peer(manager, 1, 3)
    peer.buckets[RateClass.TX] = TokenBucket(rate=0.001, burst=10)  # ten transactions in all
    before = peer.score()
    manager.dispatch.receive(peer, encode(TxsMsg(tuple(transfers(6)))), "request")
    assert peer.inbox.qsize() == 1 and peer.score() == before  # 6 of the 10
    manager.dispatch.receive(peer, encode(TxsMsg(tuple(transfers(5)))), "request")
    assert peer.inbox.qsize() == 1  # 5 more than the 4 left, though one message: dropped
    assert peer.score() == pytest.approx(before - PENALTY[Misbehaviour.FLOOD], abs=0.5)


def test_a_txs_message_is_admitted_with_one_verdict_each(node):
    manager, mempool = node
    sender = add_peer(manager, 1, 3)
    good = transfers(3)
    forged = sign_transfer(key(1), CHAIN_ID, key(2).account, 5, 1000, 3).with_signature(bytes(64))
    gap = sign_transfer(key(1), CHAIN_ID, key(2).account, 1, 1000, 200)  # far ahead: an orphan
    poor = sign_transfer(key(3), CHAIN_ID, key(2).account, COIN, 1000, 0)  # no funds

    async def body():
        await manager.dispatch.handlers[TxsMsg](sender, TxsMsg((*good, forged, gap, poor)),
                                                "request")  # fmt: skip

    asyncio.run(body())
    assert mempool.txids() == [tx.txid for tx in good]
    assert sender.state == PeerState.CLOSED  # the forged signature: no honest node relays it
    assert manager.bans.is_banned(sender.key_hex)
    assert forged.txid in manager.txs.tx_rejects and poor.txid in manager.txs.tx_rejects
    assert any(o.tx.txid == gap.txid for o in manager.txs.tx_orphans.values())
    assert all(tx.txid in sender.known for tx in (*good, forged, gap, poor))
