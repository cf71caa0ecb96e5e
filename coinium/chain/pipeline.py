"""Checking the signatures of the next blocks while the chain thread applies the current one.

During a sync, blocks arrive in chain order faster than they can be connected, and a block's time
splits into signature checks (compiled, GIL-free, every core) and everything else (decode, rules,
state, LMDB: Python on the chain thread). `SignatureChecker` runs the first part in one worker
thread for blocks handed to it ahead of time, so that while block N is applied the signatures
of block N+1 are being checked. `ChainState.accept_blocks` feeds it the next block of a stream;
`ChainState.check_signatures_ahead` lets a caller (the peer-to-peer sync, as blocks arrive)
feed it any block it will submit soon.

Its verdicts reach the rules only as a *signature filter*: a transaction whose signature the
worker found valid (or that the signature cache vouches for) is skipped by `check_signatures`;
every other transaction, a bad signature included, is checked again on the chain thread by the
ordinary path, which produces the ordinary error. So a verdict can only save work, never change
an outcome: a block accepted with or without its checks done ahead gives exactly the same result
(and invalid marks). A worker that fails (a kernel error) just leaves its block's signatures to
the chain thread, where such a failure raises as it always would.

A verdict is kept by txid: the txid commits to every byte of the transaction, the signature
included, and the node checks signatures for one chain id only.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from coinium import kernels
from coinium.chain.gc_pause import cyclic_gc_paused
from coinium.consensus.block_rules import SignatureFilter
from coinium.core.block import Block
from coinium.core.kinds import KINDS
from coinium.core.transaction import signing_hashes
from coinium.store.chainstore import BatchLostError

if TYPE_CHECKING:
    from coinium.chain.outcome import AcceptResult

log = logging.getLogger("coinium.chain")

# accept_blocks hands the worker this many blocks beyond the one being applied. One keeps both
# cores busy (the worker's kernel uses every core, the chain thread takes its share back); more
# only holds more decoded blocks in memory.
DEFAULT_LOOKAHEAD = 1
# Blocks whose checks may wait to be taken by an accept (more are refused until some are).
MAX_PENDING = 64
# accept_blocks commits once this many transactions' blocks are written (see ChainStore.batch):
# more saves more disk writes (consecutive blocks dirty many of the same pages), but the pages a
# commit holds dirty take memory (~100 MiB at 32,000 late in the million-transfer sync). 64,000:
# one commit per sync run of 32 blocks of 2,000 (p2p/sync.py), half the commits' time of 32,000.
BATCH_TRANSACTIONS = 64_000


def known_good_signatures(
    block: Block, chain_id: int, cached: SignatureFilter | None = None
) -> frozenset[bytes]:
    """The txids of the block's transfers whose signature is valid: those ``cached`` vouches for,
    and those one `kernels.verify_batch` accepts. Runs in the worker thread."""
    good: list[bytes] = []
    to_check = []
    for tx in block.transactions:
        if not KINDS[tx.kind].signed:
            continue
        if cached is not None and cached(tx):
            good.append(tx.txid)
        else:
            to_check.append(tx)
    if to_check:
        verdicts = kernels.verify_batch(
            [tx.sender for tx in to_check],
            signing_hashes(to_check, chain_id),
            [tx.signature for tx in to_check],
        )
        good += [tx.txid for tx, ok in zip(to_check, verdicts, strict=True) if ok]
    return frozenset(good)


class SignatureChecker:
    """One worker thread checking the signatures of blocks submitted ahead of their accept.

    `submit` may be called from any thread; `filter_for` (on the chain thread) takes the
    block's checks back as a signature filter, waiting for them if they are still running."""

    def __init__(self, chain_id: int, max_pending: int = MAX_PENDING):
        self._chain_id = chain_id
        self._max_pending = max_pending
        self._pending: dict[bytes, Future[frozenset[bytes]]] = {}
        self._lock = threading.Lock()
        self._worker: ThreadPoolExecutor | None = None  # started at the first submit

    def submit(self, block: Block, cached: SignatureFilter | None = None) -> bool:
        """Start checking ``block``'s signatures (those ``cached`` does not vouch for); False if
        ``max_pending`` checks wait to be taken already (the oldest are the blocks the chain
        needs next, so a newer one waits for its turn: submit it again later)."""
        with self._lock:
            if block.hash in self._pending:
                return True
            if len(self._pending) >= self._max_pending:
                return False
            if self._worker is None:
                self._worker = ThreadPoolExecutor(1, thread_name_prefix="sigcheck")
            future = self._worker.submit(known_good_signatures, block, self._chain_id, cached)
            self._pending[block.hash] = future
            return True

    def filter_for(self, block: Block, cached: SignatureFilter | None) -> SignatureFilter | None:
        """The signature filter to accept ``block`` with: its checks done ahead, if it was
        submitted, together with ``cached``; just ``cached`` otherwise."""
        with self._lock:
            future = self._pending.pop(block.hash, None)
        if future is None:
            return cached
        try:
            good = future.result()
        except Exception:  # noqa: BLE001 - the chain thread checks again and raises if it must
            log.warning("signature check ahead failed; checking on the chain thread",
                        exc_info=True)  # fmt: skip
            return cached
        if cached is None:
            return lambda tx: tx.txid in good
        return lambda tx: tx.txid in good or cached(tx)

    def discard(self, block_hash: bytes) -> None:
        with self._lock:
            future = self._pending.pop(block_hash, None)
        if future is not None:
            future.cancel()

    def close(self) -> None:
        """Stop the worker: checks not started are dropped, a running one is waited for."""
        with self._lock:
            worker, self._worker = self._worker, None
            self._pending.clear()
        if worker is not None:
            worker.shutdown(wait=True, cancel_futures=True)


class SyncPipeline:
    """Mixed into `ChainState` (``self`` is one): feeds its `SignatureChecker` and accepts
    streams of blocks with shared commits."""

    def check_signatures_ahead(self, block: Block) -> bool:
        """Start checking ``block``'s signatures in a worker thread, for an `accept_block` of it
        that will come soon; may be called from any thread. A sync calls it for the next block
        or two of its path each time it submits one (so the worker checks block N+1 while the
        chain thread applies block N), not for every block it has downloaded.

        It only saves time: accept_block takes the verdicts (waiting for them if need be) as a
        signature filter that skips the signatures found valid, so its result is the same as
        without (see the module docstring). Returns False when it did not start (the block
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
        signatures already found valid (see the module docstring). ``blocks`` may be a lazy
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
                with cyclic_gc_paused():  # the stream may decode: thousands of objects
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
