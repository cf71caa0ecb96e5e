"""Headers-first sync against a real chain: the window, parallel peers, in-order intake,
notfound, stalls, invalid blocks and unwelcome headers."""

from __future__ import annotations

import asyncio
import time

import pytest

from coinium import kernels
from coinium.chain.builder import build_block, generate, mine
from coinium.chain.chainstate import ChainState
from coinium.core.block import Block
from coinium.core.header import Header
from coinium.core.params import REGTEST
from coinium.core.transaction import Transaction
from coinium.p2p import sync as sync_module
from coinium.p2p.messages import BlockMsg, GetData, GetHeaders
from coinium.p2p.peer import Peer, PeerState
from coinium.p2p.scoring import Misbehaviour
from coinium.p2p.sync import MAX_IN_FLIGHT, REFILL_BATCH, BlockSync


class Host:
    """The peer manager's side of the sync, over a real ChainState."""

    params = REGTEST

    def __init__(self, chain: ChainState, peers: list[Peer]):
        self.chain = chain
        self.peers = peers
        self.sent: list[tuple[int, object]] = []
        self.offences: list[tuple[int, Misbehaviour]] = []
        self.dropped: list[int] = []
        self.synced: list[bytes] = []

    async def on_chain(self, fn, *args):
        return fn(self.chain, *args)

    async def submit_block(self, block, peer, raw):
        return self.chain.accept_block(block)

    async def submit_blocks(self, run):
        return self.chain.accept_blocks([block for block, _, _ in run])

    def send(self, peer, message):
        self.sent.append((peer.id, message))

    def misbehaving(self, peer, what, detail=""):
        self.offences.append((peer.id, what))

    def active_peers(self):
        return [p for p in self.peers if p.active]

    def disconnect(self, peer, reason):
        peer.state = PeerState.CLOSED
        self.dropped.append(peer.id)

    def block_synced(self, block_hash):
        self.synced.append(block_hash)

    def background(self, coro):
        asyncio.ensure_future(coro)

    def requests(self, kind=GetData):
        found = [(pid, m) for pid, m in self.sent if isinstance(m, kind)]
        self.sent = [(pid, m) for pid, m in self.sent if not isinstance(m, kind)]
        return found


def peer(n: int, height: int) -> Peer:
    p = Peer(n, inbound=False, key=bytes([n]) * 32)
    p.state = PeerState.ACTIVE
    p.best_known_height = height
    return p


@pytest.fixture
def remote(tmp_path, alice):
    chain = ChainState(tmp_path / "remote", REGTEST, sync=False)
    blocks = generate(chain, 80, alice.account)
    yield chain, {b.hash: b for b in blocks}, blocks
    chain.close()


@pytest.fixture
def local(tmp_path):
    chain = ChainState(tmp_path / "local", REGTEST, sync=False)
    yield chain
    chain.close()


async def until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.005)


async def deliver(sync, host, by_hash, requests, peers):
    for peer_id, message in requests:
        source = next(p for p in peers if p.id == peer_id)
        for block_hash in message.hashes:
            await sync.on_block(source, BlockMsg.from_block(by_hash[block_hash]), block_hash)


def test_sync_downloads_in_parallel_and_connects_in_order(remote, local):
    remote_chain, by_hash, blocks = remote
    p1, p2 = peer(1, 80), peer(2, 80)
    host = Host(local, [p1, p2])

    async def body():
        sync = BlockSync(host)
        sync.start()
        await sync.request_headers(p1)
        ((_, request),) = host.requests(GetHeaders)
        assert request.locator == (REGTEST.genesis_hash,)
        await sync.on_headers(p1, [b.header for b in blocks])
        assert sync.active and len(sync.path) == 80
        requests = host.requests()
        per_peer = {pid: sum(len(m.hashes) for q, m in requests if q == pid) for pid in (1, 2)}
        assert per_peer == {1: MAX_IN_FLIGHT, 2: MAX_IN_FLIGHT}  # both peers, each full
        # The second peer answers first: nothing connects before the first block is there.
        await deliver(sync, host, by_hash, [r for r in requests if r[0] == 2], [p1, p2])
        await asyncio.sleep(0.02)
        assert local.height == 0
        await deliver(sync, host, by_hash, [r for r in requests if r[0] == 1], [p1, p2])
        while local.height < 80:
            await deliver(sync, host, by_hash, host.requests(), [p1, p2])
            await asyncio.sleep(0.005)
        await until(lambda: host.synced)
        assert host.synced == [blocks[-1].hash] and not sync.active
        assert local.tip.hash == remote_chain.tip.hash and not host.offences
        await sync.stop()

    asyncio.run(body())


