"""The finality half of the chain's fork choice (Casper FFG over proof of work), as a mixin of
`ChainState`: the finalized and justified checkpoints read from the state after the tip, the
rule that no branch without the finalized checkpoint is chosen, the ranking by justified
checkpoint before work, and the evaluation of a lighter branch's justification from its votes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lmdb

from coinium.chain.connect import apply_block_state, disconnect_block, load_block
from coinium.consensus.errors import ConsensusError
from coinium.core.block import Block
from coinium.core.kinds.vote import NUMBER as VOTE_KIND
from coinium.core.staking.records import FINALITY_KEY, Finality
from coinium.core.state import NS_STAKING
from coinium.store.records import IndexEntry

if TYPE_CHECKING:
    pass


class LessJustified(Exception):
    """A reorg would lower the justified checkpoint (EIP-1011: justification before work)."""


class _RecordFound(Exception):
    def __init__(self, record: bytes | None):
        self.record = record


class FinalityChoice:
    """Mixed into `ChainState` (``self`` is one): reads its store, index and main chain."""

    def finality(self) -> Finality | None:
        """The Casper FFG record after the tip (None until stake is first bonded: genesis is
        then the only justified and finalized checkpoint)."""
        raw = self.get_record(NS_STAKING, FINALITY_KEY)
        return None if raw is None else Finality.decode(raw)

    def finalized_block(self) -> tuple[int, bytes]:
        """(height, hash) of the last finalized checkpoint of the main chain."""
        f = self.finality()
        if f is None:
            return 0, self.main_chain[0]
        return f.finalized.epoch * self.params.staking.checkpoint_interval, f.finalized.hash

    def is_final(self, block_hash: bytes) -> bool:
        """A main-chain block at or below the finalized checkpoint: no reorg can remove it."""
        entry = self.index.get(block_hash)
        if entry is None or not self.is_on_main_chain(block_hash):
            return False
        return entry.height <= self.finalized_block()[0]


    def record_after(self, block_hash: bytes, namespace: int, key: bytes) -> bytes | None:
        """One state record after a stored block: read directly when the block is the tip,
        otherwise from its branch applied in a write transaction that is thrown away."""
        if block_hash == self.tip.hash:
            return self.get_record(namespace, key)
        to_disconnect, to_connect = self._path_to(self.index[block_hash])

        def trial(txn: lmdb.Transaction) -> None:
            for entry in to_disconnect:
                disconnect_block(self.store, txn, entry)
            for entry in to_connect:
                block = load_block(self.store, txn, entry.hash)
                apply_block_state(self.store, self.params, txn, block)
            raw = self.store.state_view(txn).get(namespace, key)
            raise _RecordFound(None if raw is None else bytes(raw))  # aborts the transaction

        try:
            self.store.write(trial)
        except _RecordFound as found:
            return found.record
        raise AssertionError("unreachable")


    def _keeps_finalized(self, entry: IndexEntry, finalized: tuple[int, bytes]) -> bool:
        """Whether ``entry``'s chain holds the finalized checkpoint (no reorg goes below it,
        whatever the work on the other branch)."""
        height, block_hash = finalized
        cursor = entry
        while cursor.height > height:
            if self.is_on_main_chain(cursor.hash):
                return True  # above the checkpoint on the main chain, which holds it
            cursor = self.index[cursor.prev_hash]
        return cursor.hash == block_hash

    def _note_branch_justification(self, block: Block, entry: IndexEntry) -> None:
        """A block on a branch with less work: when it carries votes, learn the justified
        checkpoint after it (its branch applied in a thrown-away transaction); without votes
        it inherits its parent's. A branch that justified a later checkpoint than the current
        chain becomes a candidate."""
        if self.finality() is None:
            return
        value = self._branch_justified.get(entry.prev_hash)
        if any(tx.kind == VOTE_KIND for tx in block.transactions[1:]):
            try:
                raw = self.record_after(entry.hash, NS_STAKING, FINALITY_KEY)
            except (ConsensusError, RuntimeError):
                return  # an invalid branch: the reorg attempt, if any, marks it
            value = 0 if raw is None else Finality.decode(raw).justified.epoch
        if value is None:
            return
        self._branch_justified[entry.hash] = value
        if value > self._justified_epoch(None):
            self._candidates.add(entry.hash)

    def _rank(self, entry: IndexEntry, justified: int) -> tuple[int, int, int]:
        """Fork choice order: justified epoch (the tip's, a less-work branch's when evaluated,
        else taken as the tip's: the reorg itself refuses to lower it), work, first seen."""
        if entry.hash != self.tip.hash:
            justified = self._branch_justified.get(entry.hash, justified)
        return justified, entry.chainwork, -entry.sequence


    def _justified_epoch(self, txn: lmdb.Transaction | None) -> int:
        """The last justified checkpoint's epoch in the state (after the tip when no ``txn``)."""
        if txn is None:
            f = self.finality()
        else:
            raw = self.store.state_view(txn).get(NS_STAKING, FINALITY_KEY)
            f = None if raw is None else Finality.decode(bytes(raw))
        return 0 if f is None else f.justified.epoch

