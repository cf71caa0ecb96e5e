"""Connecting and disconnecting one block inside the caller's LMDB write transaction.

`connect_block` applies a block on the state and writes everything it changes (records, state
tree, undo record, state root, height, tx and address indexes, NFT indexes); `disconnect_block`
puts every one of them back from the undo record. Neither commits: the chain (`ChainState`,
`chain/reorg.py`) decides what goes into one transaction, so a block lands whole or not at all,
and a trial (`state_root_after`, `record_after`) can apply blocks and throw the result away.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter

import lmdb
from blake3 import blake3 as _blake3

from coinium.consensus.header_rules import check_state_root
from coinium.consensus.state_transition import apply_block, decode_undo, encode_undo
from coinium.core.block import Block
from coinium.core.params import NetworkParams
from coinium.core.state import RecordKey, StateDelta
from coinium.crypto.address import account_id
from coinium.store import nft_index
from coinium.store.chainstore import ChainStore, record_key
from coinium.store.records import (
    IndexEntry,
    address_index_key,
    block_index_records,
    height_key,
)

_by_record = itemgetter(0)


def load_block(store: ChainStore, txn: lmdb.Transaction, block_hash: bytes) -> Block:
    raw = store.get(txn, "blocks", block_hash)
    if raw is None:
        raise RuntimeError(f"block {block_hash.hex()} is indexed but not stored")
    return Block.decode(bytes(raw))


def connect_block(store: ChainStore, params: NetworkParams, txn: lmdb.Transaction,
                  entry: IndexEntry, block: Block) -> None:  # fmt: skip
    """Apply ``block`` on the state in ``txn`` and write what it changes: records, state
    tree, undo record, height, tx index and address index (all in the caller's transaction,
    so they land with the block or not at all). Each database gets one sorted `put_many`.

    The header must commit to the root of the state it is applied to, which is the tree's
    root in ``txn`` before the block (the state its parent left): `bad-stateroot` if not."""
    tree = store.state_tree
    delta = apply_block_state(store, params, txn, block)
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
    nft_index.on_connect(store, txn, entry.height, block, delta.old, delta.new)


def apply_block_state(store: ChainStore, params: NetworkParams, txn: lmdb.Transaction,
                      block: Block) -> StateDelta:  # fmt: skip
    """Check the block's state root, apply it, write its changed records and update the
    tree: the state part of `connect_block`."""
    tree = store.state_tree
    check_state_root(block.header, tree.root(txn))
    delta = apply_block(block, store.state_view(txn), params)
    old = delta.old
    changed = sorted([item for item in delta.new.items() if old.get(item[0]) != item[1]],
                     key=_by_record)  # records are unique: comparing keys alone is enough
    _write_records(store, txn, changed)
    tree.apply(txn, tree_changes(changed))
    return delta


def disconnect_block(store: ChainStore, txn: lmdb.Transaction, entry: IndexEntry) -> Block:
    """Undo a main-chain block: every record of every namespace back to its bytes before
    the block, and the state tree with them (the tree is canonical for a set of records)."""
    block = load_block(store, txn, entry.hash)
    raw_undo = store.get(txn, "undo", entry.hash)
    if raw_undo is None:
        raise RuntimeError(f"no undo record for connected block {entry.hash.hex()}")
    old = sorted(decode_undo(bytes(raw_undo)).items(), key=_by_record)
    nft_index.on_disconnect(store, txn, entry.height, block, old)
    _write_records(store, txn, old)
    store.state_tree.apply(txn, tree_changes(old))
    store.delete(txn, "undo", entry.hash)
    store.delete(txn, "height", height_key(entry.height))
    for position, tx in enumerate(block.transactions):
        store.delete(txn, "txindex", tx.txid)
        for account in _accounts_of(tx):
            store.delete(txn, "addrindex",
                         address_index_key(account, entry.height, position))  # fmt: skip
    return block


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
