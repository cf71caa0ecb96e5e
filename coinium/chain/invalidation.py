"""Invalid blocks, as a mixin of `ChainState`: marking a block and its descendants invalid
(a block that broke a rule, or one invalidated by hand), and clearing the marks again
(`invalidate_block` / `reconsider_block`, the RPCs of the same names).
"""

from __future__ import annotations

import logging

import lmdb

from coinium.chain.outcome import AcceptResult, AcceptStatus, ChainChanges
from coinium.store.records import BlockStatus, IndexEntry

log = logging.getLogger("coinium.chain")


class Invalidation:
    """Mixed into `ChainState` (``self`` is one): writes the status of its index entries."""

    def _descendants(self, block_hash: bytes) -> list[IndexEntry]:
        """Every known block built on ``block_hash`` (one pass over the index, then a walk)."""
        children: dict[bytes, list[IndexEntry]] = {}
        for entry in self.index.values():
            if entry.height > 0:
                children.setdefault(entry.prev_hash, []).append(entry)
        found: list[IndexEntry] = []
        frontier = [block_hash]
        while frontier:
            for child in children.get(frontier.pop(), ()):
                found.append(child)
                frontier.append(child.hash)
        return found

    def _set_status(self, entries: list[IndexEntry], discard_data: bool = False) -> None:
        # Decided before writing: the store may run the write function more than once.
        drop = [e for e in entries if discard_data and e.status & BlockStatus.HAVE_DATA]
        for entry in drop:
            entry.status &= ~BlockStatus.HAVE_DATA

        def write(txn: lmdb.Transaction) -> None:
            for entry in drop:
                self.store.delete(txn, "blocks", entry.hash)
            for entry in entries:
                self.store.put(txn, "headers", entry.hash, entry.encode())

        self.store.write(write)

    def _mark_invalid(self, block_hash: bytes, discard_data: bool = False) -> None:
        """Mark a block and its descendants invalid. A block that broke a rule never becomes
        valid, so its data is dropped (``discard_data``); one invalidated by hand keeps it, so
        that reconsiderblock can bring it back."""
        entry = self.index[block_hash]
        entry.status |= BlockStatus.FAILED
        descendants = self._descendants(block_hash)
        for child in descendants:
            child.status |= BlockStatus.FAILED_CHILD
        self._set_status([entry, *descendants], discard_data)
        log.warning("block %s at height %d marked invalid", block_hash.hex(), entry.height)
        self._rebuild_candidates()
        # The valid ancestors of an invalidated branch may now be the best chain.
        self._candidates |= {
            h for h, e in self.index.items()
            if e.status & BlockStatus.HAVE_DATA and not e.status.invalid
        }  # fmt: skip

    def invalidate_block(self, block_hash: bytes) -> AcceptResult:
        """Mark a block invalid by hand (RPC invalidateblock) and move off it if needed."""
        if block_hash not in self.index:
            raise KeyError(block_hash)
        if self.index[block_hash].height == 0:
            raise ValueError("the genesis block cannot be invalidated")
        if self.is_final(block_hash):
            height, final = self.finalized_block()
            raise ValueError(f"block is final (at or below the finalized checkpoint "
                             f"{final.hex()} at height {height}) and cannot be invalidated")
        self._mark_invalid(block_hash)
        changes = ChainChanges()
        self._activate_best_chain(changes)
        return AcceptResult(AcceptStatus.NEW_TIP if changes.disconnected else
                            AcceptStatus.SIDE_BRANCH, block_hash, None,
                            tuple(changes.connected), tuple(changes.disconnected))  # fmt: skip

    def reconsider_block(self, block_hash: bytes) -> AcceptResult:
        """Clear the invalid marks of a block, its ancestors and descendants
        (RPC reconsiderblock)."""
        if block_hash not in self.index:
            raise KeyError(block_hash)
        touched = []
        cursor: IndexEntry | None = self.index[block_hash]
        while cursor is not None:
            if cursor.status.invalid:
                touched.append(cursor)
            cursor = self.index.get(cursor.prev_hash) if cursor.height > 0 else None
        touched += [e for e in self._descendants(block_hash) if e.status.invalid]
        for entry in touched:
            entry.status &= ~(BlockStatus.FAILED | BlockStatus.FAILED_CHILD)
        self._set_status(touched)
        self._candidates |= {e.hash for e in touched if e.status & BlockStatus.HAVE_DATA}
        changes = ChainChanges()
        errors = self._activate_best_chain(changes)
        error = next(iter(errors.values()), None)
        return AcceptResult(AcceptStatus.NEW_TIP if changes.connected else
                            AcceptStatus.SIDE_BRANCH, block_hash, error,
                            tuple(changes.connected), tuple(changes.disconnected))  # fmt: skip
