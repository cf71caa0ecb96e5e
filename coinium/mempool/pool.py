"""The mempool: admission, per-sender nonce chains, block selection by fee rate, and reorgs.

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

Reorgs follow bitcoind's validation interface: `block_disconnected` remembers the block,
`block_connected` removes what the block includes (no 'R' event) and what conflicts with it ('R'
"conflict": same sender and nonce, another txid), and `tip_updated` rebuilds the chain of every
account the blocks touched against the new confirmed state: transactions of disconnected blocks
come back (in block order, 'A'), pending ones that lost their nonce or their funds leave ('R'
"reorg") with every later nonce of their sender.

The policy issue slots in here: a min relay fee and incremental fee (`info` reports 0 now),
future-nonce holding (today "nonce-gap"), replacement of a chain entry (today
"txn-mempool-conflict"), size-limit eviction and expiry (today "mempool full" refuses instead of
evicting) and persistence. The per-sender chains and `_Head` ordering are the pieces they need.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from coinium import kernels
from coinium.chain.events import MempoolListener
from coinium.consensus.block_rules import check_transaction_sanity
from coinium.consensus.errors import TransactionError
from coinium.consensus.state_transition import MAX_NONCE
from coinium.core.account import Account
from coinium.core.block import MAX_BLOCK_SIZE, MAX_BLOCK_TXS, Block
from coinium.core.codec import DecodeError
from coinium.core.params import NetworkParams
from coinium.core.transaction import Transaction, signing_hash
from coinium.core.units import COIN
from coinium.crypto.address import account_id

log = logging.getLogger("coinium.mempool")

# JSON-RPC codes bitcoind's sendrawtransaction / testmempoolaccept use for these failures.
RPC_DESERIALIZATION_ERROR = -22
RPC_VERIFY_ERROR = -25  # "could not check yet" (bitcoind: missing inputs, i.e. a missing parent)
RPC_VERIFY_REJECTED = -26  # policy or consensus reject; the message is the reason

# Room left in a block for the header, the count and the coinbase (as bitcoind's reserve).
DEFAULT_BLOCK_MAX_BYTES = MAX_BLOCK_SIZE - 10_000
DEFAULT_BLOCK_MAX_TXS = MAX_BLOCK_TXS - 1  # one slot is the coinbase's
DEFAULT_MAX_MEMPOOL_BYTES = 300_000_000  # bitcoind's -maxmempool=300 (MB)
# Python objects around each transaction's bytes (the Transaction's fields, the entry, the index
# slots): tracemalloc measures about 1,000 bytes for a memo-less 144-byte transfer in the pool.
# `usage` = bytes + this per entry: an estimate, as bitcoind's DynamicMemoryUsage is.
ENTRY_OVERHEAD = 860
# Fee rates in base units per 1000 bytes. No relay floor yet: the policy issue sets these.
MIN_RELAY_FEE_RATE = 0
INCREMENTAL_RELAY_FEE_RATE = 0

REASON_CONFLICT = "conflict"
REASON_REORG = "reorg"


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

    def find(self, nonce: int) -> int | None:
        i = bisect.bisect_left(self.entries, nonce, key=_nonce_of)
        return i if i < len(self.entries) and self.entries[i].nonce == nonce else None

    def insert(self, entry: MempoolEntry) -> None:
        bisect.insort(self.entries, entry, key=_nonce_of)
        self.spend += entry.spend

    def remove(self, entry: MempoolEntry) -> None:
        self.entries.remove(entry)
        self.spend -= entry.spend


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


def coins(units: int) -> float:
    """Base units as a JSON number of coins, as bitcoind shows amounts (display only)."""
    return units / COIN


class Mempool:
    def __init__(
        self,
        params: NetworkParams,
        get_account: Callable[[bytes], Account],
        *,
        max_bytes: int = DEFAULT_MAX_MEMPOOL_BYTES,
    ):
        self.params = params
        self.get_account = get_account  # confirmed state at the tip; reads LMDB
        self.max_bytes = max_bytes
        self.listeners: list[MempoolListener] = []
        self.sequence = 1  # the next mempool sequence (bitcoind starts at 1)
        self._entries: dict[bytes, MempoolEntry] = {}  # by txid, in entry order
        self._chains: dict[bytes, _Chain] = {}  # by sender account id
        self._bytes = 0
        self._fees = 0
        self.tip_height = 0  # an entry's default height; block events keep it, or set it at start
        # Between the block events of one chain change and its tip_updated:
        self._disconnected: list[Block] = []  # disconnection order, old tip first
        self._confirmed: set[bytes] = set()  # txids of the connected blocks
        self._touched: dict[bytes, None] = {}  # accounts whose confirmed state changed (ordered)

    # --- queries ------------------------------------------------------------------------------
    def __contains__(self, txid: object) -> bool:
        return isinstance(txid, bytes) and txid in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, txid: bytes) -> MempoolEntry | None:
        return self._entries.get(txid) if isinstance(txid, bytes) else None

    def txids(self) -> list[bytes]:
        return list(self._entries)

    def entries(self) -> list[MempoolEntry]:
        return list(self._entries.values())

    def pending_nonce(self, account: bytes) -> int:
        """The nonce the account's next transaction should carry."""
        chain = self._chains.get(account)
        return self.get_account(account).nonce + (len(chain.entries) if chain else 0)

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

    def info(self) -> dict[str, Any]:
        """bitcoind's getmempoolinfo."""
        return {
            "loaded": True,
            "size": len(self._entries),
            "bytes": self._bytes,
            "usage": self.usage,
            "total_fee": coins(self._fees),
            "maxmempool": self.max_bytes,
            "mempoolminfee": coins(MIN_RELAY_FEE_RATE),
            "minrelaytxfee": coins(MIN_RELAY_FEE_RATE),
            "incrementalrelayfee": coins(INCREMENTAL_RELAY_FEE_RATE),
            "unbroadcastcount": 0,
            "fullrbf": False,
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
            "bip125-replaceable": False,
            "unbroadcast": False,
        }

    # --- admission ----------------------------------------------------------------------------
    def add(
        self, tx: Transaction, now: int | None = None, *, height: int | None = None
    ) -> MempoolEntry:
        """Admit ``tx`` or raise MempoolReject (leaving the pool unchanged)."""
        sender = self._check(tx)
        entry = self._insert(tx, sender, now, height)
        log.debug("accepted %s (nonce %d, fee %d)", tx.txid.hex(), tx.nonce, tx.fee)
        return entry

    def test_accept(self, tx: Transaction) -> None:
        """Raise MempoolReject where ``add`` would; change nothing (testmempoolaccept)."""
        self._check(tx)

    def _check(self, tx: object) -> bytes:
        """Every admission rule, cheapest first and the signature last; return the sender id."""
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
        if tx.size > DEFAULT_BLOCK_MAX_BYTES:
            raise MempoolReject("tx-size", RPC_VERIFY_REJECTED,
                                f"{tx.size} bytes do not fit in a block")  # fmt: skip
        if tx.txid in self._entries:
            raise MempoolReject("txn-already-in-mempool")

        sender = account_id(tx.sender)
        account = self.get_account(sender)
        chain = self._chains.get(sender)
        pending, pending_spend = (len(chain.entries), chain.spend) if chain else (0, 0)
        expected = account.nonce + pending
        if tx.nonce < account.nonce:
            raise MempoolReject(
                "bad-txns-nonce",
                RPC_VERIFY_REJECTED,
                f"nonce {tx.nonce} already used (account nonce {account.nonce})",
            )
        if tx.nonce < expected:
            raise MempoolReject("txn-mempool-conflict", RPC_VERIFY_REJECTED,
                                f"nonce {tx.nonce} is already pending")  # fmt: skip
        if tx.nonce > expected:
            # bitcoind's nearest case is a transaction whose parent it has not seen: "not yet",
            # not "invalid". The policy issue may hold these instead of refusing them.
            raise MempoolReject("nonce-gap", RPC_VERIFY_ERROR,
                                f"nonce {tx.nonce}, next expected {expected}")  # fmt: skip
        if tx.nonce >= MAX_NONCE:
            raise MempoolReject("bad-txns-nonce", RPC_VERIFY_REJECTED, "account nonce exhausted")
        total = pending_spend + tx.amount + tx.fee
        if total > account.balance:
            raise MempoolReject(
                "bad-txns-in-belowout",
                RPC_VERIFY_REJECTED,
                f"balance {account.balance} below pending spend {total}",
            )
        if self.usage + tx.size + ENTRY_OVERHEAD > self.max_bytes:
            raise MempoolReject("mempool full", RPC_VERIFY_REJECTED,
                                f"usage would exceed {self.max_bytes} bytes")  # fmt: skip
        verdict = kernels.verify_batch([tx.sender], [signing_hash(tx, self.params.chain_id)],
                                       [tx.signature])  # fmt: skip
        if not bool(verdict[0]):
            raise MempoolReject("bad-txns-signature", RPC_VERIFY_REJECTED,
                                "signature does not verify")  # fmt: skip
        return sender

    # --- bookkeeping --------------------------------------------------------------------------
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
            time=int(time.time()) if now is None else int(now),
            height=self.tip_height if height is None else height,
            sequence=self._take_sequence(),
        )
        self._entries[entry.txid] = entry
        self._chains.setdefault(sender, _Chain()).insert(entry)
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
        if not chain.entries:
            del self._chains[entry.sender]
        self._bytes -= entry.size
        self._fees -= entry.fee
        sequence = self._take_sequence()
        if reason is not None:
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
        next transactions, each sender's in nonce order, within ``max_bytes`` and ``max_count``."""
        heap = [_Head(chain, 0) for chain in self._chains.values()]
        heapq.heapify(heap)
        selected: list[Transaction] = []
        used = 0
        while heap and len(selected) < max_count:
            head = heapq.heappop(heap)
            entry = head.entry
            if used + entry.size > max_bytes:
                continue  # the sender's later transactions need this one: the sender is done
            selected.append(entry.tx)
            used += entry.size
            if head.index + 1 < len(head.chain.entries):
                heapq.heappush(heap, _Head(head.chain, head.index + 1))
        return selected

    # --- chain events (ChainListener) ---------------------------------------------------------
    def block_disconnected(self, block: Block) -> None:
        self._disconnected.append(block)
        self._touch(block)

    def block_connected(self, block: Block) -> None:
        self.tip_height = block.height
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
        # bitcoind's order: disconnected transactions come back first, then the reorg removals.
        # They skip the signature and size checks: a block already passed them on this network.
        for tx in order:
            if tx.txid in back:
                self._insert(tx, account_id(tx.sender), now, tip.height)
            else:
                log.debug("not taking back %s: no longer valid on the new chain", tx.txid.hex())
        for entry in gone:
            self._remove(entry, REASON_REORG)
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
            if not tx.is_coinbase:
                self._touched[account_id(tx.sender)] = None
            self._touched[tx.recipient] = None
