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

The pool is one class in parts, one module each (mixins sharing the pool's state):

    entries     `MempoolEntry`, `SenderChain`, `MempoolReject`, the RPC codes and removal reasons
    admission   `Admission`: the rules a new transaction meets (policy, replace-by-fee, held
                nonces, signatures); `add_batch`: many at once, their signatures checked
                together off the event loop, with the verdicts of one-by-one admission
    sizelimit   `SizeLimit`: eviction by package score, the rolling minimum fee, expiry
    reorg       `ChainEvents`: blocks connected and disconnected
    policy      the settings and their defaults; future: held nonces; persist: ``mempool.dat``
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from coinium.chain.events import MempoolListener
from coinium.chain.sigcache import SignatureCache
from coinium.contracts.limits import MAX_BLOCK_GAS
from coinium.contracts.transactions import block_gas
from coinium.core.account import Account
from coinium.core.block import Block
from coinium.core.params import NetworkParams
from coinium.core.transaction import Transaction
from coinium.mempool.admission import Admission, QueuedCheck
from coinium.mempool.entries import (  # noqa: F401  (the pool's public names, as before the split)
    DEFAULT_BLOCK_MAX_BYTES,
    DEFAULT_BLOCK_MAX_TXS,
    DEFAULT_MAX_MEMPOOL_BYTES,
    ENTRY_OVERHEAD,
    REASON_CONFLICT,
    REASON_EXPIRY,
    REASON_INAPPLICABLE,
    REASON_REORG,
    REASON_REPLACED,
    REASON_SIZELIMIT,
    RPC_DESERIALIZATION_ERROR,
    RPC_VERIFY_ERROR,
    RPC_VERIFY_REJECTED,
    MempoolEntry,
    MempoolReject,
    SenderChain,
    coins,
    unix_now,
)
from coinium.mempool.future import FuturePool
from coinium.mempool.policy import MempoolPolicy
from coinium.mempool.reorg import ChainEvents
from coinium.mempool.sizelimit import Package, SizeLimit

log = logging.getLogger("coinium.mempool")


class _Head:
    """A sender's next unselected transaction, ordered for a min-heap: best fee rate first."""

    __slots__ = ("chain", "index")

    def __init__(self, chain: SenderChain, index: int):
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


class Mempool(Admission, SizeLimit, ChainEvents):
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
        self._chains: dict[bytes, SenderChain] = {}  # by sender account id
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
        self._trim_heap: list[tuple[int, int, bytes, int, Package]] = []
        self._trim_counter = 0
        self._dirty: set[bytes] = set()
        # bitcoind's rollingMinimumFeeRate, in thousandths of a unit per 1000 bytes.
        self._rolling_milli = 0
        self._rolling_updated = 0
        self._block_since_bump = False
        # txid -> a queued signature check (`preverify`, `queue_signatures`).
        self._verdicts: dict[bytes, QueuedCheck] = {}
        self.batches_admitting = 0  # `add_batch` calls under way (relay waits for their end)
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
        return max(self.policy.min_relay_fee_rate, self._rolling_rate(unix_now(now)))

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
            time=unix_now(now),
            height=self.tip_height if height is None else height,
            sequence=self._take_sequence(),
        )
        self._entries[entry.txid] = entry
        chain = self._chains.get(sender)
        if chain is None:
            chain = self._chains[sender] = SenderChain()
        chain.insert(entry)
        self._dirty.add(sender)
        self._bytes += size
        self._fees += entry.fee
        for listener in list(self.listeners):  # _notify, without a closure per admission
            try:
                listener.transaction_added(tx.raw, entry.txid, entry.sequence)
            except Exception:
                log.exception("mempool listener %r failed", listener)
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