def test_notfound_and_stalls_move_requests_to_other_peers(remote, local):
    _, by_hash, blocks = remote
    p1, p2 = peer(1, 80), peer(2, 80)
    host = Host(local, [p1, p2])

    async def body():
        sync = BlockSync(host)
        await sync.request_headers(p1)
        await sync.on_headers(p1, [b.header for b in blocks[:40]])
        requests = host.requests()
        first_holder = next(pid for pid, m in requests if blocks[0].hash in m.hashes)
        holder = p1 if first_holder == 1 else p2
        other = p2 if holder is p1 else p1
        # The holder of the first block says it has none of them: they go to the other peer.
        asked = [h for pid, m in requests if pid == holder.id for h in m.hashes]
        assert sync.on_notfound(holder, asked)
        assert not sync.on_notfound(holder, [bytes(32)])  # never asked for that one
        moved = [h for pid, m in host.requests() for h in m.hashes]
        assert blocks[0].hash in moved or blocks[0].hash in other.in_flight
        # Now the other peer sits on the first block: after the stall timeout it is replaced.
        sync.check_stalls(time.monotonic() + 3)
        assert host.dropped == [other.id]
        host.peers.remove(other)
        sync.peer_gone(other)
        assert not other.in_flight and sync.retry

    asyncio.run(body())


def _overpaying_child(chain: ChainState, parent_hash: bytes, recipient: bytes) -> Block:
    template = build_block(chain, [], recipient, parent=parent_hash)
    coinbase = template.transactions[0]
    rich = Transaction.coinbase(coinbase.nonce, recipient, coinbase.amount + 1)
    h = template.header
    header = Header(h.version, h.height, h.prev_hash, kernels.merkle_root([rich.txid]),
                    h.state_root, h.timestamp, h.bits, 0)  # fmt: skip
    return mine(Block(header, (rich,)))


def test_an_invalid_block_ends_the_path(remote, local, alice):
    remote_chain, by_hash, blocks = remote
    bad = _overpaying_child(remote_chain, blocks[4].hash, alice.account)
    p1 = peer(1, 10)
    host = Host(local, [p1])
    headers = [b.header for b in blocks[:5]] + [bad.header]
    by_hash[bad.hash] = bad

    async def body():
        sync = BlockSync(host)
        sync.start()
        await sync.request_headers(p1)
        await sync.on_headers(p1, headers)
        await deliver(sync, host, by_hash, host.requests(), [p1])
        await until(lambda: not sync.active)
        assert local.height == 5 and not sync.headers
        await sync.stop()

    asyncio.run(body())


def test_unwelcome_headers_cost_the_peer(remote, local):
    _, _, blocks = remote
    p1 = peer(1, 80)
    host = Host(local, [p1])

    async def body():
        sync = BlockSync(host)
        await sync.on_headers(p1, [blocks[0].header])
        assert host.offences == [(1, Misbehaviour.UNREQUESTED)]
        await sync.request_headers(p1)
        await sync.on_headers(p1, [blocks[0].header, blocks[2].header])
        assert host.offences[-1] == (1, Misbehaviour.BAD_HEADERS)
        await sync.request_headers(p1)
        await sync.on_headers(p1, [blocks[5].header])  # does not connect to anything we know
        assert not sync.active and host.requests(GetHeaders)  # asks again with a locator

    asyncio.run(body())


