"""Checking a stored chain: what ``verifychain`` and ``coinium restore`` run.

Everything works on a `ChainStore` (a live node's, or a staged copy of a backup) through its own
readers, and writes nothing: the reads share one read transaction (a consistent snapshot), and
the replay runs in a write transaction that is always aborted. The checks:

- `check_linkage`: the tip walks back to this network's genesis through stored headers whose
  hashes are their keys, each at the height the ``height`` database says, with every main-chain
  block stored, decodable, hashing to its key and matching its Merkle root, every non-genesis
  block's undo record present and decodable, a root recorded after every block (``stateroots``),
  and every header's ``state_root`` equal to the root recorded after its parent (the header
  commits to the state its parent left);
- `check_tip_root` (cheap) and `check_state_root` (reads the whole state): the state tree's
  root is the root recorded after the tip, and the root rebuilt from scratch from every record
  of every namespace (`root_of_records`) is that root. A record changed, added or deleted
  without its tree is found by the rebuild; one changed together with the tree, by the root
  recorded for the tip;
- `check_recent`: the last N blocks' undo records are applied backwards to the records and the
  tree, and each step must reach the root the undone block's header commits to; then the blocks
  are checked (body and signatures) and applied forwards again with the consensus rules: each
  must give back exactly its stored undo record and reach the root recorded after it, and the
  end must be the stored records (every namespace) and root. A forged state that also forged
  its tree and the tip's recorded root is found here: undoing the tip no longer reaches what its
  header commits to.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter

import lmdb

from coinium import kernels
from coinium.chain.connect import tree_changes
from coinium.consensus import header_rules
from coinium.consensus.block_rules import check_block
from coinium.consensus.errors import ConsensusError
from coinium.consensus.state_transition import apply_block, decode_undo
from coinium.core.account import Account
from coinium.core.block import Block
from coinium.core.codec import DecodeError
from coinium.core.params import NetworkParams
from coinium.core.state import NS_ACCOUNT, RecordKey
from coinium.crypto.state_proof import record_path, root_of_records, value_hash
from coinium.store.chainstore import ChainStore, record_key, split_record_key
from coinium.store.records import IndexEntry, height_key

_by_record = itemgetter(0)
_LEAF_SIZE = 65  # a leaf entry of the state tree: 0x01 | path | value hash (state_tree.py)


class ChainCheckError(Exception):
    """The stored chain is not sound; the message says where."""


def tip_of(store: ChainStore, txn: lmdb.Transaction) -> IndexEntry:
    tip_hash = store.get(txn, "meta", b"tip")
    if tip_hash is None:
        raise ChainCheckError("no tip recorded")
    return _entry(store, txn, bytes(tip_hash), "the tip")


def _entry(store: ChainStore, txn: lmdb.Transaction, block_hash: bytes, what: str) -> IndexEntry:
    raw = store.get(txn, "headers", block_hash)
    if raw is None:
        raise ChainCheckError(f"{what} {block_hash.hex()} has no stored header")
    try:
        entry = IndexEntry.decode(bytes(raw))
    except (DecodeError, ValueError) as exc:
        raise ChainCheckError(f"the header of {what} {block_hash.hex()} does not decode: {exc}") \
            from None  # fmt: skip
    if entry.hash != block_hash:
        raise ChainCheckError(f"the header stored under {block_hash.hex()} hashes to "
                              f"{entry.hash.hex()}")  # fmt: skip
    return entry


def _block(store: ChainStore, txn: lmdb.Transaction, entry: IndexEntry) -> Block:
    raw = store.get(txn, "blocks", entry.hash)
    if raw is None:
        raise ChainCheckError(f"block {entry.height} ({entry.hash.hex()}) is not stored")
    try:
        block = Block.decode(bytes(raw))
    except (DecodeError, ValueError) as exc:
        raise ChainCheckError(f"block {entry.height} does not decode: {exc}") from None
    if block.header != entry.header:
        raise ChainCheckError(f"block {entry.height}'s header is not its index entry's")
    if kernels.merkle_root(block.txids()) != block.header.merkle_root:
        raise ChainCheckError(f"block {entry.height}'s transactions do not match its Merkle root")
    return block


def _undo(store: ChainStore, txn: lmdb.Transaction,
          entry: IndexEntry) -> dict[RecordKey, bytes | None]:  # fmt: skip
    raw = store.get(txn, "undo", entry.hash)
    if raw is None:
        raise ChainCheckError(f"block {entry.height} has no undo record")
    try:
        return decode_undo(bytes(raw))
    except (DecodeError, ValueError) as exc:
        raise ChainCheckError(f"block {entry.height}'s undo record does not decode: {exc}") \
            from None  # fmt: skip


def _root_after(store: ChainStore, txn: lmdb.Transaction, entry: IndexEntry) -> bytes:
    """The root of the state after ``entry``, as recorded when it was connected."""
    raw = store.get(txn, "stateroots", entry.hash)
    if raw is None or len(raw) != 32:
        raise ChainCheckError(f"block {entry.height} has no recorded state root")
    return bytes(raw)


def check_network(store: ChainStore, txn: lmdb.Transaction, params: NetworkParams) -> None:
    stored = store.get(txn, "meta", b"network")
    if stored is None:
        raise ChainCheckError("no network recorded: not a coinium chain")
    name = bytes(stored).decode(errors="replace")
    if name != params.name:
        raise ChainCheckError(f"it holds the {name!r} chain, not {params.name!r}")


def check_linkage(store: ChainStore, txn: lmdb.Transaction, params: NetworkParams,
                  limit: int | None = None) -> IndexEntry:  # fmt: skip
    """The main chain from the tip down to genesis, or ``limit`` blocks of it (see the module
    docstring); returns the tip."""
    check_network(store, txn, params)
    tip = tip_of(store, txn)
    entry = tip
    while True:
        if limit is not None and tip.height - entry.height >= limit:
            return tip
        if store.get(txn, "height", height_key(entry.height)) != entry.hash:
            raise ChainCheckError(f"height {entry.height} does not name block {entry.hash.hex()}")
        _block(store, txn, entry)
        _root_after(store, txn, entry)
        if entry.height == 0:
            break
        _undo(store, txn, entry)
        parent = _entry(store, txn, entry.prev_hash, f"the parent of block {entry.height}")
        if parent.height != entry.height - 1:
            raise ChainCheckError(f"block {entry.height}'s parent is at height {parent.height}")
        parent_root = _root_after(store, txn, parent)
        if entry.header.state_root != parent_root:
            raise ChainCheckError(f"block {entry.height} commits to state root "
                                  f"{entry.header.state_root.hex()}, the root recorded after its "
                                  f"parent is {parent_root.hex()}")  # fmt: skip
        entry = parent
    if entry.hash != params.genesis.hash:
        raise ChainCheckError(f"the chain starts at {entry.hash.hex()}, not at {params.name}'s "
                              "genesis")  # fmt: skip
    return tip


def check_tip_root(store: ChainStore, txn: lmdb.Transaction, tip: IndexEntry) -> bytes:
    """The state tree's root is the root recorded after the tip; returns it."""
    tree_root = store.state_tree.root(txn)
    recorded = _root_after(store, txn, tip)
    if tree_root != recorded:
        raise ChainCheckError(f"the state tree's root {tree_root.hex()} is not the root "
                              f"recorded after the tip, {recorded.hex()}")  # fmt: skip
    return tree_root


