"""The mempool: admission policy, per-sender nonce chains, block selection by fee rate, reorgs.

Accounts instead of UTXOs change the shape of bitcoind's mempool but not its job:

- A sender's pending transactions form a *chain* with consecutive nonces that starts at the
  account's confirmed nonce. A new transaction must carry the next nonce after that chain, and the
  confirmed balance must cover ``amount + fee`` of the whole chain including it. Only the sender's
  own transactions ever debit its account, so any prefix of any chain is applicable in any
  interleaving with other senders' chains: that is what makes block selection safe. (Incoming
  pending transfers are never counted as spendable; the sender waits for them to confirm.)
- The chain is the in-mempool ancestry bitcoind tracks with parents and children: an entry's
  ancestors are the earlier nonces of its sender, its descendants the later ones.
- Block selection takes the highest fee rate among the senders' next transactions (a heap of chain
  heads), so a sender's transactions always go in nonce order.
- The mempool sequence is bitcoind's ``mempool_sequence``: it starts at 1, every add and every
  removal (block inclusion too) takes the current value and then increments it, and events carry
  the value they took. ``sequence`` is therefore the next value, which is what
  ``getrawmempool false true`` reports: a client that snapshots at ``n`` applies events ``>= n``.

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
- Every removal but block inclusion is announced with its reason and logged (``coinium.mempool``).

Signatures: with a `SignatureCache`, every transaction whose signature the pool checked goes
into it, and one already there is not checked again; the chain's ``signature_filter`` reads the
same cache, so a block of pooled transactions connects without checking them twice.
`preverify` checks many signatures in one kernel batch (every core with the compiled kernels) for
the admissions that follow (RPC batches, loading ``mempool.dat``).

Reorgs follow bitcoind's validation interface: `block_disconnected` remembers the block,
`block_connected` removes what the block includes (no 'R' event) and what conflicts with it ('R'
"conflict": same sender and nonce, another txid), and `tip_updated` rebuilds the chain of every
account the blocks touched against the new confirmed state: transactions of disconnected blocks
come back (in block order, 'A'), pending ones that lost their nonce or their funds leave ('R'
"reorg") with every later nonce of their sender; held future transactions of those accounts are
dropped if their nonce was taken and promoted if they now fit.

Persistence (``mempool.dat``, encrypted) is `coinium.mempool.persist`.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from coinium import kernels
from coinium.chain.events import MempoolListener
from coinium.chain.sigcache import SignatureCache
from coinium.consensus.block_rules import check_transaction_sanity
from coinium.consensus.errors import ConsensusError, TransactionError
from coinium.contracts.limits import MAX_BLOCK_GAS
from coinium.contracts.transactions import block_gas
from coinium.core.account import Account
from coinium.core.block import MAX_BLOCK_SIZE, MAX_BLOCK_TXS, Block
from coinium.core.codec import DecodeError
from coinium.core.kinds import KINDS
from coinium.core.kinds.transfer import MAX_NONCE
from coinium.core.params import NetworkParams
from coinium.core.transaction import Transaction, signing_hash
from coinium.core.units import COIN
from coinium.crypto.address import account_id
from coinium.mempool.future import FuturePool, FutureTx, pays_more
from coinium.mempool.policy import (
    MAX_REPLACED,
    ROLLING_FEE_HALFLIFE_S,
    ROLLING_FEE_MIN_INTERVAL_S,
    MempoolPolicy,
    fee_for,
    halve,
    meets_rate,
)

log = logging.getLogger("coinium.mempool")

# JSON-RPC codes bitcoind's sendrawtransaction / testmempoolaccept use for these failures.
RPC_DESERIALIZATION_ERROR = -22
RPC_VERIFY_ERROR = -25  # "could not check yet" (bitcoind: missing inputs, i.e. a missing parent)
RPC_VERIFY_REJECTED = -26  # policy or consensus reject; the message is the reason

# Room left in a block for the header, the count and the coinbase (as bitcoind's reserve).
DEFAULT_BLOCK_MAX_BYTES = MAX_BLOCK_SIZE - 10_000
DEFAULT_BLOCK_MAX_TXS = MAX_BLOCK_TXS - 1  # one slot is the coinbase's
DEFAULT_MAX_MEMPOOL_BYTES = MempoolPolicy().max_bytes  # bitcoind's -maxmempool=300 (MB)
# Python objects around each transaction's bytes (the Transaction's fields, the entry, the index
# slots): tracemalloc measures about 1,000 bytes for a memo-less 144-byte transfer in the pool.
# `usage` = bytes + this per entry: an estimate, as bitcoind's DynamicMemoryUsage is.
ENTRY_OVERHEAD = 860

# Removal reasons: bitcoind's MemPoolRemovalReason names ('R' events and the log).
REASON_CONFLICT = "conflict"
REASON_REORG = "reorg"
REASON_REPLACED = "replaced"
REASON_SIZELIMIT = "sizelimit"
REASON_EXPIRY = "expiry"
REASON_INAPPLICABLE = "inapplicable"  # a kind's rule failed on the tip (remove_inapplicable)

_SCORE_SCALE = 10**9  # heap key of a package score: its fee rate in units per 10^9 bytes
_MAX_PREVERIFIED = 100_000  # verdicts kept between `preverify` and the admissions using them
PREVERIFY_CHUNK = 128  # signatures per kernel call in `preverify`


class MempoolReject(Exception):
    """A transaction the mempool will not take: bitcoind's reject reason and its RPC code."""

    def __init__(self, reason: str, code: int = RPC_VERIFY_REJECTED, detail: str = ""):
        super().__init__(f"{reason} ({detail})" if detail else reason)
        self.reason = reason
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class MempoolEntry:
    tx: Transaction
    txid: bytes
    sender: bytes  # the sender's account id
    fee: int
    size: int  # len(tx.raw)
    fee_rate: int  # base units per 1000 bytes, rounded down (ordering compares fee * size exactly)
    time: int  # unix seconds when it entered
    height: int  # chain height when it entered
    sequence: int  # the mempool sequence of its 'A' event

    @property
    def nonce(self) -> int:
        return self.tx.nonce

    @property
    def spend(self) -> int:
        """What it takes from the sender's balance."""
        return self.tx.amount + self.tx.fee

    @property
    def vsize(self) -> int:
        return self.size  # no witness: virtual size is the size

    @property
    def weight(self) -> int:
        return 4 * self.size  # bitcoind's weight of a witness-free tx, so vsize = weight / 4


