"""Seen-cache and relay: once only, by the XPUB or the request link, never back to the source."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from coinium.core.params import REGTEST
from coinium.p2p.gossip import Gossip, SeenCache
from coinium.p2p.messages import BlockMsg, decode
from coinium.p2p.peer import Peer, PeerState


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_seen_cache_is_bounded_in_age_and_size():
    clock = Clock()
    seen = SeenCache(max_entries=3, ttl=10, clock=clock)
    assert seen.add(b"a") and not seen.add(b"a")
    clock.now = 11
    assert b"a" not in seen and seen.add(b"a")
    for item in (b"b", b"c", b"d"):
        seen.add(item)
    assert b"a" not in seen and len(seen) == 3


def active_peer(n: int, subscribed: bool) -> Peer:
    peer = Peer(n, inbound=bool(n % 2), key=bytes([n]) * 32)
    peer.state = PeerState.ACTIVE
    peer.subscribed = subscribed
    return peer


def test_relay_once_by_the_cheapest_path():
    published: list[bytes] = []
    gossip = Gossip(published.append)
    sub, nat, source = active_peer(1, True), active_peer(2, False), active_peer(3, False)
    block = REGTEST.genesis
    assert gossip.relay_block(BlockMsg.from_block(block), block.hash, [sub, nat, source], source)
    assert len(published) == 1 and decode(published[0]).hash == block.hash
    assert len(sub.queue) == 0  # the XPUB reached it
    assert len(nat.queue) == 1  # not subscribed: over its request link
    assert len(source.queue) == 0  # never back to where it came from
    assert sub.stats.bytes_sent == len(published[0])
    # Only once.
    assert not gossip.relay_block(BlockMsg.from_block(block), block.hash, [sub, nat, source])
    assert len(published) == 1 and len(nat.queue) == 1


def test_without_a_gossip_socket_everything_goes_over_request_links():
    gossip = Gossip(None)
    peers = [active_peer(n, True) for n in (1, 2)]
    block = REGTEST.genesis
    assert gossip.relay_block(BlockMsg.from_block(block), block.hash, peers)
    assert [len(p.queue) for p in peers] == [1, 1]
    peers[0].known.add(b"x" * 32)
    assert gossip.relay_block(BlockMsg(bytes(200)), b"x" * 32, peers)
    assert [len(p.queue) for p in peers] == [1, 2]  # the peer that had it is skipped


_ITEMS = st.lists(st.sampled_from([bytes([i]) * 32 for i in range(12)]), max_size=30)


@given(before=_ITEMS, batch=_ITEMS, max_entries=st.integers(1, 15),
       advance=st.sampled_from([0.0, 5.0, 11.0]))  # fmt: skip
def test_the_bulk_calls_answer_what_one_at_a_time_would(before, batch, max_entries, advance):
    # add_all and unseen (the TXS handler's and the relay's) against add and `in`, one by one.
    clock = [0.0]
    bulk, single = (SeenCache(max_entries, ttl=10.0, clock=lambda: clock[0]) for _ in range(2))
    for item in before:
        bulk.add(item)
        single.add(item)
    clock[0] += advance
    assert bulk.unseen(batch) == [item for item in batch if item not in single]
    assert bulk.add_all(batch) == [single.add(item) for item in batch]
    assert len(bulk) == len(single) and all((i in bulk) == (i in single) for i in before + batch)
