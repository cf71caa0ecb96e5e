"""Admission: every rule a new transaction meets, checked before anything changes (`_check`
makes a `Plan`), then applied (`_admit`, `_hold`), one at a time or as a batch.

Policy (defaults and options in `coinium.mempool.policy`; fee rates in units per 1000 bytes):

- **Fee floor.** A transaction pays at least the min relay fee rate ("min relay fee not met") and
  the rolling minimum ("mempool min fee not met", below).
- **Future nonces.** A nonce ahead of the sender's next one is held in `FuturePool` (at most
  ``max_future_per_sender`` ahead, and as many per sender; ``max_future_txs`` in all) with its
  signature checked, unannounced, and promoted into the chain ('A') when the gap fills or the
  funds it needs confirm. ``add`` returns None for a held transaction. Farther ahead: "nonce-gap".
- **Replace-by-fee.** A transaction with a pending sender and nonce replaces the pending one if
  it pays a strictly higher fee rate and at least the fees of everything it removes plus the
  incremental relay fee for its own size ("insufficient fee" otherwise, as bitcoind's rules 3, 4
  and 6; every pending transaction is replaceable, as with full RBF). The sender's later nonces
  stay while the balance still covers them; the first that no longer fits leaves with every later
  one, and the replacement pays for those too. At most 100 removed. Every removed entry gets 'R'
  "replaced", then the replacement gets 'A'.

Every removal but block inclusion is announced with its reason and logged (``coinium.mempool``).

Signatures: with a `SignatureCache`, every transaction whose signature the pool checked goes
into it, and one already there is not checked again; the chain's ``signature_filter`` reads the
same cache, so a block of pooled transactions connects without checking them twice.
Many signatures are checked in kernel batches (every core with the compiled kernels) on the
pool's worker thread for the admissions that follow: `add_batch` (a P2P TXS message) and
`queue_signatures` with `signature_ready` (an RPC batch, each call awaiting its verdict) on the
event loop, which never blocks on them; `preverify` and `add_many` outside it (loading
``mempool.dat``). A queued verdict vouches only for the very object it checked, and is read at
the place the one-by-one check would run, so every verdict is the one `add` alone would give.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from coinium import kernels
from coinium.consensus.block_rules import check_transaction_sanity
from coinium.consensus.errors import ConsensusError, TransactionError
from coinium.core.account import Account
from coinium.core.codec import DecodeError
from coinium.core.kinds import KINDS
from coinium.core.kinds.transfer import MAX_NONCE
from coinium.core.transaction import Transaction, signing_hash, signing_hashes
from coinium.crypto.address import account_id
from coinium.mempool.entries import (
    DEFAULT_BLOCK_MAX_BYTES,
    ENTRY_OVERHEAD,
    REASON_REPLACED,
    RPC_DESERIALIZATION_ERROR,
    RPC_VERIFY_ERROR,
    RPC_VERIFY_REJECTED,
    MempoolEntry,
    MempoolReject,
    SenderChain,
    nonce_of,
    unix_now,
)
from coinium.mempool.future import FutureTx, pays_more
from coinium.mempool.policy import MAX_REPLACED, fee_for, meets_rate

log = logging.getLogger("coinium.mempool")

# Verdicts kept between queueing the checks and the admissions using them (each holds its
# transaction: a verdict vouches only for the object it checked).
_MAX_QUEUED = 20_000
SIGNATURE_CHUNK = 128  # signatures per kernel call: big enough to batch, small to overlap


@dataclass(slots=True)
class QueuedCheck:
    """A signature check queued on the worker: the chunk's verdicts and this one's index."""

    tx: Transaction
    verdicts: Future[list[bool]] | asyncio.Future[list[bool]]
    index: int
    decoded: bool  # the caller decoded ``tx`` from its own bytes (no second decode needed)


class PendingBefore(Sequence):
    """The sender's pending transactions below a nonce, as `check_state` reads them, without
    building a list per admission (most kinds never look: nothing is computed until one does)."""

    __slots__ = ("_entries", "_nonce", "_count")

    def __init__(self, entries: list[MempoolEntry], nonce: int):
        self._entries = entries
        self._nonce = nonce
        self._count = -1

    def __len__(self) -> int:
        if self._count < 0:
            self._count = bisect.bisect_left(self._entries, self._nonce, key=nonce_of)
        return self._count

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        count = len(self)
        if isinstance(i, slice):
            return [e.tx for e in self._entries[:count][i]]
        if not -count <= i < count:
            raise IndexError(i)
        return self._entries[i % count].tx


@dataclass(slots=True)
class Plan:
    """What an admission will do, decided by `_check` before anything changes."""

    tx: Transaction
    sender: bytes
    account: Account  # the sender's confirmed state it was checked against
    held: bool = False  # goes to the future pool
    replaces: Sequence[MempoolEntry] = ()  # pending entries it evicts
    replaces_held: FutureTx | None = None  # a held transaction with the same nonce


class Admission:
    """The admission half of `Mempool` (a mixin: the state is the pool's)."""

    def add(
        self, tx: Transaction, now: int | None = None, *, height: int | None = None
    ) -> MempoolEntry | None:
        """Admit ``tx`` and return its entry, or hold it for a nonce gap and return None.

        Raises MempoolReject and leaves the pool unchanged, except "mempool full": that one
        may have evicted packages scoring below the transaction first (as bitcoind's trim would
        have, before evicting the newcomer itself)."""
        now = unix_now(now)
        plan = self._check(tx, now)
        if plan.held:
            self._hold(plan, now)
            return None
        return self._admit(plan, now, height)

    def add_many(
        self, txs: Sequence[Transaction], times: Sequence[int] | None = None
    ) -> list[MempoolEntry | None | MempoolReject]:
        """`add` each transaction in order (``times[i]`` its entry time), their signatures
        checked first in kernel batches on a worker thread (waited for: a caller outside the
        event loop, such as loading ``mempool.dat``); each slot holds the entry, None (held) or
        the refusal. `add_batch` is the event loop's way."""
        self.preverify(txs)
        results: list[MempoolEntry | None | MempoolReject] = []
        for i, tx in enumerate(txs):
            try:
                results.append(self.add(tx, times[i] if times is not None else None))
            except MempoolReject as reject:
                results.append(reject)
        self.forget_signatures(txs)
        return results

    async def add_batch(
        self, txs: Sequence[Transaction], now: int | None = None, *, decoded: bool = False
    ) -> list[MempoolEntry | None | MempoolReject]:
        """Admit a batch (an RPC batch, a P2P message) with exactly the verdicts `add` would
        give one by one, in order: the signatures not yet vouched for are checked together in
        kernel batches on the worker thread while this coroutine awaits them (the event loop
        stays free), each transaction's rules are applied once its chunk is in. ``decoded``:
        the caller built every transaction with `Transaction.decode` from its bytes, so the
        second decode (against objects forged around the constructor) is skipped."""
        self.queue_signatures(txs, decoded=decoded)
        results: list[MempoolEntry | None | MempoolReject] = []
        self.batches_admitting += 1
        try:
            for tx in txs:
                if self.signature_pending(tx):  # no coroutine per transaction once it is in
                    await self.signature_ready(tx)
                try:
                    results.append(self.add(tx, now))
                except MempoolReject as reject:
                    results.append(reject)
        finally:
            self.batches_admitting -= 1
            self.forget_signatures(txs)
        return results

    def test_accept(self, tx: Transaction, now: int | None = None) -> None:
        """Raise MempoolReject where ``add`` would, or "nonce-gap" where it would only hold the
        transaction; change nothing (testmempoolaccept, which does not check the size limit)."""
        plan = self._check(tx, unix_now(now))
        if plan.held:
            raise MempoolReject("nonce-gap", RPC_VERIFY_ERROR,
                                f"nonce {tx.nonce} is ahead of the sender's next one")  # fmt: skip

    def preverify(self, txs: Iterable[Transaction]) -> int:
        """Start checking the signatures of transactions about to be submitted from outside
        the event loop: in kernel batches of `SIGNATURE_CHUNK` on the worker thread (the
        kernels release the GIL; the compiled ones spread each batch over every core), so the
        admissions that follow overlap the checks of later chunks and take their verdicts
        (waiting for them) instead of checking one signature at a time. Returns how many were
        queued."""
        return self._queue(txs, False, self._worker().submit)

    def queue_signatures(self, txs: Iterable[Transaction], *, decoded: bool = False) -> int:
        """`preverify` for the event loop: the verdicts come as asyncio futures, which an
        admission reads only once `signature_ready` has awaited them (it never blocks the
        loop). Returns how many were queued."""
        loop = asyncio.get_running_loop()
        worker = self._worker()
        return self._queue(txs, decoded, lambda fn, *args: loop.run_in_executor(worker, fn,
                                                                                 *args))

    def signature_pending(self, tx: Transaction) -> bool:
        """Whether a queued check of ``tx``'s signature is still running (`signature_ready`
        waits for it; a caller with many transactions asks first and skips the coroutine)."""
        if not self._verdicts or not isinstance(tx, Transaction):
            return False
        queued = self._verdicts.get(tx.txid)
        return queued is not None and not queued.verdicts.done()

    async def signature_ready(self, tx: Transaction) -> None:
        """Wait until the queued check of ``tx``'s signature, if any, is done."""
        queued = self._verdicts.get(tx.txid) if isinstance(tx, Transaction) else None
        if queued is not None and not queued.verdicts.done():
            await asyncio.wait((queued.verdicts,))  # type: ignore[arg-type]

    def close(self) -> None:
        """Stop the signature worker (pending checks finish first)."""
        if self._verifier is not None:
            self._verifier.shutdown(wait=True)
            self._verifier = None
        self._verdicts.clear()

    def _worker(self) -> ThreadPoolExecutor:
        if self._verifier is None:
            self._verifier = ThreadPoolExecutor(1, thread_name_prefix="mempool-sigs")
        return self._verifier

    def _queue(self, txs: Iterable[Transaction], decoded: bool,
               submit: Callable[..., Any]) -> int:  # fmt: skip
        cache, chain_id = self.signature_cache, self.params.chain_id
        todo: dict[bytes, Transaction] = {}
        for tx in txs:
            if not isinstance(tx, Transaction) or not KINDS[tx.kind].signed:
                continue
            txid = tx.txid
            if txid in todo or txid in self._verdicts or txid in self._entries \
                    or (cache is not None and cache.contains(tx)):  # fmt: skip
                continue
            todo[txid] = tx
        if not todo:
            return 0
        while len(self._verdicts) + len(todo) > _MAX_QUEUED and self._verdicts:
            del self._verdicts[next(iter(self._verdicts))]  # the oldest, never used
        queued = list(todo.values())
        for start in range(0, len(queued), SIGNATURE_CHUNK):
            chunk = queued[start:start + SIGNATURE_CHUNK]
            verdicts = submit(kernels.verify_batch, [tx.sender for tx in chunk],
                              signing_hashes(chunk, chain_id),
                              [tx.signature for tx in chunk])  # fmt: skip
            for i, tx in enumerate(chunk):
                self._verdicts[tx.txid] = QueuedCheck(tx, verdicts, i, decoded)
        return len(queued)

    @property
    def signatures_queued(self) -> int:
        """Verdicts checked or under way that no admission has read yet."""
        return len(self._verdicts)

    def forget_signatures(self, txs: Iterable[Transaction]) -> None:
        """Drop the queued verdicts of these transactions: those refused before their signature
        was read would otherwise wait in the queue until newer checks push them out."""
        if self._verdicts:
            for tx in txs:
                if isinstance(tx, Transaction):
                    self._verdicts.pop(tx.txid, None)

    def _check(self, tx: object, now: int) -> Plan:
        """Every admission rule, cheapest first and the signature last: what ``tx`` would do."""
        if not isinstance(tx, Transaction):
            raise MempoolReject("TX decode failed", RPC_DESERIALIZATION_ERROR,
                                f"not a transaction: {type(tx).__name__}")  # fmt: skip
        queued = self._verdicts.get(tx.txid) if self._verdicts else None
        if queued is None or queued.tx is not tx or not queued.decoded:
            self._check_encoding(tx)
        try:
            check_transaction_sanity(tx)
        except TransactionError as exc:
            raise MempoolReject(exc.reason, RPC_VERIFY_REJECTED, exc.detail) from None
        if not KINDS[tx.kind].signed:  # the pool orders by sender nonce and fee: signed kinds only
            raise MempoolReject("bad-txns-kind", RPC_VERIFY_REJECTED,
                                f"{KINDS[tx.kind].name} transactions are not relayed")  # fmt: skip
        if len(tx.raw) > DEFAULT_BLOCK_MAX_BYTES:
            raise MempoolReject("tx-size", RPC_VERIFY_REJECTED,
                                f"{tx.size} bytes do not fit in a block")  # fmt: skip
        if tx.txid in self._entries:
            raise MempoolReject("txn-already-in-mempool")
        if tx.txid in self.future:
            raise MempoolReject("txn-already-known", RPC_VERIFY_REJECTED,
                                "held until the sender's nonce gap fills")  # fmt: skip

        sender = account_id(tx.sender)
        account = self._account(sender)
        if tx.nonce < account.nonce:
            raise MempoolReject(
                "bad-txns-nonce",
                RPC_VERIFY_REJECTED,
                f"nonce {tx.nonce} already used (account nonce {account.nonce})",
            )
        if tx.nonce >= MAX_NONCE:
            raise MempoolReject("bad-txns-nonce", RPC_VERIFY_REJECTED, "account nonce exhausted")
        chain = self._chains.get(sender)
        expected = account.nonce + (len(chain.entries) if chain else 0)
        plan = Plan(tx, sender, account)
        if tx.nonce == expected:
            total = (chain.spend if chain else 0) + tx.amount + tx.fee
            if total > account.balance:
                raise MempoolReject(
                    "bad-txns-in-belowout",
                    RPC_VERIFY_REJECTED,
                    f"balance {account.balance} below pending spend {total}",
                )
        elif tx.nonce > expected:
            self._check_future(plan, expected, account)
        self._check_fee(tx, now)
        if chain is not None and tx.nonce < expected:
            self._check_replacement(plan, chain, account)
        if self.check_state is not None:
            pending = PendingBefore(chain.entries, tx.nonce) if chain else ()
            try:
                self.check_state(tx, pending)
            except ConsensusError as exc:  # NFT kinds raise TransactionError, staking BlockError
                raise MempoolReject(exc.reason, RPC_VERIFY_REJECTED, exc.detail) from None
        self._check_signature(tx)
        return plan

    def _check_encoding(self, tx: Transaction) -> None:
        try:
            # A Transaction is validated when built; re-decoding its bytes also catches one that
            # was forged around the constructor, so nothing below can trip on odd fields.
            canonical = Transaction.decode(tx.raw)
        except (DecodeError, ValueError, TypeError, AttributeError) as exc:
            raise MempoolReject("TX decode failed", RPC_DESERIALIZATION_ERROR, str(exc)) from None
        if canonical != tx or canonical.txid != tx.txid:
            raise MempoolReject("TX decode failed", RPC_DESERIALIZATION_ERROR,
                                "fields do not match the encoding")  # fmt: skip

    def _check_future(self, plan: Plan, expected: int, account: Account) -> None:
        tx, policy = plan.tx, self.policy
        ahead = policy.max_future_per_sender if policy.max_future_txs else 0
        if tx.nonce - expected > ahead:
            # bitcoind's nearest case is a transaction whose parent it has not seen: "not yet",
            # not "invalid".
            raise MempoolReject("nonce-gap", RPC_VERIFY_ERROR,
                                f"nonce {tx.nonce}, next expected {expected}; "
                                f"up to {ahead} ahead are held")  # fmt: skip
        if tx.amount + tx.fee > account.balance:
            raise MempoolReject("bad-txns-in-belowout", RPC_VERIFY_REJECTED,
                                f"balance {account.balance} below spend "
                                f"{tx.amount + tx.fee}")  # fmt: skip
        old = self.future.get(plan.sender, tx.nonce)
        if old is not None:
            self._check_fee_bump(tx, old.tx.txid, old.tx.fee, old.tx.size, old.tx.fee)
            plan.replaces_held = old
        elif self.future.count(plan.sender) >= policy.max_future_per_sender:
            raise MempoolReject("too-many-future-txs", RPC_VERIFY_REJECTED,
                                f"{policy.max_future_per_sender} held for this sender")
        elif len(self.future) >= policy.max_future_txs:
            worst = self.future.lowest()
            if worst is None or not pays_more(tx, worst.tx):
                raise MempoolReject("future pool full", RPC_VERIFY_REJECTED,
                                    f"{len(self.future)} held, none paying less")  # fmt: skip
        plan.held = True

    def _check_replacement(self, plan: Plan, chain: SenderChain, account: Account) -> None:
        """bitcoind's replacement rules for the pending entry with this nonce (see the module
        docstring); sets the entries the replacement removes."""
        tx = plan.tx
        i = chain.find(tx.nonce)
        if i is None:  # only between the block events of a chain change, never at admission
            raise MempoolReject("txn-mempool-conflict", RPC_VERIFY_REJECTED,
                                f"nonce {tx.nonce} is already pending")  # fmt: skip
        old = chain.entries[i]
        prefix = sum(e.spend for e in chain.entries[:i])
        budget = account.balance - prefix - (tx.amount + tx.fee)
        if budget < 0:
            raise MempoolReject("bad-txns-in-belowout", RPC_VERIFY_REJECTED,
                                f"balance {account.balance} below pending spend "
                                f"{account.balance - budget}")  # fmt: skip
        replaced = [old]
        for j in range(i + 1, len(chain.entries)):
            entry = chain.entries[j]
            if entry.spend > budget:  # this nonce and every later one can no longer be paid
                replaced.extend(chain.entries[j:])
                break
            budget -= entry.spend
        if len(replaced) > MAX_REPLACED:
            raise MempoolReject("too many potential replacements", RPC_VERIFY_REJECTED,
                                f"rejecting replacement {tx.txid.hex()}; too many potential "
                                f"replacements ({len(replaced)} > {MAX_REPLACED})")  # fmt: skip
        self._check_fee_bump(tx, old.txid, old.fee, old.size, sum(e.fee for e in replaced))
        plan.replaces = replaced

    def _check_fee_bump(self, tx: Transaction, old_txid: bytes, old_fee: int, old_size: int,
                        replaced_fees: int) -> None:  # fmt: skip
        if tx.fee * old_size <= old_fee * tx.size:  # rule 6: a strictly higher fee rate
            raise MempoolReject("insufficient fee", RPC_VERIFY_REJECTED,
                                f"rejecting replacement {tx.txid.hex()}; new feerate "
                                f"{tx.fee * 1000 // tx.size} <= old feerate "
                                f"{old_fee * 1000 // old_size} of {old_txid.hex()}")  # fmt: skip
        if tx.fee < replaced_fees:  # rule 3: pays for everything it removes
            raise MempoolReject("insufficient fee", RPC_VERIFY_REJECTED,
                                f"rejecting replacement {tx.txid.hex()}, less fees than "
                                f"conflicting txs; {tx.fee} < {replaced_fees}")  # fmt: skip
        relay = fee_for(self.policy.incremental_relay_fee_rate, tx.size)
        if tx.fee - replaced_fees < relay:  # rule 4: and its own relay
            raise MempoolReject("insufficient fee", RPC_VERIFY_REJECTED,
                                f"rejecting replacement {tx.txid.hex()}, not enough additional "
                                f"fees to relay; {tx.fee - replaced_fees} < {relay}")  # fmt: skip

    def _check_fee(self, tx: Transaction, now: int) -> None:
        floor = self.policy.min_relay_fee_rate
        if not meets_rate(tx.fee, tx.size, floor):
            raise MempoolReject("min relay fee not met", RPC_VERIFY_REJECTED,
                                f"{tx.fee} < {fee_for(floor, tx.size)}")  # fmt: skip
        rolling = self._rolling_rate(now)
        if rolling > floor and not meets_rate(tx.fee, tx.size, rolling):
            raise MempoolReject("mempool min fee not met", RPC_VERIFY_REJECTED,
                                f"{tx.fee} < {fee_for(rolling, tx.size)}")  # fmt: skip

    def _check_signature(self, tx: Transaction) -> None:
        cache = self.signature_cache
        queued = self._verdicts.pop(tx.txid, None) if self._verdicts else None
        if queued is not None and queued.tx is not tx:
            queued = None  # a verdict vouches only for the very object it checked
        if queued is None and cache is not None and cache.contains(tx):
            return
        ok: bool | None = None
        verdicts = queued.verdicts if queued is not None else None
        # A worker's future may be waited on; an asyncio one only read once done (never block
        # the loop: without its verdict the signature is checked alone, with the same result).
        if verdicts is not None and (isinstance(verdicts, Future) or verdicts.done()):
            try:
                ok = bool(verdicts.result()[queued.index])  # type: ignore[union-attr]
            except Exception:
                log.exception("batch signature check failed; checking %s alone", tx.txid.hex())
        if ok is None:
            ok = bool(kernels.verify_batch([tx.sender], [signing_hash(tx, self.params.chain_id)],
                                           [tx.signature])[0])  # fmt: skip
        if not ok:
            raise MempoolReject("bad-txns-signature", RPC_VERIFY_REJECTED,
                                "signature does not verify")  # fmt: skip
        if cache is not None:
            cache.add(tx)

    def _hold(self, plan: Plan, now: int) -> None:
        tx, old = plan.tx, plan.replaces_held
        if old is not None:
            self.future.remove(old)
            log.debug("held %s replaced by %s", old.txid.hex(), tx.txid.hex())
        elif len(self.future) >= self.policy.max_future_txs:
            worst = self.future.lowest()
            assert worst is not None  # _check_future made sure
            self.future.remove(worst)
            log.debug("future pool full: dropped held %s", worst.txid.hex())
        self.future.add(FutureTx(tx, plan.sender, now))
        log.debug("holding %s (nonce %d) until the sender's nonce gap fills", tx.txid.hex(),
                  tx.nonce)  # fmt: skip

    def _admit(self, plan: Plan, now: int, height: int | None) -> MempoolEntry:
        tx = plan.tx
        need = tx.size + ENTRY_OVERHEAD
        if plan.replaces:
            need -= sum(e.size + ENTRY_OVERHEAD for e in plan.replaces)
        if self.usage + need > self.max_bytes:
            self._make_room(need, plan.sender, tx, now)
        for old in plan.replaces:
            self._remove(old, REASON_REPLACED)
        if plan.replaces:
            log.debug("%s replaced %d transaction(s) of its sender", tx.txid.hex(),
                      len(plan.replaces))  # fmt: skip
        # No log line per admission: at thousands a second it would cost more than the checks
        # (bitcoind logs them only under -debug=mempool); the 'A' event announces it.
        entry = self._insert(tx, plan.sender, now, height)
        chain = self._chains[plan.sender]
        if chain.account is None:
            chain.account = plan.account
        if self.future.has_sender(plan.sender):
            self._promote(plan.sender, now)
        return entry

    def _promote(self, sender: bytes, now: int) -> None:
        """Move the sender's held transactions that now continue its chain into the pool."""
        account = self._account(sender)
        chain = self._chains.get(sender)
        expected = account.nonce + (len(chain.entries) if chain else 0)
        spend = chain.spend if chain else 0
        for item in self.future.below(sender, expected):
            self.future.remove(item)
            log.debug("dropping held %s: nonce %d is taken", item.txid.hex(), item.nonce)
        floor = self.min_fee_rate(now)
        while (item := self.future.get(sender, expected)) is not None:
            tx = item.tx
            if spend + tx.amount + tx.fee > account.balance or not meets_rate(tx.fee, tx.size,
                                                                               floor):
                break  # held until funds confirm or the floor decays (or it expires)
            need = tx.size + ENTRY_OVERHEAD
            if self.usage + need > self.max_bytes:
                try:
                    self._make_room(need, sender, tx, now)
                except MempoolReject:
                    break
            self.future.remove(item)
            self._insert(tx, sender, item.time, None)
            log.debug("promoted held %s (nonce %d)", tx.txid.hex(), tx.nonce)
            spend += tx.amount + tx.fee
            expected += 1
