"""Compact blocks (the idea of BIP152): a block as its header, its coinbase and a 6-byte short id
per other transaction, rebuilt by the receiver from its own mempool.

Short ids are salted per block and per sender: ``key = BLAKE3(header || salt u64)`` and
``short_id(txid) = BLAKE3_keyed(key, txid)[:6]``, so nobody can grind transactions whose ids
collide in every block (the salt is the sender's fresh random number). A receiver that finds two
of its transactions under one short id, or a block whose own short ids repeat, asks for the full
block; one whose rebuilt transactions do not hash to the header's Merkle root (an undetected
collision) asks for it too. Neither is the sender's fault, so neither costs it anything.

This module is the codec-free part: building the short ids and rebuilding from candidates. The
messages are `coinium.p2p.messages.CmpctBlock`, `GetBlockTxn` and `BlockTxn`; the protocol around
them is `coinium.p2p.blockrelay`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from coinium import kernels
from coinium.core.block import Block
from coinium.core.header import Header
from coinium.core.transaction import Transaction
from coinium.crypto.hashes import blake3_256, blake3_keyed

try:  # one C loop for a whole mempool's ids (the rebuild's main cost otherwise: ~0.5 us each)
    from coinium.kernels._ckernels import short_ids as _short_ids_c
except ImportError:  # not built: the same ids, one blake3 call each
    _short_ids_c = None

SHORT_ID_SIZE = 6


def short_id_key(header: Header, salt: int) -> bytes:
    return blake3_256(header.encode() + salt.to_bytes(8, "little"))


def short_id(key: bytes, txid: bytes) -> bytes:
    return blake3_keyed(key, txid)[:SHORT_ID_SIZE]


def short_ids(header: Header, salt: int, txids: Iterable[bytes]) -> tuple[bytes, ...]:
    return tuple(_ids(short_id_key(header, salt), list(txids)))


def _ids(key: bytes, txids: list[bytes]) -> list[bytes]:
    """`short_id(key, txid)` for each txid."""
    if _short_ids_c is not None:
        return _short_ids_c(key, txids, SHORT_ID_SIZE)
    return [short_id(key, txid) for txid in txids]


@dataclass(slots=True)
class Rebuild:
    """A compact block being rebuilt: ``slots[i]`` is transaction ``i + 1`` once known."""

    header: Header
    coinbase: Transaction
    slots: list[Transaction | None]
    collision: bool = False  # two candidates (or two of the block's ids) share a short id

    @property
    def missing(self) -> list[int]:
        """Indexes (in the block, the coinbase being 0) of the transactions still unknown."""
        return [i + 1 for i, tx in enumerate(self.slots) if tx is None]

    def fill(self, indexes: list[int], txs: Iterable[Transaction]) -> bool:
        """Put the transactions a peer sent for ``indexes``; False if they do not fit."""
        txs = list(txs)
        if len(txs) != len(indexes):
            return False
        for index, tx in zip(indexes, txs, strict=True):
            if not 1 <= index <= len(self.slots) or self.slots[index - 1] is not None:
                return False
            self.slots[index - 1] = tx
        return True

    def block(self) -> Block | None:
        """The block, if complete and its transactions hash to the header's Merkle root (None
        otherwise: something is missing, or a short id matched the wrong transaction)."""
        if self.collision or any(tx is None for tx in self.slots):
            return None
        txs = (self.coinbase, *self.slots)
        if kernels.merkle_root([tx.txid for tx in txs]) != self.header.merkle_root:  # type: ignore[union-attr]
            return None
        return Block(self.header, txs)  # type: ignore[arg-type]


def rebuild(header: Header, salt: int, coinbase: Transaction, ids: tuple[bytes, ...],
            candidates: Iterable[tuple[bytes, Transaction]]) -> Rebuild:
    """Match the block's short ids against ``candidates`` ((txid, tx) pairs: the mempool)."""
    wanted: dict[bytes, int] = {}
    collision = False
    for index, sid in enumerate(ids):
        if sid in wanted:
            collision = True  # the block's own ids repeat: only the full block can say which
        wanted[sid] = index
    slots: list[Transaction | None] = [None] * len(ids)
    if not collision and ids:
        pairs = list(candidates)
        ids_of_ours = _ids(short_id_key(header, salt), [txid for txid, _ in pairs])
        taken: set[int] = set()
        lookup = wanted.get
        for (_, tx), sid in zip(pairs, ids_of_ours, strict=True):
            index = lookup(sid)
            if index is None:
                continue
            if index in taken:
                collision = True  # two of ours under one id: ask for the block
                break
            taken.add(index)
            slots[index] = tx
    return Rebuild(header, coinbase, slots, collision)
