"""Transactions held for later: a nonce ahead of the sender's next one ("future" nonces).

The account model's orphans: a transaction with nonce n+2 while the sender's chain ends at n
cannot enter a block until n+1 exists. The pool holds it (signature checked, the sender able to
pay it alone) without announcing it, and the mempool promotes it when the gap fills, or when
the funds it needs confirm. Held transactions are not in the mempool proper: not in
``getrawmempool``, not in block templates, no ZMQ ``sequence`` events.

Bounds: at most ``max_per_sender`` per sender, and ``max_total`` in all; when full, the lowest
fee rate goes first (the newcomer is refused if it pays no more than that). Entries expire as
mempool entries do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from coinium.core.transaction import Transaction


@dataclass(frozen=True, slots=True)
class FutureTx:
    tx: Transaction
    sender: bytes  # account id
    time: int  # unix seconds when it arrived

    @property
    def nonce(self) -> int:
        return self.tx.nonce

    @property
    def txid(self) -> bytes:
        return self.tx.txid


def pays_more(a: Transaction, b: Transaction) -> bool:
    """a's fee rate is strictly above b's (exact cross-multiplication)."""
    return a.fee * b.size > b.fee * a.size


class FuturePool:
    def __init__(self, max_per_sender: int, max_total: int):
        self.max_per_sender = max_per_sender
        self.max_total = max_total
        self._by_sender: dict[bytes, dict[int, FutureTx]] = {}
        self._by_txid: dict[bytes, FutureTx] = {}

    def __len__(self) -> int:
        return len(self._by_txid)

    def __contains__(self, txid: object) -> bool:
        return txid in self._by_txid

    def __iter__(self) -> Iterator[FutureTx]:
        return iter(list(self._by_txid.values()))

    def has_sender(self, sender: bytes) -> bool:
        return sender in self._by_sender

    def senders(self) -> list[bytes]:
        return list(self._by_sender)

    def get(self, sender: bytes, nonce: int) -> FutureTx | None:
        held = self._by_sender.get(sender)
        return held.get(nonce) if held else None

    def count(self, sender: bytes) -> int:
        held = self._by_sender.get(sender)
        return len(held) if held else 0

    def of_sender(self, sender: bytes) -> list[FutureTx]:
        """The sender's held transactions in nonce order."""
        held = self._by_sender.get(sender)
        return [held[n] for n in sorted(held)] if held else []

    def lowest(self) -> FutureTx | None:
        """The held transaction that goes first when the pool is full: lowest fee rate, and the
        newest of equal ones."""
        worst: FutureTx | None = None
        for item in self._by_txid.values():
            if worst is None or not pays_more(item.tx, worst.tx):
                worst = item
        return worst

    def add(self, item: FutureTx) -> None:
        held = self._by_sender.setdefault(item.sender, {})
        assert item.nonce not in held, "replace with remove() first"
        held[item.nonce] = item
        self._by_txid[item.txid] = item

    def remove(self, item: FutureTx) -> None:
        del self._by_txid[item.txid]
        held = self._by_sender[item.sender]
        del held[item.nonce]
        if not held:
            del self._by_sender[item.sender]

    def below(self, sender: bytes, nonce: int) -> list[FutureTx]:
        """The sender's held transactions with a nonce under ``nonce`` (now taken or pending)."""
        held = self._by_sender.get(sender)
        return [held[n] for n in sorted(held) if n < nonce] if held else []

    def older_than(self, cutoff: int) -> list[FutureTx]:
        return [item for item in self._by_txid.values() if item.time < cutoff]
