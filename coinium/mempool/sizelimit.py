"""The size limit, the rolling minimum fee and expiry.

- **Size limit.** ``usage`` above ``max_bytes`` evicts whole packages, lowest score first: a
  package is a suffix of a sender's chain (nonce k and every later one, which cannot be mined
  without k), scored as bitcoind's descendant score, the higher of k's own fee rate and the
  suffix's. An admission that needs room evicts packages scoring below its own fee rate ('R'
  "sizelimit"); if that is not enough, or the next package is the sender's own, it is refused
  with "mempool full" (what bitcoind's trim would have done to it). Each eviction raises the
  rolling minimum fee to the package's fee rate plus the incremental relay fee; once a block has
  come, the raise decays with a 12-hour half-life (6 h under half full, 3 h under a quarter), in
  integers (`policy.halve`), and drops to zero under half the incremental fee: bitcoind's
  rollingMinimumFeeRate. One difference: a raise restarts the decay clock (bitcoind decays from
  its last decay computation, which can predate the raise). ``getmempoolinfo``'s
  ``mempoolminfee`` reports the floor.

- **Expiry.** `expire` removes entries older than ``expiry_seconds`` with their sender's later
  nonces ('R' "expiry"), and held future transactions as old; the node calls it on a timer.
"""

from __future__ import annotations

import bisect
import heapq
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from coinium.core.kinds.transfer import MAX_NONCE
from coinium.core.transaction import Transaction
from coinium.mempool.entries import (
    REASON_EXPIRY,
    REASON_INAPPLICABLE,
    REASON_SIZELIMIT,
    RPC_VERIFY_REJECTED,
    MempoolReject,
    SenderChain,
    nonce_of,
    unix_now,
)
from coinium.mempool.policy import ROLLING_FEE_HALFLIFE_S, ROLLING_FEE_MIN_INTERVAL_S, halve

log = logging.getLogger("coinium.mempool")

_SCORE_SCALE = 10**9  # heap key of a package score: its fee rate in units per 10^9 bytes


@dataclass(frozen=True, slots=True)
class Package:
    """A sender's chain from nonce index ``start`` to its end: what evicting ``start`` removes."""

    sender: bytes
    version: int
    start: int
    fee: int  # of the whole suffix
    size: int
    score_fee: int  # the descendant score, max(own rate, suffix rate), as fee / size
    score_size: int

    def scores_below(self, fee: int, size: int) -> bool:
        return self.score_fee * size < fee * self.score_size


