"""Checking a stored chain: what ``verifychain`` and ``coinium restore`` run.

Everything reads one LMDB read transaction (a consistent snapshot), so it runs on a live node's
store or on a backup before it is used, and never writes. Two depths:

- `check_linkage` (restore): the tip walks back to this network's genesis through stored
  headers whose hashes are their keys, each at the height the ``height`` database says, with
  every main-chain block stored, decodable, hashing to its key and matching its Merkle root, and
  every non-genesis block's undo record present and decodable;
- `check_recent` (verifychain, and restore's last blocks): the last N blocks' undo records are
  replayed backwards from the current state, then the blocks applied forwards again with the
  consensus rules (signatures included); each must give back exactly its stored undo record, and
  the result must be the stored state. A wrong balance, a forged undo record or a block that no
  longer applies is found.

The state root check belongs in `check_state_root` (one place): once headers carry the state
root (the state after block H is committed by header H+1), it compares the root of the state
each step of `check_recent` reaches with the next header's.
"""

from __future__ import annotations

from collections.abc import Callable

import lmdb

from coinium import kernels
from coinium.consensus.errors import ConsensusError
from coinium.consensus.state_transition import apply_block, decode_undo
from coinium.core.account import Account
from coinium.core.block import Block
from coinium.core.codec import DecodeError
from coinium.core.params import NetworkParams
from coinium.store.records import IndexEntry, height_key


class ChainCheckError(Exception):
    """The stored chain is not sound; the message says where."""


Getter = Callable[[str, bytes], bytes | None]  # (database name, key) -> value


def reader(txn: lmdb.Transaction, dbs: dict[str, lmdb._Database]) -> Getter:
    def get(db: str, key: bytes) -> bytes | None:
        value = txn.get(key, db=dbs[db])
        return None if value is None else bytes(value)

    return get


def tip_of(get: Getter) -> IndexEntry:
    tip_hash = get("meta", b"tip")
    if tip_hash is None:
        raise ChainCheckError("no tip recorded")
    return _entry(get, tip_hash, "the tip")


def _entry(get: Getter, block_hash: bytes, what: str) -> IndexEntry:
    raw = get("headers", block_hash)
    if raw is None:
        raise ChainCheckError(f"{what} {block_hash.hex()} has no stored header")
    try:
        entry = IndexEntry.decode(raw)
    except (DecodeError, ValueError) as exc:
        raise ChainCheckError(f"the header of {what} {block_hash.hex()} does not decode: {exc}") \
            from None  # fmt: skip
    if entry.hash != block_hash:
        raise ChainCheckError(f"the header stored under {block_hash.hex()} hashes to "
                              f"{entry.hash.hex()}")  # fmt: skip
    return entry


def _block(get: Getter, entry: IndexEntry) -> Block:
    raw = get("blocks", entry.hash)
    if raw is None:
        raise ChainCheckError(f"block {entry.height} ({entry.hash.hex()}) is not stored")
    try:
        block = Block.decode(raw)
    except (DecodeError, ValueError) as exc:
        raise ChainCheckError(f"block {entry.height} does not decode: {exc}") from None
    if block.header != entry.header:
        raise ChainCheckError(f"block {entry.height}'s header is not its index entry's")
    if kernels.merkle_root(block.txids()) != block.header.merkle_root:
        raise ChainCheckError(f"block {entry.height}'s transactions do not match its Merkle root")
    return block


def _undo(get: Getter, entry: IndexEntry) -> dict[bytes, Account | None]:
    raw = get("undo", entry.hash)
    if raw is None:
        raise ChainCheckError(f"block {entry.height} has no undo record")
    try:
        return decode_undo(raw)
    except (DecodeError, ValueError) as exc:
        raise ChainCheckError(f"block {entry.height}'s undo record does not decode: {exc}") \
            from None  # fmt: skip


def check_network(get: Getter, params: NetworkParams) -> None:
    stored = get("meta", b"network")
    if stored is None:
        raise ChainCheckError("no network recorded: not a coinium chain")
    if stored.decode(errors="replace") != params.name:
        raise ChainCheckError(f"it holds the {stored.decode(errors='replace')!r} chain, not "
                              f"{params.name!r}")  # fmt: skip


def check_linkage(get: Getter, params: NetworkParams, limit: int | None = None) -> IndexEntry:
    """The main chain from the tip down to genesis, or ``limit`` blocks of it (see the module
    docstring); returns the tip."""
    check_network(get, params)
    tip = tip_of(get)
    entry = tip
    while True:
        if limit is not None and tip.height - entry.height >= limit:
            return tip
        if get("height", height_key(entry.height)) != entry.hash:
            raise ChainCheckError(f"height {entry.height} does not name block {entry.hash.hex()}")
        _block(get, entry)
        if entry.height == 0:
            break
        _undo(get, entry)
        parent = _entry(get, entry.prev_hash, f"the parent of block {entry.height}")
        if parent.height != entry.height - 1:
            raise ChainCheckError(f"block {entry.height}'s parent is at height {parent.height}")
        entry = parent
    if entry.hash != params.genesis.hash:
        raise ChainCheckError(f"the chain starts at {entry.hash.hex()}, not at {params.name}'s "
                              "genesis")  # fmt: skip
    return tip


def check_recent(get: Getter, params: NetworkParams, nblocks: int) -> int:
    """Replay the last ``nblocks`` blocks' undo records back and the blocks forward again (see
    the module docstring); returns how many blocks were checked."""
    tip = tip_of(get)
    entries: list[IndexEntry] = []
    entry = tip
    while entry.height > 0 and len(entries) < nblocks:
        entries.append(entry)
        entry = _entry(get, entry.prev_hash, f"the parent of block {entry.height}")
    # Back: the state before the oldest checked block, as an overlay on the stored state.
    overlay: dict[bytes, Account | None] = {}
    undos = []
    for entry in entries:
        undo = _undo(get, entry)
        undos.append(undo)
        overlay.update(undo)

    class View:
        @staticmethod
        def get_account(account: bytes) -> Account | None:
            if account in overlay:
                return overlay[account]
            raw = get("accounts", account)
            return None if raw is None else Account.decode(raw)

    # Forward: each block must apply and give back its own undo record.
    for entry, undo in zip(reversed(entries), reversed(undos), strict=True):
        check_state_root(entry, View)
        block = _block(get, entry)
        try:
            delta = apply_block(block, View, params)
        except ConsensusError as exc:
            raise ChainCheckError(f"block {entry.height} no longer applies: {exc}") from None
        if delta.old != undo:
            raise ChainCheckError(f"block {entry.height}'s undo record is not what the block "
                                  "changes")  # fmt: skip
        overlay.update(delta.new)
    for account, value in overlay.items():
        raw = get("accounts", account)
        stored = None if raw is None else Account.decode(raw)
        if stored != value:
            raise ChainCheckError(f"account {account.hex()} is stored as {stored}, the blocks "
                                  f"give {value}")  # fmt: skip
    return len(entries)


def check_state_root(entry: IndexEntry, view: object) -> None:
    """THE place for the state root check: the state ``view`` shows is the state block
    ``entry`` is applied to, which a v2 header commits in ``entry.header.state_root``
    (DESIGN.md). Headers of this version carry no root and there is no state tree to compute
    one yet, so nothing is compared; when both land, compute the root of ``view``'s state here
    and raise ChainCheckError if it is not ``entry.header.state_root``."""