@dataclass(slots=True)
class _Chain:
    """One sender's pending transactions, sorted by nonce (consecutive between chain events)."""

    entries: list[MempoolEntry] = field(default_factory=list)
    spend: int = 0
    version: int = 0  # changes with every insert and remove (the eviction heap's staleness check)
    # The sender's confirmed state as of the last block event the pool has seen, read once per
    # chain rather than once per admission (an LMDB read is a large share of a cheap one);
    # None again whenever a connected or disconnected block touches the account.
    account: Account | None = None

    def find(self, nonce: int) -> int | None:
        i = bisect.bisect_left(self.entries, nonce, key=_nonce_of)
        return i if i < len(self.entries) and self.entries[i].nonce == nonce else None

    def insert(self, entry: MempoolEntry) -> None:
        bisect.insort(self.entries, entry, key=_nonce_of)
        self.spend += entry.spend
        self.version += 1

    def remove(self, entry: MempoolEntry) -> None:
        self.entries.remove(entry)
        self.spend -= entry.spend
        self.version += 1


def _nonce_of(entry: MempoolEntry) -> int:
    return entry.tx.nonce


class _Head:
    """A sender's next unselected transaction, ordered for a min-heap: best fee rate first."""

    __slots__ = ("chain", "index")

    def __init__(self, chain: _Chain, index: int):
        self.chain = chain
        self.index = index

    @property
    def entry(self) -> MempoolEntry:
        return self.chain.entries[self.index]

    def __lt__(self, other: _Head) -> bool:
        a, b = self.entry, other.entry
        left, right = a.fee * b.size, b.fee * a.size  # a.fee/a.size vs b.fee/b.size, exactly
        if left != right:
            return left > right
        return a.txid < b.txid  # deterministic tie-break


