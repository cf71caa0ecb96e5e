"""The chain: block intake, with fork choice by most cumulative work, connect, disconnect and
reorgs behind it.

`ChainState.accept_block` takes a block from anywhere (miner, peer, RPC) and returns what happened
as an `AcceptResult`: a new tip (with the blocks connected and disconnected), a side branch, an
orphan, a duplicate or an invalid block with its `ConsensusError`. Whoever cares (mempool,
notifications, relay) reads the result; the chain calls nobody.

Blocks are stored (with their index entry) before they are connected; at open, the node connects
whatever stored chain has the most work, so a crash between the two steps loses nothing.

`ChainState` is assembled from one module per job, each mixed in over the same index, main chain
and store:

- `chain/queries.py`: reads (tip, blocks, records and proofs, indexes, state roots);
- `chain/pipeline.py`: `accept_blocks` and `check_signatures_ahead` (signatures checked ahead,
  commits shared across a sync's blocks);
- `chain/reorg.py`: candidates, the best chain and the atomic reorg to it;
- `chain/invalidation.py`: invalid marks, `invalidate_block` / `reconsider_block`;
- `chain/finality_choice.py`: the finality half of fork choice;
- `chain/connect.py` (functions): connecting and disconnecting one block in a transaction.

This module keeps opening and loading the chain and the intake of one block. `AcceptResult` and
`AcceptStatus` (`chain/outcome.py`) are part of its interface: callers import them from here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import lmdb

from coinium.chain.connect import connect_block
from coinium.chain.finality_choice import FinalityChoice
from coinium.chain.gc_pause import cyclic_gc_paused
from coinium.chain.invalidation import Invalidation
from coinium.chain.orphans import OrphanPool
from coinium.chain.outcome import AcceptResult, AcceptStatus, ChainChanges
from coinium.chain.pipeline import SignatureChecker, SyncPipeline
from coinium.chain.queries import ChainQueries
from coinium.chain.reorg import ForkChoice
from coinium.consensus.block_rules import SignatureFilter, check_block
from coinium.consensus.errors import BlockError, ConsensusError
from coinium.consensus.header_rules import check_header_in_context, check_proof_of_work
from coinium.consensus.pow import decode_compact, target_to_work
from coinium.core.block import Block
from coinium.core.params import NetworkParams
from coinium.store.chainstore import ChainStore
from coinium.store.records import BlockStatus, IndexEntry

__all__ = ["AcceptResult", "AcceptStatus", "ChainState"]

log = logging.getLogger("coinium.chain")


class ChainState(ChainQueries, SyncPipeline, ForkChoice, Invalidation, FinalityChoice):
    def __init__(
        self,
        datadir: str | Path,
        params: NetworkParams,
        *,
        sync: bool = True,
        clock: Callable[[], float] = time.time,
        max_orphans: int = 100,
    ):
        self.params = params
        self.clock = clock
        self.store = ChainStore(datadir, params.name, sync=sync)
        self.index: dict[bytes, IndexEntry] = {}
        self.main_chain: list[bytes] = []  # height -> hash
        self.orphans = OrphanPool(max_orphans)
        self.signature_filter: SignatureFilter | None = None
        self._checker = SignatureChecker(params.chain_id)  # signatures checked ahead
        self._candidates: set[bytes] = set()
        # Justified epoch after side-branch blocks with less work whose votes were evaluated:
        # such a branch wins over more work when it justified a later checkpoint (EIP-1011).
        self._branch_justified: dict[bytes, int] = {}
        self._next_sequence = 0
        try:
            self._load()
        except BaseException:
            self.store.close()
            raise

    def close(self) -> None:
        self._checker.close()
        self.store.close()

    def __enter__(self) -> ChainState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- loading ------------------------------------------------------------------------------
    def _load(self) -> None:
        with self.store.read() as txn:
            for _, value in self.store.cursor(txn, "headers"):
                entry = IndexEntry.decode(value)
                self.index[entry.hash] = entry
            self.main_chain = [bytes(v) for _, v in self.store.cursor(txn, "height")]
            tip = self.store.get(txn, "meta", b"tip")
        self._next_sequence = 1 + max((e.sequence for e in self.index.values()), default=-1)
        if tip is None:
            self._init_genesis()
        elif self.main_chain[-1] != tip:
            raise RuntimeError("stored tip and height index disagree")  # written atomically
        self._rebuild_candidates()
        # Blocks stored but not connected when the process stopped: connect them now.
        self._activate_best_chain(ChainChanges())

    def _init_genesis(self) -> None:
        genesis = self.params.genesis
        if genesis.hash != self.params.genesis_hash:
            raise RuntimeError("genesis block does not match its committed hash")
        entry = IndexEntry(
            genesis.header,
            target_to_work(decode_compact(genesis.header.bits)),
            BlockStatus.HAVE_DATA,
            self._take_sequence(),
        )

        def write(txn: lmdb.Transaction) -> None:
            self.store.put(txn, "headers", entry.hash, entry.encode())
            self.store.put(txn, "blocks", entry.hash, genesis.encode())
            connect_block(self.store, self.params, txn, entry, genesis)
            self.store.put(txn, "meta", b"tip", entry.hash)

        self.store.write(write)
        self.index[entry.hash] = entry
        self.main_chain = [entry.hash]

    def _reload(self) -> None:
        """Forget the in-memory view and load it from the store again (after lost writes)."""
        log.warning("reloading the chain from the store after a failed write")
        self.index = {}
        self.main_chain = []
        self._candidates = set()
        self._load()

    # --- intake -------------------------------------------------------------------------------
    def accept_block(self, block: Block, now: int | None = None) -> AcceptResult:
        """Check a block, store it if it is valid so far, and move to the best chain."""
        return self._accept(block, now, self._checker.filter_for(block, self.signature_filter))


    def _is_known(self, block: Block) -> bool:
        """A block _accept_one answers without checking it (stored, or known invalid)."""
        known = self.index.get(block.hash)
        return known is not None and bool(known.status.invalid
                                          or known.status & BlockStatus.HAVE_DATA)  # fmt: skip

    def _accept(self, block: Block, now: int | None, skip: SignatureFilter | None) -> AcceptResult:
        with cyclic_gc_paused():
            return self._accept_paused(block, now, skip)

    def _accept_paused(self, block: Block, now: int | None,
                       skip: SignatureFilter | None) -> AcceptResult:  # fmt: skip
        now = int(self.clock()) if now is None else now
        changes = ChainChanges()
        result = self._accept_one(block, now, changes, skip)
        if result.status in (AcceptStatus.NEW_TIP, AcceptStatus.SIDE_BRANCH):
            self._accept_orphans_of(block.hash, now, changes)
        if changes.connected or changes.disconnected:
            status = result.status
            if status == AcceptStatus.SIDE_BRANCH:
                status = AcceptStatus.NEW_TIP  # an orphan it unlocked made a new tip
            return AcceptResult(status, result.block_hash, result.error,
                                tuple(changes.connected), tuple(changes.disconnected))  # fmt: skip
        return result

    def _accept_orphans_of(self, parent_hash: bytes, now: int, changes: ChainChanges) -> None:
        queue = [parent_hash]
        while queue:
            for child in self.orphans.take_children(queue.pop()):
                outcome = self._accept_one(child, now, changes, self.signature_filter)
                if outcome.status in (AcceptStatus.NEW_TIP, AcceptStatus.SIDE_BRANCH):
                    queue.append(child.hash)

    def _accept_one(self, block: Block, now: int, changes: ChainChanges,
                    skip: SignatureFilter | None = None) -> AcceptResult:  # fmt: skip
        """``skip``: the signature filter for this block (its orphans use the chain's own)."""
        block_hash = block.hash
        known = self.index.get(block_hash)
        if known is not None and known.status.invalid:
            return self._invalid(block_hash, BlockError("duplicate-invalid", "known invalid"))
        stored = known is not None and known.status & BlockStatus.HAVE_DATA
        if stored or block_hash in self.orphans:
            return AcceptResult(AcceptStatus.DUPLICATE, block_hash)

        parent = self.index.get(block.header.prev_hash)
        try:
            check_proof_of_work(block.header, self.params)
            check_block(block, self.params.chain_id, skip)
        except ConsensusError as exc:
            # Remember the hash as invalid only when the header commits to exactly this body
            # (not mutated) and the header itself has its work; otherwise a corrupted copy of a
            # good block could blacklist it.
            header_ok = exc.reason not in ("high-hash", "bad-diffbits")
            if exc.permanent and not exc.mutated and header_ok and parent is not None:
                self._store_failed(block, parent, BlockStatus.FAILED)
            return self._invalid(block_hash, exc)

        if parent is None:
            self.orphans.add(block)
            return AcceptResult(AcceptStatus.ORPHAN, block_hash)
        if parent.status.invalid:
            self._store_failed(block, parent, BlockStatus.FAILED_CHILD)
            return self._invalid(block_hash, BlockError("bad-prevblk", "parent is invalid"))
        try:
            check_header_in_context(block.header, self.parent_context(parent), self.params, now)
        except ConsensusError as exc:
            if exc.permanent:
                self._store_failed(block, parent, BlockStatus.FAILED)
            return self._invalid(block_hash, exc)

        entry = self._new_entry(block, parent, BlockStatus.HAVE_DATA)
        if parent.hash == self.tip.hash:
            return self._extend_tip(block, entry, changes)

        def store(txn: lmdb.Transaction) -> None:
            self.store.put(txn, "blocks", block_hash, block.encode())
            self.store.put(txn, "headers", block_hash, entry.encode())

        self.store.write(store)
        self.index[block_hash] = entry
        if entry.chainwork >= self.tip.chainwork:
            self._candidates.add(block_hash)
        else:
            self._note_branch_justification(block, entry)

        tip_before = self.tip.hash
        errors = self._activate_best_chain(changes)
        if self.index[block_hash].status.invalid:
            error = errors.get(block_hash)
            if error is None:
                failed = next(iter(errors.values()), None)
                error = BlockError("bad-prevblk", f"an ancestor is invalid ({failed})")
            return self._invalid(block_hash, error)
        if self.tip.hash != tip_before:
            return AcceptResult(AcceptStatus.NEW_TIP, block_hash)
        return AcceptResult(AcceptStatus.SIDE_BRANCH, block_hash)

    def _extend_tip(self, block: Block, entry: IndexEntry, changes: ChainChanges) -> AcceptResult:
        """The common case: a block on the tip is stored and connected in one write transaction,
        so an invalid one leaves nothing behind but its invalid mark."""

        def store_and_connect(txn: lmdb.Transaction) -> None:
            self.store.put(txn, "blocks", entry.hash, block.encode())
            self.store.put(txn, "headers", entry.hash, entry.encode())
            connect_block(self.store, self.params, txn, entry, block)
            self.store.put(txn, "meta", b"tip", entry.hash)  # the tip record last

        try:
            self.store.write(store_and_connect)
        except ConsensusError as exc:
            entry.status = BlockStatus.FAILED
            self.store.write(lambda txn: self.store.put(txn, "headers", entry.hash, entry.encode()))
            self.index[entry.hash] = entry
            return self._invalid(entry.hash, exc)
        self.index[entry.hash] = entry
        self.main_chain.append(entry.hash)
        self._candidates = {entry.hash}
        changes.record([], [block])
        return AcceptResult(AcceptStatus.NEW_TIP, entry.hash)

    @staticmethod
    def _invalid(block_hash: bytes, error: ConsensusError) -> AcceptResult:
        return AcceptResult(AcceptStatus.INVALID, block_hash, error)

    def _take_sequence(self) -> int:
        self._next_sequence += 1
        return self._next_sequence - 1

    def _new_entry(self, block: Block, parent: IndexEntry, status: BlockStatus) -> IndexEntry:
        try:
            work = target_to_work(decode_compact(block.header.bits))
        except ValueError:
            work = 0
        return IndexEntry(block.header, parent.chainwork + work, status, self._take_sequence())

    def _store_failed(self, block: Block, parent: IndexEntry, status: BlockStatus) -> None:
        entry = self._new_entry(block, parent, status)
        self.store.write(lambda txn: self.store.put(txn, "headers", entry.hash, entry.encode()))
        self.index[entry.hash] = entry
