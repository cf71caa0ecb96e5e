"""The peer manager over a real chain and real ZeroMQ sockets, without other nodes: what it
remembers of refused blocks, what a failed dial leaves behind, and its message tables."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from coinium.chain.builder import build_block, mine
from coinium.chain.chainstate import AcceptStatus, ChainState
from coinium.core.block import Block
from coinium.core.header import Header
from coinium.core.params import REGTEST
from coinium.mempool.pool import Mempool
from coinium.p2p.manager import NodeHooks, P2PConfig, PeerManager
from coinium.p2p.messages import (
    MAX_PAYLOAD,
    MESSAGE_CLASSES,
    GetAddr,
    GetHeaders,
    MsgType,
    encode,
    frame_type,
)
from coinium.p2p.peer import PRIORITY, RATE_CLASS, Peer, PeerState
from coinium.p2p.scoring import PENALTY, Misbehaviour
from coinium.p2p.transport import CurveKeys, PeerAddress


@pytest.fixture
def manager(tmp_path):
    chain = ChainState(tmp_path / "chain", REGTEST, sync=False)
    mempool = Mempool(REGTEST, chain.get_account)

    async def on_chain(fn, *args):
        return fn(chain, *args)

    async def submit_block(block):
        return chain.accept_block(block)

    async def submit_transaction(tx):
        mempool.add(tx)

    def tip():
        return chain.tip.height, chain.tip.hash, chain.tip.chainwork

    hooks = NodeHooks(on_chain, submit_block, submit_transaction, tip, mempool)
    (tmp_path / "p2p").mkdir()
    yield PeerManager(P2PConfig(tmp_path / "p2p", REGTEST, listen=False), hooks), chain
    mempool.close()
    chain.close()


def _child(chain: ChainState, recipient: bytes, *, timestamp: int) -> Block:
    template = build_block(chain, [], recipient)
    h = template.header
    header = Header(h.version, h.height, h.prev_hash, h.merkle_root, h.state_root, timestamp,
                    h.bits, 0)
    return mine(Block(header, template.transactions))


def test_a_block_that_may_become_valid_later_is_not_remembered_as_refused(manager, alice):
    p2p, chain = manager
    early = _child(chain, alice.account, timestamp=int(time.time()) + 10 * 3600)

    async def body():
        result = await p2p.submit_block(early, None, early.encode())
        assert result.status == AcceptStatus.INVALID and result.reason == "time-too-new"
        # Refused for now, not for good: a relay of it after the clock caught up is handled.
        assert early.hash not in p2p.blocks.seen

    asyncio.run(body())


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_a_dial_libzmq_refuses_leaves_no_socket_behind(manager):
    p2p, _ = manager

    async def body():
        await p2p.start()
        try:
            before = _open_fds()
            for _ in range(20):
                bad = PeerAddress(CurveKeys.generate().public, "no such host", 19444)
                assert p2p.links.connect(bad, "manual") is None
                await asyncio.sleep(0.01)
            assert not p2p.peers
            assert _open_fds() - before < 5  # was one monitor socket (an eventfd) per dial
        finally:
            await p2p.stop()

    asyncio.run(body())


# --- the tables: every message the codec knows is capped, prioritised, rate-classed, handled ---
def test_every_message_type_has_a_codec_cap_priority_rate_class_and_exactly_one_handler(manager):
    p2p, _ = manager
    kinds = set(MsgType)
    assert set(MESSAGE_CLASSES) == kinds
    assert set(MAX_PAYLOAD) == kinds
    assert set(PRIORITY) == kinds
    assert set(RATE_CLASS) == kinds
    assert set(p2p.dispatch.handlers) == {MESSAGE_CLASSES[kind] for kind in kinds}
    # Each part's table claims its own messages only: no part silently overrides another.
    parts = [p2p.handshake.handlers(), p2p.txs.handlers(), p2p.blocks.handlers()]
    claimed = [kind for table in parts for kind in table]
    assert len(claimed) == len(set(claimed))


def _active_peer(p2p) -> Peer:
    peer = Peer(0, True, key=CurveKeys.generate().public, ip="127.0.0.1")
    peer.state = PeerState.ACTIVE
    p2p.peers[peer.id] = peer
    return peer


def test_a_message_without_a_handler_costs_the_peer_and_the_worker_carries_on(manager):
    p2p, _ = manager
    del p2p.dispatch.handlers[GetAddr]  # as a registry entry nobody wired up would be

    async def body():
        peer = _active_peer(p2p)
        worker = asyncio.create_task(p2p.dispatch.worker(peer))
        try:
            before = peer.score()
            p2p.dispatch.receive(peer, encode(GetAddr()), "request")
            for _ in range(100):
                if peer.score() < before:
                    break
                await asyncio.sleep(0.01)
            assert peer.score() <= before - PENALTY[Misbehaviour.PROTOCOL] + 1
            assert not worker.done()
            # The same worker still answers the next message: GETHEADERS gets HEADERS back.
            p2p.dispatch.receive(peer, encode(GetHeaders((REGTEST.genesis_hash,))), "request")
            for _ in range(200):
                if len(peer.queue):
                    break
                await asyncio.sleep(0.01)
            assert frame_type(peer.queue.pop_nowait()) == MsgType.HEADERS
        finally:
            worker.cancel()

    asyncio.run(body())
