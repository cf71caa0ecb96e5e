"""Known addresses: learning, selection by score and backoff, limits, persistence."""

from __future__ import annotations

import random
import time

from coinium.p2p.addrman import BACKOFF_MAX_S, AddrMan, backoff
from coinium.p2p.messages import AddrRecord
from coinium.p2p.peerdb import PeerDB
from coinium.p2p.transport import PeerAddress


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def addr(n: int, port: int = 19444) -> PeerAddress:
    return PeerAddress(bytes([n]) * 32, f"10.0.0.{n}", port)


def test_backoff_doubles_to_a_cap():
    rng = random.Random(1)
    assert backoff(0) == 0
    delays = [backoff(n, rng) for n in range(1, 12)]
    assert 0.8 <= delays[0] <= 1.2 and 1.6 <= delays[1] <= 2.4
    assert max(delays) <= BACKOFF_MAX_S * 1.2


def test_selection_prefers_good_peers_and_respects_backoff():
    clock = Clock()
    book = AddrMan(None, clock, random.Random(2))
    for n in (1, 2, 3):
        book.add(addr(n), "gossip")
    book.set_score(addr(2).key, 20)
    assert book.select(lambda e: False).key == addr(2).key
    book.failure(addr(2).key)  # now in its backoff
    assert book.select(lambda e: False).key != addr(2).key
    clock.now += 5
    assert book.select(lambda e: False).key == addr(2).key
    assert book.select(lambda e: True) is None


def test_manual_addresses_are_not_moved_by_gossip():
    book = AddrMan(None, Clock())
    book.add(addr(1), "manual")
    book.add_records([AddrRecord(addr(1).key, "10.9.9.9", 1)], own_key=b"\0" * 32)
    assert book.get(addr(1).key).host == "10.0.0.1"
    assert book.get(addr(1).key).source == "manual"


def test_records_from_peers_skip_ourselves_and_bad_entries():
    book = AddrMan(None, Clock())
    own = bytes([9]) * 32
    new = book.add_records([AddrRecord(own, "10.0.0.9", 1), AddrRecord(addr(1).key, "10.0.0.1", 0),
                            AddrRecord(addr(2).key, "10.0.0.2", 19444)], own)  # fmt: skip
    assert new == 1 and len(book) == 1


def test_the_table_is_bounded_and_evicts_the_worst():
    book = AddrMan(None, Clock(), max_addresses=3)
    for n in (1, 2, 3):
        book.add(addr(n), "gossip")
    book.set_score(addr(2).key, -40)
    book.add(addr(4), "gossip")
    assert len(book) == 3 and addr(2).key not in book


def test_addresses_and_scores_persist(tmp_path):
    clock = Clock()
    db = PeerDB(tmp_path)
    book = AddrMan(db, clock)
    book.add(addr(1), "manual")
    book.add(addr(2), "gossip")
    book.success(addr(1).key, score=12.5)
    book.failure(addr(2).key)
    book.flush()
    book.remove(addr(2).key)
    book.flush()
    db.close()
    db = PeerDB(tmp_path)
    again = AddrMan(db, clock)
    entry = again.get(addr(1).key)
    assert len(again) == 1 and entry.score == 12.5 and entry.source == "manual"
    assert entry.last_success == int(clock.now) and entry.address == addr(1)
    db.close()


def test_getaddr_answers_a_share():
    book = AddrMan(None, Clock(), random.Random(3))
    for n in range(1, 101):
        book.add(addr(n), "gossip")
    assert len(book.sample(1000, lambda e: False)) == 23
    assert len(book.sample(10, lambda e: False)) == 10


def test_a_full_table_takes_a_large_addr_without_stalling():
    # A peer's addr of 1,000 new keys into a full table: evicting one record per new one meant
    # a pass over the whole table each time (~0.5 s of event loop for one message).
    clock = Clock()
    book = AddrMan(None, clock, max_addresses=4096)
    own = bytes(32)

    def records(first: int, count: int) -> list[AddrRecord]:
        return [AddrRecord(n.to_bytes(32, "big"), f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}",
                           19444) for n in range(first, first + count)]  # fmt: skip

    book.add_records(records(1, 4096), own)
    assert len(book) == 4096
    clock.now += 100  # the old records are the longer unseen: they go first
    fresh = records(10_000, 1000)
    started = time.perf_counter()
    assert book.add_records(fresh, own) == 1000
    elapsed = time.perf_counter() - started
    assert len(book) <= 4096 and all(r.key in book for r in fresh)
    assert elapsed < 0.25, f"{elapsed:.3f} s for one addr message"
