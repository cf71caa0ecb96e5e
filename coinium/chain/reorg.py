"""The work half of the chain's fork choice and the reorg itself, as a mixin of `ChainState`.

The candidates are the stored, valid blocks with at least the tip's work (or a later justified
checkpoint); the best is chosen by `FinalityChoice`'s rank (finalized checkpoint kept, justified
checkpoint, then work, then first seen). Switching to it is one LMDB write transaction:
disconnect back to the fork point, connect the new branch, move the tip record last. If a block
of the new branch breaks a rule, the transaction is aborted (so the old tip is intact, on disk
and in memory), the block is marked invalid with its descendants (`chain/invalidation.py`), and
the best remaining chain is chosen again.
"""

from __future__ import annotations

import logging

import lmdb

from coinium.chain.connect import connect_block, disconnect_block, load_block
from coinium.chain.finality_choice import LessJustified
from coinium.chain.outcome import ChainChanges
from coinium.consensus.errors import ConsensusError
from coinium.core.block import Block
from coinium.store.records import BlockStatus, IndexEntry

log = logging.getLogger("coinium.chain")


class ForkChoice:
    """Mixed into `ChainState` (``self`` is one): moves its main chain to the best candidate."""

    def _rebuild_candidates(self) -> None:
        # An invalid tip (marked, but the process stopped before moving off it) may have more
        # work than any valid block, so then every valid block must stay a candidate.
        tip_work = 0 if self.tip.status.invalid else self.tip.chainwork
        self._candidates = {
            h for h, e in self.index.items()
            if e.status & BlockStatus.HAVE_DATA and not e.status.invalid
            and e.chainwork >= tip_work
        }  # fmt: skip

    def _best_candidate(self) -> IndexEntry:
        # Finality first: a branch without the finalized checkpoint is never chosen. Then the
        # highest justified checkpoint, then most work; between equal work, the first seen
        # (lowest sequence) stays.
        best = self.tip if not self.tip.status.invalid else None
        finalized = self.finalized_block()
        justified = self._justified_epoch(None)
        for block_hash in self._candidates:
            entry = self.index[block_hash]
            if entry.status.invalid or not self._keeps_finalized(entry, finalized):
                continue
            if best is None or self._rank(entry, justified) > self._rank(best, justified):
                best = entry
        if best is None:  # only reachable if every block but genesis was invalidated
            best = self.index[self.main_chain[0]]
        return best

    def _activate_best_chain(self, changes: ChainChanges) -> dict[bytes, ConsensusError]:
        """Move to the best valid chain; return the errors of blocks found invalid on the way."""
        errors: dict[bytes, ConsensusError] = {}
        while True:
            best = self._best_candidate()
            tip = self.tip
            if best.hash == tip.hash:
                break
            justified = self._justified_epoch(None)
            if not tip.status.invalid and self._rank(best, justified) <= self._rank(tip,
                                                                                   justified):
                break
            try:
                disconnected, connected = self._reorganize_to(best)
            except _BranchInvalid as failure:
                errors[failure.block_hash] = failure.error
                self._mark_invalid(failure.block_hash, discard_data=True)
                continue
            except LessJustified:
                # More work but an older justified checkpoint: the current chain stays (it
                # becomes a candidate again when a block extends it).
                self._candidates.discard(best.hash)
                continue
            changes.record(disconnected, connected)
        tip_work, justified = self.tip.chainwork, self._justified_epoch(None)
        self._candidates = {h for h in self._candidates if self.index[h].chainwork >= tip_work
                            or self._branch_justified.get(h, -1) > justified}  # fmt: skip
        return errors

    def _path_to(self, target: IndexEntry) -> tuple[list[IndexEntry], list[IndexEntry]]:
        """(main-chain entries to disconnect, tip first; branch entries to connect, oldest
        first)."""
        branch = []
        cursor = target
        while not self.is_on_main_chain(cursor.hash):
            branch.append(cursor)
            cursor = self.index[cursor.prev_hash]
        fork_height = cursor.height
        to_disconnect = [self.index[h] for h in reversed(self.main_chain[fork_height + 1 :])]
        return to_disconnect, list(reversed(branch))

    def _reorganize_to(self, target: IndexEntry) -> tuple[list[Block], list[Block]]:
        to_disconnect, to_connect = self._path_to(target)
        if to_disconnect:
            log.info(
                "reorganizing: disconnecting %d blocks, connecting %d (new tip %s at height %d)",
                len(to_disconnect), len(to_connect), target.hash.hex(), target.height,
            )  # fmt: skip
        disconnected: list[Block] = []
        connected: list[Block] = []

        justified_before = self._justified_epoch(None)

        def write(txn: lmdb.Transaction) -> None:
            disconnected.clear()
            connected.clear()
            for entry in to_disconnect:
                disconnected.append(disconnect_block(self.store, txn, entry))
            for entry in to_connect:
                block = load_block(self.store, txn, entry.hash)
                try:
                    connect_block(self.store, self.params, txn, entry, block)
                except ConsensusError as exc:
                    raise _BranchInvalid(entry.hash, exc) from None
                connected.append(block)
            if to_disconnect and self._justified_epoch(txn) < justified_before:
                raise LessJustified  # aborts the transaction: nothing changed
            self.store.put(txn, "meta", b"tip", target.hash)  # the tip record last

        self.store.write(write)
        # Committed: now the in-memory view follows.
        fork_height = to_connect[0].height - 1 if to_connect else target.height
        del self.main_chain[fork_height + 1 :]
        self.main_chain.extend(e.hash for e in to_connect)
        return disconnected, connected


class _BranchInvalid(Exception):
    def __init__(self, block_hash: bytes, error: ConsensusError):
        super().__init__(error)
        self.block_hash = block_hash
        self.error = error
