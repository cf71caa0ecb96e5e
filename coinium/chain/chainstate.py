"""The chain: block intake, fork choice by most cumulative work, connect, disconnect and reorgs.

`ChainState.accept_block` takes a block from anywhere (miner, peer, RPC) and returns what happened
as an `AcceptResult`: a new tip (with the blocks connected and disconnected), a side branch, an
orphan, a duplicate or an invalid block with its `ConsensusError`. Whoever cares (mempool,
notifications, relay) reads the result; the chain calls nobody.

Switching to a better chain is one LMDB write transaction: disconnect back to the fork point,
connect the new branch, move the tip record last. If a block of the new branch breaks a rule, the
transaction is aborted (so the old tip is intact, on disk and in memory), the block is marked
invalid with its descendants, and the best remaining chain is chosen again.

Blocks are stored (with their index entry) before they are connected; at open, the node connects
whatever stored chain has the most work, so a crash between the two steps loses nothing.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from operator import itemgetter
from pathlib import Path

import lmdb
from blake3 import blake3 as _blake3

from coinium.chain.finality_choice import FinalityChoice, LessJustified
from coinium.chain.orphans import OrphanPool
from coinium.chain.pipeline import DEFAULT_LOOKAHEAD, SignatureChecker
from coinium.consensus.block_rules import SignatureFilter, check_block
from coinium.consensus.errors import BlockError, ConsensusError
from coinium.consensus.header_rules import (
    ParentContext,
    check_header_in_context,
    check_proof_of_work,
    check_state_root,
    median_time_past,
    required_bits,
)
from coinium.consensus.pow import decode_compact, target_to_work
from coinium.consensus.state_transition import apply_block, decode_undo, encode_undo
from coinium.core.account import Account
from coinium.core.block import Block
from coinium.core.params import NetworkParams
from coinium.core.state import NS_ACCOUNT, RecordKey, StateDelta
from coinium.crypto.address import account_id
from coinium.crypto.state_proof import StateProof, record_path
from coinium.store.chainstore import BatchLostError, ChainStore, record_key, split_record_key
from coinium.store.records import (
    BlockStatus,
    IndexEntry,
    address_index_key,
    block_index_records,
    decode_address_index_key,
    decode_tx_location,
    height_key,
)

log = logging.getLogger("coinium.chain")
_by_record = itemgetter(0)

# accept_blocks commits once this many transactions' blocks are written (see ChainStore.batch):
# more saves more disk writes, but the pages a commit holds dirty take memory (~100 MiB here).
BATCH_TRANSACTIONS = 32_000


class AcceptStatus(Enum):
    NEW_TIP = "new-tip"  # the main chain changed: see connected / disconnected
    SIDE_BRANCH = "side-branch"  # valid as far as checked, stored, not (yet) the best chain
    ORPHAN = "orphan"  # parent unknown: held in the orphan pool
    DUPLICATE = "duplicate"  # already stored (or already held as an orphan)
    INVALID = "invalid"  # broke a rule: see error


@dataclass(frozen=True, slots=True)
class AcceptResult:
    status: AcceptStatus
    block_hash: bytes
    error: ConsensusError | None = None
    connected: tuple[Block, ...] = ()  # in connection order, oldest first
    disconnected: tuple[Block, ...] = ()  # in disconnection order, old tip first

    @property
    def reason(self) -> str | None:
        return self.error.reason if self.error else None


@dataclass(slots=True)
class _Changes:
    """Blocks connected and disconnected while handling one call, across reorgs."""

    connected: list[Block] = field(default_factory=list)
    disconnected: list[Block] = field(default_factory=list)

    def record(self, disconnected: list[Block], connected: list[Block]) -> None:
        for block in disconnected:
            # A block connected earlier in this call and now undone cancels out.
            if block in self.connected:
                self.connected.remove(block)
            else:
                self.disconnected.append(block)
        self.connected.extend(connected)


class ChainState(FinalityChoice):
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
        self._activate_best_chain(_Changes())

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
            self._connect(txn, entry, genesis)
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

    # --- queries ------------------------------------------------------------------------------
    @property
    def tip(self) -> IndexEntry:
        return self.index[self.main_chain[-1]]

    @property
    def height(self) -> int:
        return len(self.main_chain) - 1

    def hash_at_height(self, height: int) -> bytes | None:
        return self.main_chain[height] if 0 <= height < len(self.main_chain) else None

    def is_on_main_chain(self, block_hash: bytes) -> bool:
        entry = self.index.get(block_hash)
        return entry is not None and self.hash_at_height(entry.height) == block_hash

    def get_block(self, block_hash: bytes) -> Block | None:
        with self.store.read() as txn:
            raw = self.store.get(txn, "blocks", block_hash)
        return None if raw is None else Block.decode(bytes(raw))

    def get_account(self, account: bytes) -> Account:
        with self.store.read() as txn:
            raw = self.store.state_view(txn).get(NS_ACCOUNT, account)
        return Account(0, 0) if raw is None else Account.decode(raw)

    def state_root(self) -> bytes:
        """The root of the state after the tip: what the tip's child must commit to."""
        with self.store.read() as txn:
            return self.store.state_tree.root(txn)

    def state_root_after(self, block_hash: bytes, then: Iterable[Block] = ()) -> bytes:
        """The root of the state after a stored block (and then after each block of ``then``,
        a chain of blocks on it that need not be stored): what the next child must commit to.

        Recorded when a block was connected; otherwise the branch (and ``then``) is applied in
        a write transaction that is then thrown away. Raises ConsensusError if one of those
        blocks breaks a rule, KeyError for an unknown block."""
        then = list(then)
        if not then:
            with self.store.read() as txn:
                raw = self.store.get(txn, "stateroots", block_hash)
            if raw is not None:
                return bytes(raw)
        to_disconnect, to_connect = self._path_to(self.index[block_hash])

        def trial(txn: lmdb.Transaction) -> None:
            for entry in to_disconnect:
                self._disconnect(txn, entry)
            for entry in to_connect:
                self._apply_state(txn, self._load_block(txn, entry.hash))
            for block in then:
                self._apply_state(txn, block)
            raise _RootFound(self.store.state_tree.root(txn))  # aborts the transaction

        try:
            self.store.write(trial)
        except _RootFound as found:
            return found.root
        raise AssertionError("unreachable")

    def get_record(self, namespace: int, key: bytes) -> bytes | None:
        """One state record after the tip (any namespace), or None."""
        with self.store.read() as txn:
            raw = self.store.state_view(txn).get(namespace, key)
        return None if raw is None else bytes(raw)

    def prove_record(self, namespace: int, key: bytes
                     ) -> tuple[StateProof, bytes | None, bytes, int]:  # fmt: skip
        """(proof, record or None, state root, height) of one record in the state after the
        tip, all read in one transaction so they agree."""
        with self.store.read() as txn:
            tip = self.store.get(txn, "meta", b"tip")
            height = self.index[bytes(tip)].height if tip is not None else -1
            record = self.store.state_view(txn).get(namespace, key)
            proof = self.store.state_tree.prove(txn, record_path(namespace, key))
            root = self.store.state_tree.root(txn)
        return proof, None if record is None else bytes(record), root, height

    def iter_records(self) -> Iterable[tuple[RecordKey, bytes]]:
        """Every state record of every namespace, in key order."""
        with self.store.read() as txn:
            for key, value in self.store.cursor(txn, "state"):
                yield split_record_key(bytes(key)), bytes(value)

    def records_with_prefix(self, namespace: int, prefix: bytes = b""
                            ) -> list[tuple[bytes, bytes]]:  # fmt: skip
        """(key, value) of the records of one namespace whose key starts with ``prefix``."""
        start = record_key(namespace, prefix)
        found: list[tuple[bytes, bytes]] = []
        with self.store.read() as txn:
            cursor = self.store.cursor(txn, "state")
            more = cursor.set_range(start)
            while more:
                key = bytes(cursor.key())
                if not key.startswith(start):
                    break
                found.append((key[1:], bytes(cursor.value())))
                more = cursor.next()
        return found

    def get_tx_location(self, txid: bytes) -> tuple[bytes, int] | None:
        """(block hash, position) of a transaction on the main chain."""
        with self.store.read() as txn:
            raw = self.store.get(txn, "txindex", txid)
        return None if raw is None else decode_tx_location(bytes(raw))

    def account_history(self, account: bytes, limit: int) -> list[tuple[int, int, bytes]]:
        """(height, position, txid) of the account's main-chain transactions, newest first."""
        found: list[tuple[int, int, bytes]] = []
        with self.store.read() as txn:
            cursor = self.store.cursor(txn, "addrindex")
            # Step onto the account's last key: just before the first key past its range.
            more = cursor.prev() if cursor.set_range(account + b"\xff" * 8) else cursor.last()
            while more and len(found) < limit:
                owner, height, position = decode_address_index_key(bytes(cursor.key()))
                if owner != account:
                    break
                found.append((height, position, bytes(cursor.value())))
                more = cursor.prev()
        return found

    def parent_context(self, entry: IndexEntry) -> ParentContext:
        """What the rules need to know to check a child of ``entry``."""
        timestamps = []
        cursor: IndexEntry | None = entry
        while cursor is not None and len(timestamps) < self.params.median_time_span:
            timestamps.append(cursor.header.timestamp)
            cursor = self.index.get(cursor.prev_hash) if cursor.height > 0 else None
        return ParentContext(entry.height, entry.header.timestamp, timestamps)

    def median_time_past(self, entry: IndexEntry | None = None) -> int:
        return median_time_past(self.parent_context(entry or self.tip).recent_timestamps)

    def next_bits(self) -> int:
        """The bits a child of the current tip must carry."""
        tip = self.tip
        return required_bits(self.params, tip.height, tip.header.timestamp)

    def iter_accounts(self) -> Iterable[tuple[bytes, Account]]:
        for (namespace, key), value in self.iter_records():
            if namespace == NS_ACCOUNT:
                yield key, Account.decode(value)

    # --- intake -------------------------------------------------------------------------------
    def accept_block(self, block: Block, now: int | None = None) -> AcceptResult:
        """Check a block, store it if it is valid so far, and move to the best chain."""
        return self._accept(block, now, self._checker.filter_for(block, self.signature_filter))

    def check_signatures_ahead(self, block: Block) -> bool:
        """Start checking ``block``'s signatures in a worker thread, for an `accept_block` of it
        that will come soon; may be called from any thread. A sync calls it for the next block
        or two of its path each time it submits one (so the worker checks block N+1 while the
        chain thread applies block N), not for every block it has downloaded.

        It only saves time: accept_block takes the verdicts (waiting for them if need be) as a
        signature filter that skips the signatures found valid, so its result is the same as
        without (see `coinium.chain.pipeline`). Returns False when it did not start (the block
        is known already, or `pipeline.MAX_PENDING` checks wait to be taken: call again later)."""
        if self._is_known(block):
            return False
        return self._checker.submit(block, self.signature_filter)

    def accept_blocks(self, blocks: Iterable[Block], now: int | None = None, *,
                      lookahead: int = DEFAULT_LOOKAHEAD) -> list[AcceptResult]:  # fmt: skip
        """Accept a stream of blocks (a sync: usually each the child of the one before), checking
        the signatures of the next ``lookahead`` blocks in a worker thread while the current one
        is applied on the calling (chain) thread.

        The results are exactly those of ``[self.accept_block(b, now) for b in blocks]``, invalid
        marks and orphans included: the worker's verdicts only let `check_signatures` skip
        signatures already found valid (see `coinium.chain.pipeline`). ``blocks`` may be a lazy
        iterable (decoding as it goes); it is read at most ``lookahead`` blocks ahead of the block
        being applied. Call it on the chain thread, as accept_block.

        Each block is still stored and connected whole or not at all, but the blocks share LMDB
        commits (`ChainStore.batch`: one commit per ``BATCH_TRANSACTIONS`` transactions and one
        at the end), which saves most of a sync's disk time. Everything is committed when this
        returns. Until then, readers in other threads (the mempool's account lookups) see the
        chain as of the last commit, a few blocks behind. A process killed in the middle keeps
        the blocks up to the last commit; a storage error propagates, and the chain then holds
        what was committed (in memory as on disk).
        """
        stream = iter(blocks)
        window: deque[Block] = deque()

        def read_ahead(count: int) -> None:
            while len(window) < count:
                with _cyclic_gc_paused():  # the stream may decode: thousands of objects
                    block = next(stream, None)
                if block is None:
                    return
                self.check_signatures_ahead(block)
                window.append(block)

        results = []
        pending = 0  # transactions written since the last commit
        try:
            with self.store.batch():
                read_ahead(1)
                while window:
                    block = window.popleft()
                    read_ahead(lookahead)  # the next blocks' checks start before this one applies
                    results.append(self.accept_block(block, now))
                    pending += len(block.transactions)
                    if pending >= BATCH_TRANSACTIONS:
                        self.store.flush()
                        pending = 0
        except BatchLostError:
            self._reload()  # memory ran ahead of the lost writes: follow the store again
            raise
        finally:
            for block in window:  # an exception left these unaccepted
                self._checker.discard(block.hash)
        return results

    def _is_known(self, block: Block) -> bool:
        """A block _accept_one answers without checking it (stored, or known invalid)."""
        known = self.index.get(block.hash)
        return known is not None and bool(known.status.invalid
                                          or known.status & BlockStatus.HAVE_DATA)  # fmt: skip

    def _accept(self, block: Block, now: int | None, skip: SignatureFilter | None) -> AcceptResult:
        with _cyclic_gc_paused():
            return self._accept_paused(block, now, skip)

    def _accept_paused(self, block: Block, now: int | None,
                       skip: SignatureFilter | None) -> AcceptResult:  # fmt: skip
        now = int(self.clock()) if now is None else now
        changes = _Changes()
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

    def _accept_orphans_of(self, parent_hash: bytes, now: int, changes: _Changes) -> None:
        queue = [parent_hash]
        while queue:
            for child in self.orphans.take_children(queue.pop()):
                outcome = self._accept_one(child, now, changes, self.signature_filter)
                if outcome.status in (AcceptStatus.NEW_TIP, AcceptStatus.SIDE_BRANCH):
                    queue.append(child.hash)

    def _accept_one(self, block: Block, now: int, changes: _Changes,
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

    def _extend_tip(self, block: Block, entry: IndexEntry, changes: _Changes) -> AcceptResult:
        """The common case: a block on the tip is stored and connected in one write transaction,
        so an invalid one leaves nothing behind but its invalid mark."""

        def store_and_connect(txn: lmdb.Transaction) -> None:
            self.store.put(txn, "blocks", entry.hash, block.encode())
            self.store.put(txn, "headers", entry.hash, entry.encode())
            self._connect(txn, entry, block)
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

    # --- fork choice --------------------------------------------------------------------------
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

    def _activate_best_chain(self, changes: _Changes) -> dict[bytes, ConsensusError]:
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
                disconnected.append(self._disconnect(txn, entry))
            for entry in to_connect:
                block = self._load_block(txn, entry.hash)
                try:
                    self._connect(txn, entry, block)
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

    def _load_block(self, txn: lmdb.Transaction, block_hash: bytes) -> Block:
        raw = self.store.get(txn, "blocks", block_hash)
        if raw is None:
            raise RuntimeError(f"block {block_hash.hex()} is indexed but not stored")
        return Block.decode(bytes(raw))

    def _connect(self, txn: lmdb.Transaction, entry: IndexEntry, block: Block) -> None:
        """Apply ``block`` on the state in ``txn`` and write what it changes: records, state
        tree, undo record, height, tx index and address index (all in the caller's transaction,
        so they land with the block or not at all). Each database gets one sorted `put_many`.

        The header must commit to the root of the state it is applied to, which is the tree's
        root in ``txn`` before the block (the state its parent left): `bad-stateroot` if not."""
        store = self.store
        tree = store.state_tree
        delta = self._apply_state(txn, block)
        store.put(txn, "undo", entry.hash, encode_undo(delta.old))
        # What the block's children must commit to; a fixed fact of the block, kept when the
        # block is disconnected.
        store.put(txn, "stateroots", entry.hash, tree.root(txn))
        store.put(txn, "height", height_key(entry.height), entry.hash)
        # The accounts each transaction touches: its recipient and, for a signed one, its sender
        # (whose id apply_block hashed already).
        txs = block.transactions
        senders: list[bytes | None] = list(delta.senders)
        if len(senders) != len(txs) - 1:  # some kinds are unsigned: line the senders up
            signed = iter(delta.senders)
            senders = [next(signed) if tx.is_signed else None for tx in txs[1:]]
        txindex, addrindex = block_index_records(
            entry.hash, entry.height, block.txids(), [tx.recipient for tx in txs], senders,
        )  # fmt: skip
        store.put_many(txn, "txindex", txindex)
        store.put_many(txn, "addrindex", addrindex)

    def _apply_state(self, txn: lmdb.Transaction, block: Block) -> StateDelta:
        """Check the block's state root, apply it, write its changed records and update the
        tree: the state part of `_connect`."""
        tree = self.store.state_tree
        check_state_root(block.header, tree.root(txn))
        delta = apply_block(block, self.store.state_view(txn), self.params)
        old = delta.old
        changed = sorted([item for item in delta.new.items() if old.get(item[0]) != item[1]],
                         key=_by_record)  # records are unique: comparing keys alone is enough
        _write_records(self.store, txn, changed)
        tree.apply(txn, tree_changes(changed))
        return delta

    def _disconnect(self, txn: lmdb.Transaction, entry: IndexEntry) -> Block:
        """Undo a main-chain block: every record of every namespace back to its bytes before
        the block, and the state tree with them (the tree is canonical for a set of records)."""
        block = self._load_block(txn, entry.hash)
        raw_undo = self.store.get(txn, "undo", entry.hash)
        if raw_undo is None:
            raise RuntimeError(f"no undo record for connected block {entry.hash.hex()}")
        old = sorted(decode_undo(bytes(raw_undo)).items(), key=_by_record)
        _write_records(self.store, txn, old)
        self.store.state_tree.apply(txn, tree_changes(old))
        self.store.delete(txn, "undo", entry.hash)
        self.store.delete(txn, "height", height_key(entry.height))
        for position, tx in enumerate(block.transactions):
            self.store.delete(txn, "txindex", tx.txid)
            for account in _accounts_of(tx):
                self.store.delete(txn, "addrindex",
                                  address_index_key(account, entry.height, position))  # fmt: skip
        return block

    # --- invalid blocks -----------------------------------------------------------------------
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
        changes = _Changes()
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
        changes = _Changes()
        errors = self._activate_best_chain(changes)
        error = next(iter(errors.values()), None)
        return AcceptResult(AcceptStatus.NEW_TIP if changes.connected else
                            AcceptStatus.SIDE_BRANCH, block_hash, error,
                            tuple(changes.connected), tuple(changes.disconnected))  # fmt: skip


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a block is handled.

    Connecting a block allocates a few objects per transaction (accounts, records, tuples) and
    makes no reference cycles; reference counting frees them all the same. But the allocations
    trigger the cyclic collector again and again, and its passes over every live object cost
    ~20% of connecting a 10,000-transfer block whose signatures are cached. It runs again
    right after (it is paused for one block at a time, never across a whole sync)."""
    if not gc.isenabled():  # someone else paused it: leave it as it is
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _accounts_of(tx) -> set[bytes]:
    """The accounts a transaction touches, for the address index."""
    accounts = {tx.recipient}
    if tx.is_signed:
        accounts.add(account_id(tx.sender))
    return accounts


def tree_changes(records: Iterable[tuple[RecordKey, bytes | None]]) -> dict[bytes, bytes | None]:
    """The state tree's changes for new record values: path -> value hash (None: deleted).

    `record_path` and `value_hash` (crypto/state_proof.py) inlined: this runs for every record a
    block touches, and the calls cost more than the hashing of a few dozen bytes."""
    h = _blake3
    return {h(bytes((ns,)) + key).digest(): None if value is None else h(value).digest()
            for (ns, key), value in records}  # fmt: skip


def _write_records(store: ChainStore, txn: lmdb.Transaction,
                   records: list[tuple[RecordKey, bytes | None]]) -> None:  # fmt: skip
    """Write state records sorted by key: puts in one `put_many`, deletions one by one."""
    store.put_many(txn, "state", [(record_key(ns, key), value)
                                  for (ns, key), value in records if value is not None])
    for (ns, key), value in records:
        if value is None:
            store.delete(txn, "state", record_key(ns, key))


class _BranchInvalid(Exception):
    def __init__(self, block_hash: bytes, error: ConsensusError):
        super().__init__(error)
        self.block_hash = block_hash
        self.error = error




class _RootFound(Exception):
    def __init__(self, root: bytes):
        super().__init__(root.hex())
        self.root = root
