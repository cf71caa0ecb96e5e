"""Chain events: what blocks connected and disconnected do to the pool.

Reorgs follow bitcoind's validation interface: `block_disconnected` remembers the block,
`block_connected` removes what the block includes (no 'R' event) and what conflicts with it ('R'
"conflict": same sender and nonce, another txid), and `tip_updated` rebuilds the chain of every
account the blocks touched against the new confirmed state: transactions of disconnected blocks
come back (in block order, 'A'), pending ones that lost their nonce or their funds leave ('R'
"reorg") with every later nonce of their sender; held future transactions of those accounts are
dropped if their nonce was taken and promoted if they now fit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from coinium.core.block import Block
from coinium.core.kinds.transfer import MAX_NONCE
from coinium.core.transaction import Transaction
from coinium.crypto.address import account_id
from coinium.mempool.entries import REASON_CONFLICT, REASON_REORG, MempoolEntry

log = logging.getLogger("coinium.mempool")


class ChainEvents:
    """The `ChainListener` half of `Mempool` (a mixin: the state is the pool's)."""

    def block_disconnected(self, block: Block) -> None:
        self._disconnected.append(block)
        self._touch(block)

    def block_connected(self, block: Block) -> None:
        self.tip_height = block.height
        self._block_since_bump = True  # the rolling minimum fee may decay from now on
        if not self._entries and not self._disconnected and not len(self.future):
            # An empty pool and no block taken back in this chain change (a sync's case): no
            # entry to remove and no account whose pending chain needs checking again.
            return
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

