"""The state tree stored in LMDB: the sparse Merkle tree of coinium/crypto/state_proof.py.

Nodes are keyed by their position (depth and path prefix), not by hash, so a node is overwritten
in place and the database holds exactly the current tree. Layout of the named database:

    key    depth (1 byte, 256 wraps to 0) || the prefix's bits packed big-endian, the unused low
           bits of the last byte zero (ceil(depth / 8) bytes); the root's key is b"\\x00"
    value  internal node: left child hash || right child hash                      (64 bytes)
           leaf:          0x01 || path || value_hash                               (65 bytes)

An empty subtree has no entry. A parent stores its children's hashes, so an update reads only
the nodes on the touched paths and a proof reads one node per level.

The shape is canonical: the entries are a function of the set of (path, value_hash) records
alone, whatever the order of the updates that produced it (a leaf sits at the shallowest depth
where no other path shares its prefix, and a deletion that leaves one leaf in a subtree pulls it
back up). So a block is undone by applying the inverse changes (each touched path's old value
hash, or None where the block created the record): the database returns to the same bytes.

`apply` hashes one depth of the touched nodes per kernel call (`keyed_hash64`), deepest first.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping

import lmdb

from coinium.crypto.state_proof import (
    EMPTY,
    HASH_SIZE,
    PATH_BITS,
    STATE_LEAF_KEY,
    STATE_NODE_KEY,
    StateProof,
    leaf_hash,
    node_hash,
)
from coinium.kernels import keyed_hash64

_LEAF_TAG = b"\x01"
_LEAF_SIZE = 1 + 2 * HASH_SIZE
_NODE_SIZE = 2 * HASH_SIZE

# Result kinds of a position after an update.
_EMPTY, _LEAF, _NODE = 0, 1, 2


def node_key(depth: int, prefix: int) -> bytes:
    """The database key of the position at `depth` whose path starts with the bits `prefix`."""
    size = (depth + 7) >> 3
    return bytes((depth & 0xFF,)) + (prefix << ((size << 3) - depth)).to_bytes(size, "big")


def _leaf_value(path: bytes, vh: bytes) -> bytes:
    return _LEAF_TAG + path + vh


class StateTree:
    """The state tree in one named database of an LMDB environment.

    ``__init__`` opens (creating if needed) the database `name` in `env`, so the environment must
    have been opened with a free ``max_dbs`` slot for it, and no write transaction of this thread
    may be open at the time. Every other method works inside a transaction the caller owns:
    `apply` inside the block's own write transaction, so the tree commits or aborts with it.
    """

    def __init__(self, env: lmdb.Environment, name: bytes = b"state_tree") -> None:
        self.env = env
        self.db = env.open_db(name)

    # --- reads ----------------------------------------------------------------------------------
    def root(self, txn: lmdb.Transaction) -> bytes:
        """The root hash of the stored state (32 zero bytes when it holds no record)."""
        value = txn.get(node_key(0, 0), db=self.db)
        if value is None:
            return EMPTY
        return _hash_of_entry(bytes(value))

    def node_count(self, txn: lmdb.Transaction) -> int:
        """Entries in the tree's database (internal nodes plus leaves)."""
        return txn.stat(self.db)["entries"]

    def prove(self, txn: lmdb.Transaction, path: bytes) -> StateProof:
        """The proof of `path`'s record, or of its absence, against root(txn)."""
        path = bytes(path)
        if len(path) != HASH_SIZE:
            raise ValueError("a state path is 32 bytes")
        target = int.from_bytes(path, "big")
        siblings: list[bytes] = []
        get = txn.get
        db = self.db
        depth = 0
        while True:
            value = get(node_key(depth, target >> (PATH_BITS - depth)), db=db)
            if value is None:  # an empty position: only the empty tree's root has none
                return StateProof(path, tuple(siblings), None)
            if len(value) == _LEAF_SIZE:
                other, other_vh = bytes(value[1:33]), bytes(value[33:65])
                leaf = None if other == path else (other, other_vh)
                return StateProof(path, tuple(siblings), leaf)
            bit = (target >> (PATH_BITS - 1 - depth)) & 1
            left, right = bytes(value[:32]), bytes(value[32:64])
            siblings.append(left if bit else right)
            depth += 1
            if (right if bit else left) == EMPTY:  # the path leads into an empty subtree
                return StateProof(path, tuple(siblings), None)

    # --- the update -----------------------------------------------------------------------------
    def apply(self, txn: lmdb.Transaction, changes: Mapping[bytes, bytes | None]) -> None:
        """Set each path's value hash (None deletes the record), inside the write txn `txn`.

        Deleting an absent path and setting a path to the value it has change nothing.
        """
        if not changes:
            return
        batch = []
        for path, vh in changes.items():
            if not isinstance(path, bytes) or len(path) != HASH_SIZE:
                raise ValueError("a state path is 32 bytes")
            if vh is not None and (not isinstance(vh, bytes) or len(vh) != HASH_SIZE):
                raise ValueError("a value hash is 32 bytes (or None to delete the record)")
            batch.append((int.from_bytes(path, "big"), path, vh))
        batch.sort()
        _Update(txn, self.db, batch).run()


