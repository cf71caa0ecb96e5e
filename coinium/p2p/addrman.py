"""Known peer addresses, with what we learned of each: score, successes, failures, backoff.

A record is keyed by the node's Curve key (the address a key was last seen at wins): a key is
what a peer proves in every handshake, so one node is one record however many addresses it
had. Records come from the command line (``manual``, ``seed``), from peers' ``addr`` messages
(``gossip``) and from inbound peers that said where they listen (``inbound``); they are kept in
``peers.lmdb`` with the score the peer had when we last saw it, and written in batches.

Selection for an outbound slot skips connected and banned keys and those still in their backoff
(`backoff`: exponential in the failed attempts, with jitter, capped), then takes the best score,
preferring addresses that worked before. The table is bounded: when full, the worst records (low
score, many failures, long unseen) make room, a sixteenth of the table at a time. This is a small
cousin of Bitcoin Core's addrman, without its bucketing by /16 group (which matters against
eclipse attacks on the open internet and can come later).
"""

from __future__ import annotations

import heapq
import logging
import random
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from coinium.core.codec import DecodeError, Reader, u16
from coinium.p2p.messages import NODE_NETWORK, AddrRecord
from coinium.p2p.peerdb import PeerDB
from coinium.p2p.transport import PeerAddress, is_ip

log = logging.getLogger("coinium.net")

MAX_ADDRESSES = 4096
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 60.0
GETADDR_SHARE = 0.23  # bitcoind answers getaddr with at most 23% of its table
SOURCES = ("manual", "seed", "gossip", "inbound")
_RECORD = struct.Struct("<BHQQQQQIi")


