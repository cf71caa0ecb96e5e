"""Gossip: relay each validated block and transaction once, to every peer, by the cheapest path
(transactions in batches on the request links only: `coinium.p2p.txbatch`, which shares the
seen-cache here).

A block is relayed when the chain made it the tip (the node's listeners hear it after validation),
a transaction when the mempool took it: never before it was checked, so an invalid object dies at
the first honest node. The seen-caches (bounded, timed) make each object go out once: a block
that every neighbour pushes to us is decoded once and relayed once.

Paths for a block: one send on the XPUB reaches every peer subscribed to our gossip socket; a
peer that is not subscribed (it cannot reach our gossip port, say behind NAT, or it is still
connecting its SUB) gets the same frame on its request link, through its priority queue. Nothing
goes back to the peer it came from, and a peer known to have an object already (it announced it)
is skipped on the request link. The XPUB cannot skip single subscribers; receivers drop duplicate
blocks by hash before decoding anything (a block is one frame a block; transactions come by the
thousand, which is why they take the request links, where every peer can be skipped).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from coinium.p2p.messages import BlockMsg, CmpctBlock, encode
from coinium.p2p.peer import Peer, Priority

_KIND = {Priority.BLOCK: "block", Priority.TX: "tx"}
SEEN_TTL_S = 120.0  # gossipsub's seen_ttl
SEEN_MAX = 200_000


class SeenCache:
    """Hashes seen recently: bounded in size and in age (oldest first out)."""

    def __init__(self, max_entries: int = SEEN_MAX, ttl: float = SEEN_TTL_S,
                 clock: Callable[[], float] = time.monotonic):  # fmt: skip
        self.max_entries = max_entries
        self.ttl = ttl
        self.clock = clock
        self._entries: OrderedDict[bytes, float] = OrderedDict()

    def add(self, item: bytes) -> bool:
        """Remember ``item``; True if it was not there (the first sighting)."""
        now = self.clock()
        self._expire(now)
        fresh = item not in self._entries
        self._entries[item] = now + self.ttl
        self._entries.move_to_end(item)
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return fresh

    def add_all(self, items: list[bytes]) -> list[bool]:
        """`add` for each of ``items`` at one clock reading: whether each was new (of an item
        that repeats in ``items``, the first)."""
        now = self.clock()
        self._expire(now)
        entries, expiry, limit = self._entries, now + self.ttl, self.max_entries
        first = []
        for item in items:
            new = item not in entries
            entries[item] = expiry
            if not new:
                entries.move_to_end(item)
            elif len(entries) > limit:
                entries.popitem(last=False)
            first.append(new)
        return first

    def unseen(self, items: list[bytes]) -> list[bytes]:
        """Those of ``items`` not seen (or no longer: expired), at one clock reading."""
        now, get = self.clock(), self._entries.get
        return [item for item in items if not ((expiry := get(item)) is not None and expiry > now)]

    def __contains__(self, item: object) -> bool:
        expiry = self._entries.get(item)  # type: ignore[call-overload]
        return expiry is not None and expiry > self.clock()

    def discard(self, item: bytes) -> None:
        self._entries.pop(item, None)

    def __len__(self) -> int:
        self._expire(self.clock())
        return len(self._entries)

    def _expire(self, now: float) -> None:
        while self._entries:
            item, expiry = next(iter(self._entries.items()))
            if expiry > now:
                break
            self._entries.popitem(last=False)


class Gossip:
    """Relay decisions. ``publish(frame)`` sends on the XPUB (None when not listening)."""

    def __init__(self, publish: Callable[[bytes], None] | None):
        self.publish = publish
        self.blocks_relayed = SeenCache()
        self.txs_relayed = SeenCache()
        self.relayed = {"block": 0, "tx": 0}

    def relay_block(self, message: BlockMsg | CmpctBlock, block_hash: bytes,
                    peers: Iterable[Peer], source: Peer | None = None, *,
                    full: Callable[[], BlockMsg] | None = None,
                    takes: Callable[[Peer], bool] | None = None) -> bool:  # fmt: skip
        """Send ``message`` once per block; a request-link peer for which ``takes`` is false
        gets ``full()`` instead (a compact block to a peer that does not read them)."""
        if not self.blocks_relayed.add(block_hash):
            return False
        fallback = None
        if full is not None and takes is not None:
            frames: list[bytes] = []

            def fallback(peer: Peer) -> bytes | None:
                if takes(peer):
                    return None
                if not frames:
                    frames.append(encode(full()))
                return frames[0]

        self._send(encode(message), block_hash, Priority.BLOCK, peers, source, fallback)
        self.relayed["block"] += 1
        return True

    def _send(self, frame: bytes, item: bytes, priority: Priority, peers: Iterable[Peer],
              source: Peer | None,
              fallback: Callable[[Peer], bytes | None] | None = None) -> None:  # fmt: skip
        if self.publish is not None:
            self.publish(frame)
        for peer in peers:
            if peer is source or not peer.active:
                continue
            if self.publish is not None and peer.subscribed:
                peer.known.add(item)
                peer.stats.sent(_KIND[priority], len(frame))  # the XPUB send reached it
                continue
            if item in peer.known:
                continue
            peer.known.add(item)
            other = fallback(peer) if fallback is not None else None
            peer.queue.put(other if other is not None else frame, priority)