def test_pushed_blocks_nobody_asked_for_are_not_held(remote, local):
    _, by_hash, blocks = remote
    p1 = peer(1, 80)
    host = Host(local, [p1])

    async def body():
        sync = BlockSync(host)
        await sync.request_headers(p1)
        await sync.on_headers(p1, [b.header for b in blocks])
        asked = {h for _, m in host.requests() for h in m.hashes}
        assert blocks[1].hash in asked and blocks[70].hash not in asked
        # Blocks of the path pushed out of turn would pile up in memory (a peer can push every
        # block of 100,000 pending headers, with 4 MB bodies): only requested ones are kept.
        for block in blocks[40:]:
            await sync.on_block(p1, BlockMsg.from_block(block), block.hash)
        assert not sync.received
        await sync.on_block(p1, BlockMsg.from_block(blocks[1]), blocks[1].hash)
        assert list(sync.received) == [blocks[1].hash] and blocks[1].hash not in p1.in_flight

    asyncio.run(body())


def test_headers_that_lead_nowhere_do_not_stop_later_syncs(remote, tmp_path, bob, monkeypatch):
    # Headers of a branch with less work than ours (cheap at the proof-of-work limit) fill the
    # pending table up to its cap; no download starts from them. They must not keep the node
    # from ever asking anyone for headers again.
    monkeypatch.setattr(sync_module, "MAX_PENDING_HEADERS", 10)
    ours, _, _ = remote  # 80 blocks
    fork = ChainState(tmp_path / "fork", REGTEST, sync=False)
    try:
        branch = generate(fork, 12, bob.account)
    finally:
        fork.close()
    attacker, honest = peer(1, 12), peer(2, 200)
    host = Host(ours, [attacker, honest])

    async def body():
        sync = BlockSync(host)
        await sync.request_headers(attacker)
        host.requests(GetHeaders)
        await sync.on_headers(attacker, [b.header for b in branch])
        assert not sync.active and len(sync.headers) == 12 and not host.offences
        await sync.request_headers(honest)
        assert [pid for pid, _ in host.requests(GetHeaders)] == [honest.id]
        assert not sync.headers

    asyncio.run(body())


def test_a_large_block_is_decoded_off_the_event_loop(remote, local, alice, bob):
    _, _, blocks = remote
    p1 = peer(1, 80)
    host = Host(local, [p1])
    # A 3 MB body under the first block's header (a mutated copy; decoding does not care).
    tx = Transaction.transfer(alice.public_key, bob.account, 1, 10_000, 0,
                              signature=bytes(64))  # fmt: skip
    count = 3_000_000 // len(tx.raw)
    big = BlockMsg(blocks[0].header.encode() + count.to_bytes(4, "little") + tx.raw * count)
    assert big.hash == blocks[0].hash

    async def body():
        sync = BlockSync(host)
        await sync.request_headers(p1)
        await sync.on_headers(p1, [b.header for b in blocks])
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        before = ticks
        await sync.on_block(p1, big, blocks[0].hash)
        during = ticks - before
        task.cancel()
        assert len(sync.received[blocks[0].hash][0].transactions) == count
        assert during >= 2  # the loop kept running while the block decoded

    asyncio.run(body())


def test_downloaded_blocks_waiting_for_the_chain_are_bounded(remote, local, monkeypatch):
    # A peer serving faster than the chain validates must not fill memory: past MAX_AHEAD_BYTES
    # of blocks the chain has not answered, nothing new is requested until it catches up.
    _, by_hash, blocks = remote
    size = len(blocks[1].encode())
    monkeypatch.setattr(sync_module, "MAX_AHEAD_BYTES", 10 * size)
    p1 = peer(1, 80)
    host = Host(local, [p1])

    async def body():
        sync = BlockSync(host)  # not started: the chain takes nothing yet
        await sync.request_headers(p1)
        await sync.on_headers(p1, [b.header for b in blocks])
        first = host.requests()
        assert sum(len(m.hashes) for _, m in first) == MAX_IN_FLIGHT
        await deliver(sync, host, by_hash, first, [p1])
        # One refill went out while under the budget (after the first 8 arrived), none after.
        refill = host.requests()
        assert sum(len(m.hashes) for _, m in refill) == REFILL_BATCH
        await deliver(sync, host, by_hash, refill, [p1])
        assert len(sync.received) == MAX_IN_FLIGHT + REFILL_BATCH
        assert sync.ahead_bytes >= 10 * size and not p1.in_flight
        assert not host.requests()  # the budget is spent: no request, though p1 has room
        sync.start()
        while local.height < 80:
            await deliver(sync, host, by_hash, host.requests(), [p1])
            assert len(sync.received) <= MAX_IN_FLIGHT + REFILL_BATCH
            await asyncio.sleep(0.005)
        await until(lambda: host.synced)
        assert sync.ahead_bytes == 0 and not sync.submitting
        await sync.stop()

    asyncio.run(body())