@dataclass(slots=True)
class KnownAddress:
    key: bytes
    host: str
    port: int
    source: str = "gossip"
    services: int = NODE_NETWORK
    first_seen: int = 0
    last_seen: int = 0  # last time anybody told us of it, or we talked to it
    last_success: int = 0  # last completed handshake
    last_try: float = 0.0  # unix seconds of the last attempt
    attempts: int = 0  # failed attempts since the last success
    score: float = 0.0  # the peer's reputation when we last saw it

    @property
    def address(self) -> PeerAddress:
        return PeerAddress(self.key, self.host, self.port)

    def encode(self) -> bytes:
        host = self.host.encode()
        return _RECORD.pack(SOURCES.index(self.source), self.port, self.services, self.first_seen,
                            self.last_seen, self.last_success, int(self.last_try),
                            min(self.attempts, 1 << 31), int(round(self.score * 100))) \
            + u16(len(host)) + host  # fmt: skip

    @classmethod
    def decode(cls, key: bytes, data: bytes) -> KnownAddress:
        r = Reader(data, "addr")
        source, port, services, first, last, success, tried, attempts, score = _RECORD.unpack(
            r.fixed(_RECORD.size, "fields"))
        host = r.var_bytes("host", 255).decode()
        r.finish()
        if len(key) != 32 or source >= len(SOURCES):
            raise DecodeError("addr", 0, "bad key or source")
        return cls(key, host, port, SOURCES[source], services, first, last, success, tried,
                   attempts, score / 100)  # fmt: skip


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after ``attempts`` failures in a row (0 after none)."""
    if attempts <= 0:
        return 0.0
    delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (attempts - 1))
    jitter = (rng or random).uniform(0.8, 1.2)
    return delay * jitter


class AddrMan:
    def __init__(self, db: PeerDB | None, clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None, max_addresses: int = MAX_ADDRESSES):  # fmt: skip
        self.db = db
        self.clock = clock
        self.rng = rng or random.Random()
        self.max_addresses = max_addresses
        self._table: dict[bytes, KnownAddress] = {}
        self._dirty: set[bytes] = set()
        self._deleted: set[bytes] = set()
        self._retry_at: dict[bytes, float] = {}
        if db is not None:
            for key, value in db.items("addrs"):
                try:
                    self._table[key] = KnownAddress.decode(key, value)
                except (DecodeError, ValueError, UnicodeDecodeError, struct.error):
                    log.warning("dropping an unreadable address record %s", key.hex())

    def __len__(self) -> int:
        return len(self._table)

    def __contains__(self, key: object) -> bool:
        return key in self._table

    def get(self, key: bytes) -> KnownAddress | None:
        return self._table.get(key)

    def all(self) -> list[KnownAddress]:
        return list(self._table.values())

    # --- learning ------------------------------------------------------------------------------
    def add(self, address: PeerAddress, source: str, *, services: int = NODE_NETWORK,
            seen: int | None = None) -> KnownAddress:  # fmt: skip
        """Learn (or refresh) where a key listens. A manual entry keeps its address: gossip does
        not get to move a peer the operator named."""
        now = int(self.clock())
        seen = now if seen is None else min(int(seen), now)
        entry = self._table.get(address.key)
        if entry is None:
            self._make_room()
            entry = KnownAddress(address.key, address.host, address.port, source, services,
                                 now, seen)  # fmt: skip
            self._table[address.key] = entry
        else:
            if entry.source != "manual" or source == "manual":
                if (entry.host, entry.port) != (address.host, address.port):
                    entry.host, entry.port = address.host, address.port
                if SOURCES.index(source) < SOURCES.index(entry.source):
                    entry.source = source
            entry.last_seen = max(entry.last_seen, seen)
        self._touch(address.key)
        return entry

    def add_records(self, records: Iterable[AddrRecord], own_key: bytes) -> int:
        """Addresses from a peer's ``addr``; returns how many were new."""
        new = 0
        for record in records:
            if record.key == own_key or record.port == 0 or not is_ip(record.host):
                continue
            if record.key not in self._table:
                new += 1
            self.add(PeerAddress(record.key, record.host, record.port), "gossip",
                     services=record.services, seen=record.last_seen)  # fmt: skip
        return new

    def _make_room(self) -> None:
        """Evict the worst records, a sixteenth of the table at a time: one pass over the table
        per new record would make a peer's ``addr`` of 1,000 new keys cost ~1,000 passes."""
        if len(self._table) < self.max_addresses:
            return
        now = self.clock()
        victims = [e for e in self._table.values() if e.source != "manual"] \
            or list(self._table.values())  # fmt: skip
        count = max(1, self.max_addresses // 16)
        for worst in heapq.nsmallest(count, victims,
                                     key=lambda e: (e.score, -e.attempts, e.last_seen - now)):
            self.remove(worst.key)

    def remove(self, key: bytes) -> None:
        if self._table.pop(key, None) is not None:
            self._dirty.discard(key)
            self._deleted.add(key)

    def _touch(self, key: bytes) -> None:
        self._dirty.add(key)
        self._deleted.discard(key)

    # --- outcomes ------------------------------------------------------------------------------
    def attempt(self, key: bytes) -> None:
        entry = self._table.get(key)
        if entry is not None:
            entry.last_try = self.clock()
            self._touch(key)

    def success(self, key: bytes, score: float | None = None) -> None:
        entry = self._table.get(key)
        if entry is not None:
            now = int(self.clock())
            entry.last_success = entry.last_seen = now
            entry.attempts = 0
            self._retry_at.pop(key, None)
            if score is not None:
                entry.score = score
            self._touch(key)

    def failure(self, key: bytes) -> None:
        entry = self._table.get(key)
        if entry is not None:
            entry.attempts += 1
            entry.last_try = self.clock()
            self._retry_at[key] = entry.last_try + backoff(entry.attempts, self.rng)
            self._touch(key)

    def set_score(self, key: bytes, score: float) -> None:
        entry = self._table.get(key)
        if entry is not None:
            entry.score = score
            self._touch(key)

    def reset_backoff(self, key: bytes) -> None:
        entry = self._table.get(key)
        if entry is not None:
            entry.attempts = 0
            self._retry_at.pop(key, None)
            self._touch(key)

    def ready(self, key: bytes) -> bool:
        """Whether the backoff of ``key`` has run out."""
        entry = self._table.get(key)
        if entry is None:
            return True
        retry_at = self._retry_at.get(key)
        if retry_at is None and entry.attempts:
            retry_at = entry.last_try + backoff(entry.attempts, self.rng)
            self._retry_at[key] = retry_at
        return retry_at is None or self.clock() >= retry_at

    # --- choosing ------------------------------------------------------------------------------
    def select(self, exclude: Callable[[KnownAddress], bool]) -> KnownAddress | None:
        """The best address to dial now: not excluded, out of backoff; best score first, then
        those that worked, then at random."""
        candidates = [e for e in self._table.values() if not exclude(e) and self.ready(e.key)]
        if not candidates:
            return None
        self.rng.shuffle(candidates)
        return max(candidates, key=lambda e: (round(e.score), e.last_success > 0, -e.attempts))

    def sample(self, limit: int, exclude: Callable[[KnownAddress], bool]) -> list[KnownAddress]:
        """What to answer a ``getaddr`` with: a random share of the good records."""
        good = [e for e in self._table.values() if not exclude(e) and e.score > -50]
        count = min(limit, max(1, int(len(good) * GETADDR_SHARE)) if len(good) > 10 else len(good))
        return self.rng.sample(good, count)

    # --- persistence ---------------------------------------------------------------------------
    def flush(self) -> None:
        if self.db is None or not (self._dirty or self._deleted):
            return
        items = [(k, self._table[k].encode()) for k in self._dirty if k in self._table]
        self.db.put_many("addrs", items, sorted(self._deleted))
        self._dirty.clear()
        self._deleted.clear()
