"""The NFT indexes: owner -> tokens and token -> history, kept in the chain's LMDB environment and
written in the block's own write transaction (so they are never behind the chain, and a reorg
undoes them with the block).

    nftowner    owner account id 20 | token key -> b""           (every live token, by owner)
    nfthistory  token key | height u32 BE | position u32 BE -> txid (main chain only)

A token key (`coinium.core.kinds.nft.common.token_key`) is ``u8 length | class id | u8 length |
token id``, so a prefix names one class or one token exactly. Class -> tokens needs no index of
its own: the token records (namespace 0x21 of the ``state`` database) are keyed by the same token
key, so they *are* that index, ordered by class and committed by the state root.

The owner index follows from the token records alone: a block moves an entry exactly where it
changes a token's owner (`owner_changes`). `rebuild` computes both indexes again from the records
and the main chain's blocks, which `check` compares with what is stored.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

import lmdb

from coinium.core.block import Block
from coinium.core.kinds.nft import token_of
from coinium.core.kinds.nft.common import TOKEN_OWNER
from coinium.core.state import NS_NFT_TOKEN, RecordKey

DATABASES = ("nftowner", "nfthistory")
_HEIGHT_POSITION = struct.Struct(">II")
_TOKEN_PREFIX = bytes((NS_NFT_TOKEN,))


def owner_changes(
    records: Iterable[tuple[RecordKey, bytes | None, bytes | None]],
) -> tuple[list[bytes], list[bytes]]:
    """(owner-index keys to delete, keys to put) for records going from ``before`` to
    ``after`` (None: absent); only token records count."""
    deletes: list[bytes] = []
    puts: list[bytes] = []
    for (namespace, key), before, after in records:
        if namespace != NS_NFT_TOKEN:
            continue
        old_owner = None if before is None else before[TOKEN_OWNER]
        new_owner = None if after is None else after[TOKEN_OWNER]
        if old_owner == new_owner:
            continue
        if old_owner is not None:
            deletes.append(old_owner + key)
        if new_owner is not None:
            puts.append(new_owner + key)
    return deletes, puts


def history_entries(height: int, block: Block) -> list[tuple[bytes, bytes]]:
    entries = []
    for position, tx in enumerate(block.transactions):
        if tx.kind < 32:  # not an NFT kind: skip the decoding below
            continue
        token = token_of(tx)
        if token is not None:
            entries.append((token + _HEIGHT_POSITION.pack(height, position), tx.txid))
    entries.sort()
    return entries


def on_connect(store, txn: lmdb.Transaction, height: int, block: Block,
               old: dict[RecordKey, bytes | None],
               new: dict[RecordKey, bytes | None]) -> None:
    """Index a block being connected, given its records before and after."""
    deletes, puts = owner_changes((record, old.get(record), value)
                                  for record, value in new.items() if record[0] == NS_NFT_TOKEN)
    _write(store, txn, deletes, puts)
    history = history_entries(height, block)
    if history:
        store.put_many(txn, "nfthistory", history)


def on_disconnect(store, txn: lmdb.Transaction, height: int, block: Block,
                  old: Iterable[tuple[RecordKey, bytes | None]]) -> None:  # fmt: skip
    """Unindex a block being disconnected: call it before its undo values are written back (it
    reads the records' current values)."""
    view = store.state_view(txn)
    deletes, puts = owner_changes((record, view.get(*record), value) for record, value in old
                                  if record[0] == NS_NFT_TOKEN)  # fmt: skip
    _write(store, txn, deletes, puts)
    for key, _ in history_entries(height, block):
        store.delete(txn, "nfthistory", key)


def _write(store, txn: lmdb.Transaction, deletes: list[bytes], puts: list[bytes]) -> None:
    for key in deletes:
        store.delete(txn, "nftowner", key)
    if puts:
        store.put_many(txn, "nftowner", sorted((key, b"") for key in puts))


# --- reading ----------------------------------------------------------------------------------
def tokens_of_owner(store, txn: lmdb.Transaction, owner: bytes, after: bytes = b"",
                    limit: int = 1000) -> list[bytes]:  # fmt: skip
    """Up to ``limit`` token keys of ``owner``, in key order, starting after ``after``."""
    found: list[bytes] = []
    cursor = store.cursor(txn, "nftowner")
    start = owner + after + (b"\x00" if after else b"")
    if not cursor.set_range(start):
        return found
    for key in cursor.iternext(keys=True, values=False):
        if not key.startswith(owner) or len(found) >= limit:
            break
        found.append(key[20:])
    return found


def token_records(store, txn: lmdb.Transaction, prefix: bytes = b"", after: bytes = b"",
                  limit: int = 1000) -> list[tuple[bytes, bytes]]:  # fmt: skip
    """Up to ``limit`` (token key, record) in key order whose key starts with ``prefix`` (a
    class's `id_field`: its tokens), after the token key ``after``."""
    found: list[tuple[bytes, bytes]] = []
    cursor = store.cursor(txn, "state")
    head = _TOKEN_PREFIX + prefix
    start = _TOKEN_PREFIX + after + b"\x00" if after else head
    if not cursor.set_range(max(start, head)):
        return found
    for key, value in cursor.iternext():
        if not key.startswith(head) or len(found) >= limit:
            break
        found.append((bytes(key[1:]), bytes(value)))
    return found


def token_history(store, txn: lmdb.Transaction, token: bytes,
                  limit: int = 1000) -> list[tuple[int, int, bytes]]:  # fmt: skip
    """(height, position, txid) of every main-chain transaction about ``token``, oldest first."""
    found = []
    cursor = store.cursor(txn, "nfthistory")
    if not cursor.set_range(token):
        return found
    for key, txid in cursor.iternext():
        if len(key) != len(token) + 8 or not key.startswith(token) or len(found) >= limit:
            break
        height, position = _HEIGHT_POSITION.unpack(key[len(token):])
        found.append((height, position, bytes(txid)))
    return found


# --- rebuilding and checking ------------------------------------------------------------------
def expected(store, txn: lmdb.Transaction, main_chain: Iterable[bytes]) -> tuple[set, set]:
    """Both indexes as they must be: owner entries from the token records, history from the
    main chain's blocks."""
    owners = {bytes(value[TOKEN_OWNER]) + bytes(key[1:])
              for key, value in _iter_prefix(store.cursor(txn, "state"), _TOKEN_PREFIX)}
    history = set()
    for height, block_hash in enumerate(main_chain):
        raw = store.get(txn, "blocks", block_hash)
        history.update(history_entries(height, Block.decode(bytes(raw))))
    return owners, history


def stored(store, txn: lmdb.Transaction) -> tuple[set, set]:
    owners = {bytes(k) for k, _ in _iter_prefix(store.cursor(txn, "nftowner"), b"")}
    history = {(bytes(k), bytes(v)) for k, v in _iter_prefix(store.cursor(txn, "nfthistory"), b"")}
    return owners, history


def rebuild(store, txn: lmdb.Transaction, main_chain: Iterable[bytes]) -> dict[str, int]:
    """Write both indexes again from scratch; returns the entry counts."""
    owners, history = expected(store, txn, main_chain)
    for name in DATABASES:
        txn.drop(store.db[name], delete=False)
    store.put_many(txn, "nftowner", sorted((key, b"") for key in owners))
    store.put_many(txn, "nfthistory", sorted(history))
    return {"owners": len(owners), "history": len(history)}


def _iter_prefix(cursor: lmdb.Cursor, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
    if not cursor.set_range(prefix):
        return
    for key, value in cursor.iternext():
        if not key.startswith(prefix):
            return
        yield key, value