class GatedHost(Host):
    """A chain thread that takes runs in the order they come, and answers when let."""

    def __init__(self, chain, peers):
        super().__init__(chain, peers)
        self.gate = asyncio.Event()
        self.outstanding = self.most = 0

    async def submit_blocks(self, run):
        results = self.chain.accept_blocks([block for block, _, _ in run])
        self.outstanding += 1
        self.most = max(self.most, self.outstanding)
        await self.gate.wait()
        self.outstanding -= 1
        return results


def test_the_next_run_is_queued_while_the_chain_applies_one(remote, local, monkeypatch):
    _, by_hash, blocks = remote
    monkeypatch.setattr(sync_module, "SUBMIT_RUN_BLOCKS", 8)
    p1 = peer(1, 80)
    host = GatedHost(local, [p1])

    async def body():
        sync = BlockSync(host)
        sync.start()
        await sync.request_headers(p1)
        await sync.on_headers(p1, [b.header for b in blocks])
        await deliver(sync, host, by_hash, host.requests(), [p1])
        # Two runs handed over, neither answered, and no third: the chain never waits for the
        # event loop, and what waits on it is bounded.
        await until(lambda: host.most == 2)
        await asyncio.sleep(0.02)
        assert host.outstanding == 2 and local.height == 16 and len(sync.runs) == 2
        host.gate.set()
        while local.height < 80:
            await deliver(sync, host, by_hash, host.requests(), [p1])
            await asyncio.sleep(0.005)
        await until(lambda: host.synced)
        assert host.most == 2 and local.tip.hash == blocks[-1].hash and not host.offences
        await sync.stop()

    asyncio.run(body())


def test_a_mutated_block_inside_a_run_is_asked_again_with_what_follows(remote, local, bob):
    # The blocks after a mutated copy in the same run (and in the run queued behind it) reach
    # the chain without their parent: after the good copy arrives they are asked again, and
    # the sync completes instead of waiting forever for blocks it no longer requests.
    _, by_hash, blocks = remote
    coinbase = blocks[5].transactions[0]
    other = Transaction.coinbase(coinbase.nonce, bob.account, coinbase.amount)
    mutated = Block(blocks[5].header, (other,))  # a body the header's Merkle root does not match
    p1 = peer(1, 80)
    host = Host(local, [p1])
    asked: list[bytes] = []

    async def body():
        sync = BlockSync(host)
        sync.start()
        await sync.request_headers(p1)
        await sync.on_headers(p1, [b.header for b in blocks])
        requests = host.requests()
        asked.extend(h for _, m in requests for h in m.hashes)
        for block_hash in [h for _, m in requests for h in m.hashes]:
            block = mutated if block_hash == blocks[5].hash else by_hash[block_hash]
            await sync.on_block(p1, BlockMsg.from_block(block), block_hash)
        # The chain took blocks 0-4 and refused the copy of 5 as mutated: 5 is asked again
        # (from the peer's next free slot), and the blocks after it have to come again too.
        await until(lambda: sync.retry or blocks[5].hash in sync.in_flight)
        assert local.height == 5 and not sync.runs
        while local.height < 80:
            requests = host.requests()
            asked.extend(h for _, m in requests for h in m.hashes)
            await deliver(sync, host, by_hash, requests, [p1])
            await asyncio.sleep(0.005)
        await until(lambda: host.synced)
        assert asked.count(blocks[5].hash) == 2 and asked.count(blocks[6].hash) == 2
        assert local.tip.hash == blocks[-1].hash
        await sync.stop()

    asyncio.run(body())