@dataclass(frozen=True, slots=True)
class _Package:
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


@dataclass(slots=True)
class _Plan:
    """What an admission will do, decided by `_check` before anything changes."""

    tx: Transaction
    sender: bytes
    account: Account  # the sender's confirmed state it was checked against
    held: bool = False  # goes to the future pool
    replaces: list[MempoolEntry] = field(default_factory=list)  # pending entries it evicts
    replaces_held: FutureTx | None = None  # a held transaction with the same nonce


def coins(units: int) -> float:
    """Base units as a JSON number of coins, as bitcoind shows amounts (display only)."""
    return units / COIN


def _now(now: int | None) -> int:
    return int(time.time()) if now is None else int(now)


class Mempool:
    def __init__(
        self,
        params: NetworkParams,
        get_account: Callable[[bytes], Account],
        *,
        policy: MempoolPolicy | None = None,
        signature_cache: SignatureCache | None = None,
    ):
        self.params = params
        self.get_account = get_account  # confirmed state at the tip; reads LMDB
        self.policy = policy if policy is not None else MempoolPolicy()
        self.signature_cache = signature_cache
        # A kind's own stateful rules (NFTs, staking, votes), checked on the tip after the
        # sender's pending transactions before it (`coinium.chain.admission`); raises a
        # ConsensusError. None: nonces and balances only.
        self.check_state: Callable[[Transaction, list[Transaction]], None] | None = None
        self.listeners: list[MempoolListener] = []
        self.sequence = 1  # the next mempool sequence (bitcoind starts at 1)
        self._entries: dict[bytes, MempoolEntry] = {}  # by txid, in entry order
        self._chains: dict[bytes, _Chain] = {}  # by sender account id
        self._bytes = 0
        self._fees = 0
        self.future = FuturePool(self.policy.max_future_per_sender, self.policy.max_future_txs)
        self.tip_height = 0  # an entry's default height; block events keep it, or set it at start
        # Between the block events of one chain change and its tip_updated:
        self._disconnected: list[Block] = []  # disconnection order, old tip first
        self._confirmed: set[bytes] = set()  # txids of the connected blocks
        self._touched: dict[bytes, None] = {}  # accounts whose confirmed state changed (ordered)
        # Size-limit eviction: a lazy min-heap of each chain's worst package, rebuilt for the
        # chains changed since (`_dirty`), entries checked against the chain's version.
        self._trim_heap: list[tuple[int, int, bytes, int, _Package]] = []
        self._trim_counter = 0
        self._dirty: set[bytes] = set()
        # bitcoind's rollingMinimumFeeRate, in thousandths of a unit per 1000 bytes.
        self._rolling_milli = 0
        self._rolling_updated = 0
        self._block_since_bump = False
        # public key + signing hash + signature -> (its chunk's verdicts, index), from
        # `preverify`; keyed by exactly what was checked, so a verdict never vouches for other
        # bytes.
        self._preverified: dict[bytes, tuple[Future[list[bool]], int]] = {}
        self._verifier: ThreadPoolExecutor | None = None

    # --- queries ------------------------------------------------------------------------------
    def __contains__(self, txid: object) -> bool:
        return isinstance(txid, bytes) and txid in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def max_bytes(self) -> int:
        return self.policy.max_bytes

    def get(self, txid: bytes) -> MempoolEntry | None:
        return self._entries.get(txid) if isinstance(txid, bytes) else None

    def txids(self) -> list[bytes]:
        return list(self._entries)

    def entries(self) -> list[MempoolEntry]:
        return list(self._entries.values())

    def pending_nonce(self, account: bytes) -> int:
        """The nonce the account's next transaction should carry (held future ones aside)."""
        chain = self._chains.get(account)
        return self._account(account).nonce + (len(chain.entries) if chain else 0)

    def pending_transactions(self, account: bytes) -> list[MempoolEntry]:
        """The account's pending transactions in nonce order."""
        chain = self._chains.get(account)
        return list(chain.entries) if chain else []

    @property
    def total_bytes(self) -> int:
        return self._bytes

    @property
    def usage(self) -> int:
        return self._bytes + ENTRY_OVERHEAD * len(self._entries)

    @property
    def total_fee(self) -> int:
        return self._fees

    def min_fee_rate(self, now: int | None = None) -> int:
        """The fee rate a new transaction must pay now (getmempoolinfo's mempoolminfee)."""
        return max(self.policy.min_relay_fee_rate, self._rolling_rate(_now(now)))

    def info(self, now: int | None = None) -> dict[str, Any]:
        """bitcoind's getmempoolinfo."""
        return {
            "loaded": True,
            "size": len(self._entries),
            "bytes": self._bytes,
            "usage": self.usage,
            "total_fee": coins(self._fees),
            "maxmempool": self.max_bytes,
            "mempoolminfee": coins(self.min_fee_rate(now)),
            "minrelaytxfee": coins(self.policy.min_relay_fee_rate),
            "incrementalrelayfee": coins(self.policy.incremental_relay_fee_rate),
            "unbroadcastcount": 0,
            "fullrbf": True,  # any pending transaction can be replaced, no signal needed
        }

    def entry_info(self, txid: bytes) -> dict[str, Any]:
        """bitcoind's getmempoolentry; KeyError if the transaction is not in the pool."""
        entry = self.get(txid)
        if entry is None:
            raise KeyError(txid.hex() if isinstance(txid, bytes) else repr(txid))
        chain = self._chains[entry.sender]
        i = chain.find(entry.nonce)
        assert i is not None and chain.entries[i] is entry
        ancestors, descendants = chain.entries[: i + 1], chain.entries[i:]
        return {
            "vsize": entry.vsize,
            "weight": entry.weight,
            "time": entry.time,
            "height": entry.height,
            "descendantcount": len(descendants),
            "descendantsize": sum(e.size for e in descendants),
            "ancestorcount": len(ancestors),
            "ancestorsize": sum(e.size for e in ancestors),
            "wtxid": entry.txid.hex(),  # no witness: the wtxid is the txid
            "fees": {
                "base": coins(entry.fee),
                "modified": coins(entry.fee),  # no prioritisetransaction yet
                "ancestor": coins(sum(e.fee for e in ancestors)),
                "descendant": coins(sum(e.fee for e in descendants)),
            },
            # Direct parent and child only, as bitcoind: the previous and the next nonce.
            "depends": [chain.entries[i - 1].txid.hex()] if i > 0 else [],
            "spentby": [chain.entries[i + 1].txid.hex()] if i + 1 < len(chain.entries) else [],
            # bitcoind reports BIP125 *signalling* here; there is none (replacement needs none).
            "bip125-replaceable": False,
            "unbroadcast": False,
        }

    # --- admission ----------------------------------------------------------------------------
    def add(
        self, tx: Transaction, now: int | None = None, *, height: int | None = None
    ) -> MempoolEntry | None:
        """Admit ``tx`` and return its entry, or hold it for a nonce gap and return None.

        Raises MempoolReject and leaves the pool unchanged, except "mempool full": that one
        may have evicted packages scoring below the transaction first (as bitcoind's trim would
        have, before evicting the newcomer itself)."""
        now = _now(now)
        plan = self._check(tx, now)
        if plan.held:
            self._hold(plan, now)
            return None
        return self._admit(plan, now, height)

    def add_many(
        self, txs: Sequence[Transaction], times: Sequence[int] | None = None
    ) -> list[MempoolEntry | None | MempoolReject]:
        """`add` each transaction in order (``times[i]`` its entry time), their signatures
        checked first in one kernel batch; each slot holds the entry, None (held) or the
        refusal."""
        self.preverify(txs)
        results: list[MempoolEntry | None | MempoolReject] = []
        for i, tx in enumerate(txs):
            try:
                results.append(self.add(tx, times[i] if times is not None else None))
            except MempoolReject as reject:
                results.append(reject)
        return results

    def test_accept(self, tx: Transaction, now: int | None = None) -> None:
        """Raise MempoolReject where ``add`` would, or "nonce-gap" where it would only hold the
        transaction; change nothing (testmempoolaccept, which does not check the size limit)."""
        plan = self._check(tx, _now(now))
        if plan.held:
            raise MempoolReject("nonce-gap", RPC_VERIFY_ERROR,
                                f"nonce {tx.nonce} is ahead of the sender's next one")  # fmt: skip

    def preverify(self, txs: Iterable[Transaction]) -> int:
        """Start checking the signatures of transactions about to be submitted: in kernel
        batches of `PREVERIFY_CHUNK` on a worker thread (the kernels release the GIL; the
        compiled ones spread each batch over every core), so the admissions that follow, in
        order on this thread, overlap the checks of later chunks and take their verdicts
        instead of checking one signature at a time. Returns how many were queued."""
        cache = self.signature_cache
        todo: dict[bytes, tuple[bytes, bytes, bytes]] = {}
        for tx in txs:
            if not isinstance(tx, Transaction) or not KINDS[tx.kind].signed:
                continue
            if tx.txid in self._entries or (cache is not None and cache.contains(tx)):
                continue
            triple = (tx.sender, signing_hash(tx, self.params.chain_id), tx.signature)
            key = b"".join(triple)
            if key not in self._preverified:
                todo[key] = triple
        if not todo:
            return 0
        while len(self._preverified) + len(todo) > _MAX_PREVERIFIED and self._preverified:
            del self._preverified[next(iter(self._preverified))]  # the oldest, never used
        if self._verifier is None:
            self._verifier = ThreadPoolExecutor(1, thread_name_prefix="mempool-sigs")
        keys, triples = list(todo), list(todo.values())
        for start in range(0, len(keys), PREVERIFY_CHUNK):
            chunk = triples[start:start + PREVERIFY_CHUNK]
            verdicts = self._verifier.submit(kernels.verify_batch, [t[0] for t in chunk],
                                             [t[1] for t in chunk], [t[2] for t in chunk])
            for i, key in enumerate(keys[start:start + PREVERIFY_CHUNK]):
                self._preverified[key] = (verdicts, i)
        return len(keys)

    def close(self) -> None:
        """Stop the signature worker (pending checks finish first)."""
        if self._verifier is not None:
            self._verifier.shutdown(wait=True)
            self._verifier = None
        self._preverified.clear()

    def _check(self, tx: object, now: int) -> _Plan:
        """Every admission rule, cheapest first and the signature last: what ``tx`` would do."""
        if not isinstance(tx, Transaction):
            raise MempoolReject("TX decode failed", RPC_DESERIALIZATION_ERROR,
                                f"not a transaction: {type(tx).__name__}")  # fmt: skip
        try:
            # A Transaction is validated when built; re-decoding its bytes also catches one that
            # was forged around the constructor, so nothing below can trip on odd fields.
            canonical = Transaction.decode(tx.raw)
        except (DecodeError, ValueError, TypeError, AttributeError) as exc:
            raise MempoolReject("TX decode failed", RPC_DESERIALIZATION_ERROR, str(exc)) from None
        if canonical != tx or canonical.txid != tx.txid:
            raise MempoolReject("TX decode failed", RPC_DESERIALIZATION_ERROR,
                                "fields do not match the encoding")  # fmt: skip
        try:
            check_transaction_sanity(tx)
        except TransactionError as exc:
            raise MempoolReject(exc.reason, RPC_VERIFY_REJECTED, exc.detail) from None
        if not KINDS[tx.kind].signed:  # the pool orders by sender nonce and fee: signed kinds only
            raise MempoolReject("bad-txns-kind", RPC_VERIFY_REJECTED,
                                f"{KINDS[tx.kind].name} transactions are not relayed")  # fmt: skip
        if tx.size > DEFAULT_BLOCK_MAX_BYTES:
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
        plan = _Plan(tx, sender, account)
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
            pending = [e.tx for e in chain.entries if e.tx.nonce < tx.nonce] if chain else []
            try:
                self.check_state(tx, pending)
            except ConsensusError as exc:  # NFT kinds raise TransactionError, staking BlockError
                raise MempoolReject(exc.reason, RPC_VERIFY_REJECTED, exc.detail) from None
        self._check_signature(tx)
        return plan

    def _check_future(self, plan: _Plan, expected: int, account: Account) -> None:
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

    def _check_replacement(self, plan: _Plan, chain: _Chain, account: Account) -> None:
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
        triple = (tx.sender, signing_hash(tx, self.params.chain_id), tx.signature)
        ok: bool | None = None
        queued = self._preverified.pop(b"".join(triple), None) if self._preverified else None
        if queued is None and cache is not None and cache.contains(tx):
            return
        if queued is not None:
            verdicts, i = queued
            try:
                ok = bool(verdicts.result()[i])  # waits only if its chunk is still running
            except Exception:
                log.exception("batch signature check failed; checking %s alone", tx.txid.hex())
        if ok is None:
            ok = bool(kernels.verify_batch([triple[0]], [triple[1]], [triple[2]])[0])
        if not ok:
            raise MempoolReject("bad-txns-signature", RPC_VERIFY_REJECTED,
                                "signature does not verify")  # fmt: skip
        if cache is not None:
            cache.add(tx)

    def _hold(self, plan: _Plan, now: int) -> None:
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

    def _admit(self, plan: _Plan, now: int, height: int | None) -> MempoolEntry:
        tx = plan.tx
        need = tx.size + ENTRY_OVERHEAD - sum(e.size + ENTRY_OVERHEAD for e in plan.replaces)
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

    # --- size limit, rolling minimum fee, expiry ----------------------------------------------
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

    def _evict(self, package: _Package, now: int) -> int:
        chain = self._chains[package.sender]
        victims = chain.entries[package.start:]
        for entry in victims:
            self._remove(entry, REASON_SIZELIMIT)
        self._bump_rolling(package.fee, package.size, now)
        return len(victims)

    def _worst_package(self) -> _Package | None:
        heap = self._trim_heap
        if len(heap) > 2 * len(self._chains) + 64:  # mostly stale: start again
            heap.clear()
            self._dirty = set(self._chains)
        for sender in self._dirty:
            chain = self._chains.get(sender)
            if chain is not None and chain.entries:
                package = _worst_suffix(sender, chain)
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
        now = _now(now)
        cutoff = now - self.policy.expiry_seconds
        first: dict[bytes, int] = {}  # sender -> its lowest expired nonce
        for entry in self._entries.values():
            if entry.time < cutoff and entry.nonce < first.get(entry.sender, MAX_NONCE):
                first[entry.sender] = entry.nonce
        removed = 0
        for sender, nonce in first.items():
            chain = self._chains[sender]
            i = bisect.bisect_left(chain.entries, nonce, key=_nonce_of)
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
            i = bisect.bisect_left(chain.entries, entry.nonce, key=_nonce_of)
            for later in chain.entries[i:]:
                self._remove(later, REASON_INAPPLICABLE)
                removed += 1
        return removed

    # --- future nonces ------------------------------------------------------------------------
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

    # --- bookkeeping --------------------------------------------------------------------------
    def _account(self, sender: bytes) -> Account:
        chain = self._chains.get(sender)
        if chain is None:
            return self.get_account(sender)
        if chain.account is None:
            chain.account = self.get_account(sender)
        return chain.account

    def _take_sequence(self) -> int:
        value = self.sequence
        self.sequence += 1
        return value

    def _insert(
        self, tx: Transaction, sender: bytes, now: int | None, height: int | None
    ) -> MempoolEntry:
        size = tx.size
        entry = MempoolEntry(
            tx=tx,
            txid=tx.txid,
            sender=sender,
            fee=tx.fee,
            size=size,
            fee_rate=tx.fee * 1000 // size,
            time=_now(now),
            height=self.tip_height if height is None else height,
            sequence=self._take_sequence(),
        )
        self._entries[entry.txid] = entry
        chain = self._chains.get(sender)
        if chain is None:
            chain = self._chains[sender] = _Chain()
        chain.insert(entry)
        self._dirty.add(sender)
        self._bytes += size
        self._fees += entry.fee
        self._notify(lambda listener: listener.transaction_added(tx.raw, entry.txid,
                                                                 entry.sequence))  # fmt: skip
        return entry

    def _remove(self, entry: MempoolEntry, reason: str | None) -> None:
        """Take one entry out; ``reason`` None means block inclusion, which bitcoind does not
        announce but still counts in the sequence."""
        del self._entries[entry.txid]
        chain = self._chains[entry.sender]
        chain.remove(entry)
        if chain.entries:
            self._dirty.add(entry.sender)
        else:
            del self._chains[entry.sender]
            self._dirty.discard(entry.sender)
        self._bytes -= entry.size
        self._fees -= entry.fee
        sequence = self._take_sequence()
        if reason is not None:
            log.debug("removed %s (nonce %d): %s", entry.txid.hex(), entry.nonce, reason)
            self._notify(lambda listener: listener.transaction_removed(
                entry.tx.raw, entry.txid, reason, sequence))  # fmt: skip

    def _notify(self, call: Callable[[MempoolListener], None]) -> None:
        # A subscriber's failure must not leave the pool half-updated (bitcoind's signals too).
        for listener in list(self.listeners):
            try:
                call(listener)
            except Exception:
                log.exception("mempool listener %r failed", listener)

    # --- block templates ----------------------------------------------------------------------
    def select_for_block(
        self, max_bytes: int = DEFAULT_BLOCK_MAX_BYTES, max_count: int = DEFAULT_BLOCK_MAX_TXS
    ) -> list[Transaction]:
        """The best transactions for the next block: highest fee rate first among the senders'
        next transactions, each sender's in nonce order, within ``max_bytes`` and ``max_count``
        and the contract gas limit of a block."""
        heap = [_Head(chain, 0) for chain in self._chains.values()]
        heapq.heapify(heap)
        selected: list[Transaction] = []
        used = gas = 0
        while heap and len(selected) < max_count:
            head = heapq.heappop(heap)
            entry = head.entry
            tx_gas = block_gas(entry.tx)
            if used + entry.size > max_bytes or gas + tx_gas > MAX_BLOCK_GAS:
                continue  # the sender's later transactions need this one: the sender is done
            selected.append(entry.tx)
            used += entry.size
            gas += tx_gas
            if head.index + 1 < len(head.chain.entries):
                heapq.heappush(heap, _Head(head.chain, head.index + 1))
        return selected

    # --- chain events (ChainListener) ---------------------------------------------------------
    def block_disconnected(self, block: Block) -> None:
        self._disconnected.append(block)
        self._touch(block)

    def block_connected(self, block: Block) -> None:
        self.tip_height = block.height
        self._block_since_bump = True  # the rolling minimum fee may decay from now on
        self._touch(block)
        for tx in block.transactions[1:]:
            self._confirmed.add(tx.txid)
            entry = self._entries.get(tx.txid)
            if entry is not None:
                self._remove(entry, None)
                continue
            chain = self._chains.get(account_id(tx.sender))
            i = chain.find(tx.nonce) if chain else None
            if chain is not None and i is not None:
                # Another transaction of ours took this nonce. Later nonces stay for now: unlike
                # a UTXO child they do not depend on it; tip_updated checks their funds.
                self._remove(chain.entries[i], REASON_CONFLICT)

    def tip_updated(self, tip: Block) -> None:
        """After a whole chain change: take back disconnected transactions and re-check every
        touched account's chain against the new confirmed state."""
        self.tip_height = tip.height
        returning: dict[bytes, list[Transaction]] = {}
        order: list[Transaction] = []  # block order: oldest disconnected block first
        for block in reversed(self._disconnected):
            for tx in block.transactions[1:]:
                if tx.txid in self._confirmed or tx.txid in self._entries:
                    continue
                order.append(tx)
                returning.setdefault(account_id(tx.sender), []).append(tx)
        accounts = list(returning) + [a for a in self._touched if a in self._chains]
        back: set[bytes] = set()
        gone: list[MempoolEntry] = []
        for account in dict.fromkeys(accounts):
            keep, drop = self._rebuild(account, returning.get(account, ()))
            back.update(tx.txid for tx in keep)
            gone.extend(drop)
        now = int(time.time())
        cache = self.signature_cache
        # bitcoind's order: disconnected transactions come back first, then the reorg removals.
        # They skip the signature and size checks: a block already passed them on this network
        # (so the signature cache may vouch for them when they connect again).
        for tx in order:
            if tx.txid in back:
                self._insert(tx, account_id(tx.sender), now, tip.height)
                if cache is not None:
                    cache.add(tx)
            else:
                log.debug("not taking back %s: no longer valid on the new chain", tx.txid.hex())
        for entry in gone:
            self._remove(entry, REASON_REORG)
        for account in self._touched:  # held ones whose nonce came back drop here
            if self.future.has_sender(account):
                self._promote(account, now)
        self._trim(now)
        self._disconnected.clear()
        self._confirmed.clear()
        self._touched.clear()

    def _rebuild(
        self, account: bytes, returning: Iterable[Transaction]
    ) -> tuple[list[Transaction], list[MempoolEntry]]:
        """Which returning transactions the account's chain takes back and which pending entries
        it drops, walking nonces up from the confirmed state."""
        state = self.get_account(account)
        chain = self._chains.get(account)
        by_nonce: dict[int, Transaction | MempoolEntry] = {}
        for tx in returning:
            by_nonce.setdefault(tx.nonce, tx)
        for entry in chain.entries if chain else ():
            # Both can hold a nonce only if a conflict slipped past block_connected; the pending
            # one is what the pool already announced, so it stays.
            by_nonce[entry.nonce] = entry
        keep: list[Transaction] = []
        drop: list[MempoolEntry] = []
        expected, budget = state.nonce, state.balance
        for nonce in sorted(by_nonce):
            item = by_nonce[nonce]
            tx = item.tx if isinstance(item, MempoolEntry) else item
            spend = tx.amount + tx.fee
            # A taken nonce drops alone; a gap or a shortfall stops `expected`, so every later
            # nonce of the account drops with it.
            if nonce == expected and spend <= budget and nonce < MAX_NONCE:
                expected += 1
                budget -= spend
                if not isinstance(item, MempoolEntry):
                    keep.append(tx)
            elif isinstance(item, MempoolEntry):
                drop.append(item)
        return keep, drop

    def _touch(self, block: Block) -> None:
        # Every account whose balance or nonce the block moves, coinbase recipient included: a
        # disconnected block takes funds back from its recipients too.
        for tx in block.transactions:
            touched = [tx.recipient] if tx.is_coinbase else [account_id(tx.sender), tx.recipient]
            for account in touched:
                self._touched[account] = None
                chain = self._chains.get(account)
                if chain is not None:
                    chain.account = None


def _worst_suffix(sender: bytes, chain: _Chain) -> _Package:
    """The chain's package with the lowest descendant score (the shortest of equal ones)."""
    entries = chain.entries
    fee = size = 0
    best: _Package | None = None
    for k in range(len(entries) - 1, -1, -1):
        entry = entries[k]
        fee += entry.fee
        size += entry.size
        if entry.fee * size >= fee * entry.size:  # the entry alone pays the higher rate
            score_fee, score_size = entry.fee, entry.size
        else:
            score_fee, score_size = fee, size
        if best is None or score_fee * best.score_size < best.score_fee * score_size:
            best = _Package(sender, chain.version, k, fee, size, score_fee, score_size)
    assert best is not None
    return best