def check_state_root(store: ChainStore, txn: lmdb.Transaction, tip: IndexEntry) -> None:
    """The state tree's root is the root recorded after the tip, and every record of every
    namespace rebuilds to it (from scratch, `root_of_records`). Reads the whole state: its time
    grows with the number of records."""
    tree_root = check_tip_root(store, txn, tip)
    by_path: dict[bytes, tuple[RecordKey, bytes]] = {}  # path -> (record, value hash)
    for stored_key, value in store.cursor(txn, "state"):
        record = split_record_key(bytes(stored_key))
        by_path[record_path(*record)] = (record, value_hash(bytes(value)))
    rebuilt = root_of_records((path, vh) for path, (_, vh) in by_path.items())
    if rebuilt != tree_root:
        raise ChainCheckError(f"the state records rebuild to root {rebuilt.hex()}, the state "
                              f"tree's root is {tree_root.hex()}: "
                              f"{_first_difference(store, txn, by_path)}")  # fmt: skip


def _first_difference(store: ChainStore, txn: lmdb.Transaction,
                      records: dict[bytes, tuple[RecordKey, bytes]]) -> str:  # fmt: skip
    """Name a record the tree does not hold as it is (or a leaf no record has)."""
    tree: dict[bytes, bytes] = {}
    for _, value in store.cursor(txn, "state_tree"):
        if len(value) == _LEAF_SIZE:
            tree[bytes(value[1:33])] = bytes(value[33:])
    for path, (record, vh) in sorted(records.items()):
        if tree.get(path) != vh:
            return f"{_name(record)} is not in the state tree as stored (forged or damaged)"
    extra = sorted(tree.keys() - records.keys())
    if extra:
        return f"the state tree has a leaf at path {extra[0].hex()} that no record has"
    return "the tree's inner nodes do not hash to its leaves"


