"""What the mempool holds: entries, each sender's nonce chain, the reject type, the shared
constants (RPC codes, removal reasons, the per-entry memory estimate)."""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field

from coinium.core.account import Account
from coinium.core.block import MAX_BLOCK_SIZE, MAX_BLOCK_TXS
from coinium.core.transaction import Transaction
from coinium.core.units import COIN
from coinium.mempool.policy import MempoolPolicy

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



class MempoolReject(Exception):
    """A transaction the mempool will not take: bitcoind's reject reason and its RPC code."""

    def __init__(self, reason: str, code: int = RPC_VERIFY_REJECTED, detail: str = ""):
        super().__init__(f"{reason} ({detail})" if detail else reason)
        self.reason = reason
        self.code = code
        self.detail = detail


# Not frozen, though nothing changes an entry once built: a frozen dataclass's __init__ sets each
# field through object.__setattr__, a microsecond more per admission. Compared by identity (each
# entry is one admission), so it is hashable as the frozen one was.
@dataclass(slots=True, eq=False)
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
class SenderChain:
    """One sender's pending transactions, sorted by nonce (consecutive between chain events)."""

    entries: list[MempoolEntry] = field(default_factory=list)
    spend: int = 0
    version: int = 0  # changes with every insert and remove (the eviction heap's staleness check)
    # The sender's confirmed state as of the last block event the pool has seen, read once per
    # chain rather than once per admission (an LMDB read is a large share of a cheap one);
    # None again whenever a connected or disconnected block touches the account.
    account: Account | None = None

    def find(self, nonce: int) -> int | None:
        i = bisect.bisect_left(self.entries, nonce, key=nonce_of)
        return i if i < len(self.entries) and self.entries[i].nonce == nonce else None

    def insert(self, entry: MempoolEntry) -> None:
        entries = self.entries
        if not entries or entries[-1].tx.nonce < entry.tx.nonce:
            entries.append(entry)  # the next nonce: nearly every admission
        else:
            bisect.insort(entries, entry, key=nonce_of)
        self.spend += entry.spend
        self.version += 1

    def remove(self, entry: MempoolEntry) -> None:
        self.entries.remove(entry)
        self.spend -= entry.spend
        self.version += 1


def nonce_of(entry: MempoolEntry) -> int:
    return entry.tx.nonce


def coins(units: int) -> float:
    """Base units as a JSON number of coins, as bitcoind shows amounts (display only)."""
    return units / COIN


def unix_now(now: int | None) -> int:
    return int(time.time()) if now is None else int(now)