class SizeLimit:
    """The size-limit half of `Mempool` (a mixin: the state is the pool's)."""

    def _make_room(self, need: int, sender: bytes, tx: Transaction, now: int) -> None:
        """Evict packages scoring below ``tx`` until it fits, or raise "mempool full"."""
        evicted = 0
        while self.usage + need > self.max_bytes:
            worst = self._worst_package()
            if worst is None or worst.sender == sender or not worst.scores_below(tx.fee, tx.size):
                if worst is None or worst.sender != sender:
                    self._bump_rolling(tx.fee, tx.size, now)  # bitcoind would evict it next
                self._log_trim(evicted)
                raise MempoolReject("mempool full", RPC_VERIFY_REJECTED,
                                    f"usage would exceed {self.max_bytes} bytes and nothing "
                                    "pending pays a lower fee rate")  # fmt: skip
            evicted += self._evict(worst, now)
        self._log_trim(evicted)

    def _trim(self, now: int) -> None:
        """Back under the size limit after transactions came back without admission (reorg)."""
        evicted = 0
        while self.usage > self.max_bytes:
            worst = self._worst_package()
            if worst is None:
                break
            evicted += self._evict(worst, now)
        self._log_trim(evicted)

    def _log_trim(self, evicted: int) -> None:
        if evicted:
            log.info("mempool full: evicted %d transaction(s), rolling minimum fee rate now "
                     "%d units/kB", evicted, (self._rolling_milli + 500) // 1000)  # fmt: skip

    def _evict(self, package: Package, now: int) -> int:
        chain = self._chains[package.sender]
        victims = chain.entries[package.start:]
        for entry in victims:
            self._remove(entry, REASON_SIZELIMIT)
        self._bump_rolling(package.fee, package.size, now)
        return len(victims)

    def _worst_package(self) -> Package | None:
        heap = self._trim_heap
        if len(heap) > 2 * len(self._chains) + 64:  # mostly stale: start again
            heap.clear()
            self._dirty = set(self._chains)
        for sender in self._dirty:
            chain = self._chains.get(sender)
            if chain is not None and chain.entries:
                package = worst_suffix(sender, chain)
                self._trim_counter += 1
                key = package.score_fee * _SCORE_SCALE // package.score_size
                heapq.heappush(heap, (key, self._trim_counter, sender, chain.version, package))
        self._dirty.clear()
        while heap:
            _, _, sender, version, package = heap[0]
            chain = self._chains.get(sender)
            if chain is not None and chain.version == version:
                return package
            heapq.heappop(heap)
        return None

    def _bump_rolling(self, fee: int, size: int, now: int) -> None:
        """bitcoind's trackPackageRemoved(rate + incremental relay fee), the rate in whole
        units per 1000 bytes as bitcoind's CFeeRate, kept in thousandths while it decays."""
        milli = (fee * 1000 // size + self.policy.incremental_relay_fee_rate) * 1000
        if milli > self._rolling_milli:
            self._rolling_milli = milli
            self._rolling_updated = now
            self._block_since_bump = False

    def _rolling_rate(self, now: int) -> int:
        """bitcoind's GetMinFee: the raised floor, decaying once a block has come."""
        if self._rolling_milli == 0:
            return 0
        if self._block_since_bump and now > self._rolling_updated + ROLLING_FEE_MIN_INTERVAL_S:
            half_life = ROLLING_FEE_HALFLIFE_S
            if self.usage < self.max_bytes // 4:
                half_life //= 4
            elif self.usage < self.max_bytes // 2:
                half_life //= 2
            self._rolling_milli = halve(self._rolling_milli, now - self._rolling_updated,
                                        half_life)  # fmt: skip
            self._rolling_updated = now
            incremental = self.policy.incremental_relay_fee_rate
            if self._rolling_milli < incremental * 1000 // 2:
                self._rolling_milli = 0
                return 0
            return max((self._rolling_milli + 500) // 1000, incremental)
        return (self._rolling_milli + 500) // 1000

    def expire(self, now: int | None = None) -> int:
        """Remove entries older than the expiry age, with their sender's later nonces ('R'
        "expiry"), and held future transactions as old; returns how many entries left."""
        now = unix_now(now)
        cutoff = now - self.policy.expiry_seconds
        first: dict[bytes, int] = {}  # sender -> its lowest expired nonce
        for entry in self._entries.values():
            if entry.time < cutoff and entry.nonce < first.get(entry.sender, MAX_NONCE):
                first[entry.sender] = entry.nonce
        removed = 0
        for sender, nonce in first.items():
            chain = self._chains[sender]
            i = bisect.bisect_left(chain.entries, nonce, key=nonce_of)
            for entry in chain.entries[i:]:
                self._remove(entry, REASON_EXPIRY)
                removed += 1
        for item in self.future.older_than(cutoff):
            self.future.remove(item)
            log.debug("held %s expired", item.txid.hex())
        if removed:
            log.info("expired %d transaction(s) older than %d s", removed,
                     self.policy.expiry_seconds)  # fmt: skip
        return removed

    def remove_inapplicable(self, txids: Iterable[bytes]) -> int:
        """Remove transactions a block template could not apply on the tip (a kind's rule that
        another sender's transaction broke first: two buyers of one offer), each with its
        sender's later nonces ('R' "inapplicable"); returns how many entries left."""
        removed = 0
        for txid in txids:
            entry = self._entries.get(txid)
            if entry is None:
                continue
            chain = self._chains[entry.sender]
            i = bisect.bisect_left(chain.entries, entry.nonce, key=nonce_of)
            for later in chain.entries[i:]:
                self._remove(later, REASON_INAPPLICABLE)
                removed += 1
        return removed


def worst_suffix(sender: bytes, chain: SenderChain) -> Package:
    """The chain's package with the lowest descendant score (the shortest of equal ones)."""
    entries = chain.entries
    fee = size = 0
    best: Package | None = None
    for k in range(len(entries) - 1, -1, -1):
        entry = entries[k]
        fee += entry.fee
        size += entry.size
        if entry.fee * size >= fee * entry.size:  # the entry alone pays the higher rate
            score_fee, score_size = entry.fee, entry.size
        else:
            score_fee, score_size = fee, size
        if best is None or score_fee * best.score_size < best.score_fee * score_size:
            best = Package(sender, chain.version, k, fee, size, score_fee, score_size)
    assert best is not None
    return best