def _hash_of_entry(value: bytes) -> bytes:
    if len(value) == _LEAF_SIZE:
        return leaf_hash(value[1:33], value[33:65])
    return node_hash(value[:32], value[32:64])


class _Update:
    """One `apply`: descend the touched paths depth by depth, then rehash and write bottom up.

    Every touched position gets a record in levels[depth][prefix]:
      [state, left, right, leaves, result_kind, result_hash, result_leaf, existed]
    state "internal": a stored internal node (left/right: its stored child hashes);
    state "terminal": a position that held a leaf or nothing, or lies below one; `leaves` is the
    sorted list of (path_int, path, value_hash) records its subtree holds after the update.
    """

    def __init__(self, txn: lmdb.Transaction, db, batch: list) -> None:
        self.txn = txn
        self.db = db
        self.batch = batch
        self.ints = [item[0] for item in batch]
        self.levels: list[dict[int, list]] = []
        self.delete_keys: list[bytes] = []

    def run(self) -> None:
        self._descend()
        self._hash_new_leaves()
        self._ascend()
        self._write()

    # positions --------------------------------------------------------------------------------
    def _descend(self) -> None:
        """Read every stored node on a touched path; lay out the new subtrees below old leaves."""
        get = self.txn.get
        db = self.db
        batch, ints = self.batch, self.ints
        # (prefix, lo, hi): a stored position and the slice of changes below it
        stored = [(0, 0, len(batch))]
        # (prefix, leaves): a position below a leaf or an empty one, with its new records
        fresh: list[tuple[int, list]] = []
        depth = 0
        while stored or fresh:
            level: dict[int, list] = {}
            self.levels.append(level)
            shift = PATH_BITS - 1 - depth
            next_stored = []
            next_fresh = []
            for prefix, lo, hi in stored:
                value = get(node_key(depth, prefix), db=db)
                if value is not None and len(value) == _NODE_SIZE:
                    value = bytes(value)
                    level[prefix] = ["internal", value[:32], value[32:], None, 0, b"", None, True]
                    boundary = ((prefix << 1) | 1) << shift
                    mid = bisect.bisect_left(ints, boundary, lo, hi)
                    if mid > lo:
                        next_stored.append((prefix << 1, lo, mid))
                    if hi > mid:
                        next_stored.append(((prefix << 1) | 1, mid, hi))
                    continue
                leaves = [item for item in batch[lo:hi] if item[2] is not None]
                if value is not None:  # an old leaf: it stays unless a change names its path
                    old_path = bytes(value[1:33])
                    old_int = int.from_bytes(old_path, "big")
                    i = bisect.bisect_left(ints, old_int, lo, hi)
                    if i == hi or ints[i] != old_int:
                        bisect.insort(leaves, (old_int, old_path, bytes(value[33:65])))
                level[prefix] = ["terminal", None, None, leaves, 0, b"", None, value is not None]
                self._split_fresh(prefix, leaves, shift, next_fresh)
            for prefix, leaves in fresh:
                level[prefix] = ["terminal", None, None, leaves, 0, b"", None, False]
                self._split_fresh(prefix, leaves, shift, next_fresh)
            stored, fresh = next_stored, next_fresh
            depth += 1

    @staticmethod
    def _split_fresh(prefix: int, leaves: list, shift: int, out: list) -> None:
        """A terminal with two or more records becomes an internal node: its children are fresh."""
        if len(leaves) < 2:
            return
        left = [item for item in leaves if not (item[0] >> shift) & 1]
        right = leaves[len(left) :]
        if left:
            out.append((prefix << 1, left))
        if right:
            out.append(((prefix << 1) | 1, right))

    def _hash_new_leaves(self) -> None:
        """Every terminal that ends with exactly one record is that record's leaf: hash them all."""
        singles = [
            entry for level in self.levels for entry in level.values()
            if entry[0] == "terminal" and len(entry[3]) == 1
        ]  # fmt: skip
        hashes = keyed_hash64(STATE_LEAF_KEY, [e[3][0][1] + e[3][0][2] for e in singles])
        for entry, digest in zip(singles, hashes, strict=True):
            entry[4] = _LEAF
            entry[5] = digest
            entry[6] = (entry[3][0][1], entry[3][0][2])

    def _ascend(self) -> None:
        """Results from the deepest level up: one keyed_hash64 call per level for its nodes."""
        below: dict[int, list] = {}
        for depth in range(len(self.levels) - 1, -1, -1):
            level = self.levels[depth]
            pending = []
            for prefix, entry in level.items():
                if entry[0] == "terminal":
                    if len(entry[3]) >= 2:
                        left = below.get(prefix << 1)
                        right = below.get((prefix << 1) | 1)
                        entry[1] = left[5] if left else EMPTY
                        entry[2] = right[5] if right else EMPTY
                        entry[4] = _NODE
                        pending.append(entry)
                    elif not entry[3]:
                        entry[4], entry[5] = _EMPTY, EMPTY
                    continue
                self._combine(depth, prefix, entry, below, pending)
            hashes = keyed_hash64(STATE_NODE_KEY, [e[1] + e[2] for e in pending])
            for entry, digest in zip(pending, hashes, strict=True):
                entry[5] = digest
            below = level

    def _combine(self, depth: int, prefix: int, entry: list, below: dict, pending: list) -> None:
        """The new state of a stored internal node from its children's."""
        left = below.get(prefix << 1)
        right = below.get((prefix << 1) | 1)
        left_hash = left[5] if left else entry[1]
        right_hash = right[5] if right else entry[2]
        entry[1], entry[2] = left_hash, right_hash
        if left_hash == EMPTY and right_hash == EMPTY:
            entry[4], entry[5] = _EMPTY, EMPTY
            return
        if left_hash == EMPTY or right_hash == EMPTY:  # one child left: a lone leaf moves up
            child, child_prefix = (
                (right, (prefix << 1) | 1) if left_hash == EMPTY else (left, prefix << 1)
            )
            leaf = self._lone_leaf(depth + 1, child_prefix, child)
            if leaf is not None:
                entry[4], entry[5], entry[6] = _LEAF, leaf[0], leaf[1]
                return
        entry[4] = _NODE
        pending.append(entry)

    def _lone_leaf(self, depth: int, prefix: int, child: list | None):
        """(hash, (path, value_hash)) if the non-empty child is a leaf, else None."""
        if child is not None:
            return (child[5], child[6]) if child[4] == _LEAF else None
        key = node_key(depth, prefix)  # untouched: read it (only after a deletion)
        value = self.txn.get(key, db=self.db)
        if value is None or len(value) != _LEAF_SIZE:
            return None
        value = bytes(value)
        self.delete_keys.append(key)  # it moves up into its parent's position
        path, vh = value[1:33], value[33:65]
        return leaf_hash(path, vh), (path, vh)

    def _write(self) -> None:
        """Put every touched position that ends as a stored node; delete the ones that do not."""
        puts = []
        deletes = self.delete_keys
        parent_level: dict[int, list] | None = None
        for depth, level in enumerate(self.levels):
            for prefix, entry in level.items():
                kind = entry[4]
                if parent_level is not None and parent_level[prefix >> 1][4] == _LEAF:
                    kind = _EMPTY  # its one leaf moved up into the parent
                if kind == _EMPTY:
                    if entry[7]:
                        deletes.append(node_key(depth, prefix))
                elif kind == _LEAF:
                    puts.append((node_key(depth, prefix), _leaf_value(*entry[6])))
                else:
                    puts.append((node_key(depth, prefix), entry[1] + entry[2]))
            parent_level = level
        delete = self.txn.delete
        for key in deletes:
            delete(key, db=self.db)
        if puts:
            puts.sort()
            with self.txn.cursor(db=self.db) as cursor:
                cursor.putmulti(puts)