def _name(record: RecordKey) -> str:
    namespace, key = record
    if namespace == NS_ACCOUNT:
        return f"account {key.hex()}"
    return f"record {namespace:#04x}:{key.hex()}"


def _show(record: RecordKey, value: bytes | None) -> str:
    if value is None:
        return "absent"
    if record[0] == NS_ACCOUNT and len(value) == 16:
        return str(Account.decode(value))
    return value.hex()


# --- the replay ----------------------------------------------------------------------------------
class _Replayed(Exception):
    """Raised at the end of the replay, so that its write transaction is aborted."""

    def __init__(self, checked: int):
        super().__init__(checked)
        self.checked = checked


def check_recent(store: ChainStore, params: NetworkParams, nblocks: int) -> int:
    """Replay the last ``nblocks`` blocks' undo records back and the blocks forward again, on the
    records and the state tree (see the module docstring); returns how many blocks were checked.
    Runs in a write transaction that is aborted: nothing is written."""

    def replay(txn: lmdb.Transaction) -> None:
        raise _Replayed(_replay(store, txn, params, nblocks))

    try:
        store.write(replay)
    except _Replayed as done:
        return done.checked
    raise AssertionError("unreachable: the replay always ends with _Replayed")


def _replay(store: ChainStore, txn: lmdb.Transaction, params: NetworkParams,
            nblocks: int) -> int:  # fmt: skip
    tree = store.state_tree
    view = store.state_view(txn)
    entries: list[IndexEntry] = []  # tip first
    entry = tip_of(store, txn)
    while entry.height > 0 and len(entries) < nblocks:
        entries.append(entry)
        entry = _entry(store, txn, entry.prev_hash, f"the parent of block {entry.height}")
    undos = [_undo(store, txn, entry) for entry in entries]
    stored = {record: view.get(*record) for undo in undos for record in undo}
    stored_root = tree.root(txn)
    try:
        # Back: each undo record must give back the state its block's header commits to.
        for entry, undo in zip(entries, undos, strict=True):
            _write_records(store, txn, undo.items())
            root = tree.root(txn)
            if root != entry.header.state_root:
                raise ChainCheckError(f"undoing block {entry.height} gives state root "
                                      f"{root.hex()}, its header commits to "
                                      f"{entry.header.state_root.hex()}")  # fmt: skip
        # Forward: each block must apply, give back its own undo record and the recorded root.
        for entry, undo in zip(reversed(entries), reversed(undos), strict=True):
            block = _block(store, txn, entry)
            try:
                check_block(block, params.chain_id)  # body and signatures
                header_rules.check_state_root(block.header, tree.root(txn))
                delta = apply_block(block, view, params)
            except ConsensusError as exc:
                raise ChainCheckError(f"block {entry.height} no longer applies: {exc}") from None
            if delta.old != undo:
                raise ChainCheckError(f"block {entry.height}'s undo record is not what the block "
                                      "changes")  # fmt: skip
            _write_records(store, txn, [(record, value) for record, value in delta.new.items()
                                        if undo[record] != value])  # fmt: skip
            root, recorded = tree.root(txn), _root_after(store, txn, entry)
            if root != recorded:
                raise ChainCheckError(f"block {entry.height} gives state root {root.hex()}, the "
                                      f"root recorded after it is {recorded.hex()}")  # fmt: skip
    except (DecodeError, ValueError) as exc:  # a damaged record or tree entry
        raise ChainCheckError(f"the state cannot be replayed: {exc}") from None
    for record, value in sorted(stored.items()):
        replayed = view.get(*record)
        if replayed != value:
            raise ChainCheckError(f"{_name(record)} is stored as {_show(record, value)}, the "
                                  f"blocks give {_show(record, replayed)}")  # fmt: skip
    if tree.root(txn) != stored_root:
        raise ChainCheckError("the replayed blocks give the stored records but another state "
                              "root")  # fmt: skip
    return len(entries)


def _write_records(store: ChainStore, txn: lmdb.Transaction,
                   records: Iterable[tuple[RecordKey, bytes | None]]) -> None:  # fmt: skip
    """Set records (None: delete) and their state tree leaves, as a connect or disconnect does."""
    records = sorted(records, key=_by_record)
    store.put_many(txn, "state", [(record_key(*record), value)
                                  for record, value in records if value is not None])  # fmt: skip
    for record, value in records:
        if value is None:
            store.delete(txn, "state", record_key(*record))
    store.state_tree.apply(txn, tree_changes(records))
