"""The state tree stored in LMDB: the sparse Merkle tree of coinium/crypto/state_proof.py.

Nodes are keyed by their position (depth and path prefix), not by hash, so a node is overwritten
in place and the database holds exactly the current tree. Layout of the named database:

    key    depth (1 byte, 256 wraps to 0) || the prefix's bits packed big-endian, the unused low
           bits of the last byte zero (ceil(depth / 8) bytes); the root's key is b"\\x00".
           Depth first: the descent and the writes of an update go one depth at a time in
           prefix order, so each walks its depth's part of the database in key order (this
           measured no slower than prefix-first keys, which keep a subtree's nodes together).
    value  internal node: left child hash || right child hash                      (64 bytes)
           leaf:          0x01 || path || value_hash                               (65 bytes)

An empty subtree has no entry. A parent stores its children's hashes, so an update reads only
the nodes on the touched paths and a proof reads one node per level.

The shape is canonical: the entries are a function of the set of (path, value_hash) records
alone, whatever the order of the updates that produced it (a leaf sits at the shallowest depth
where no other path shares its prefix, and a deletion that leaves one leaf in a subtree pulls it
back up). So a block is undone by applying the inverse changes (each touched path's old value
hash, or None where the block created the record): the database returns to the same bytes.

`apply` goes in two passes: the changes that keep the shape (new values for existing records;
in C with the cython backend, also a new record that only splits one leaf or fills one empty
place) in a fast one, then the rest (deletions and their collapses, several new records meeting)
in the general one. Each hashes one depth of its touched nodes per kernel call (`keyed_hash64`),
deepest first. The canonical shape makes the split invisible in the result.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Mapping

import lmdb

from coinium import kernels

try:  # the fast path in C (_ext/state_fast.pyx), taken with the cython kernel backend
    from coinium.store import _state_fast
except ImportError:  # not built: _update_values below does the same in Python
    _state_fast = None
    if kernels.BACKEND == "cython":  # the kernels built but not this: say so, do not hide it
        logging.getLogger("coinium.kernels").warning(
            "the state tree's compiled update (coinium.store._state_fast) is missing: updating "
            "in Python; reinstall to build it")
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

_LEAF_TAG = b"\x01"
_LEAF_SIZE = 1 + 2 * HASH_SIZE
_NODE_SIZE = 2 * HASH_SIZE


def node_key(depth: int, prefix: int) -> bytes:
    """The database key of the position at `depth` whose path starts with the bits `prefix`."""
    size = (depth + 7) >> 3
    return bytes((depth & 0xFF,)) + (prefix << ((size << 3) - depth)).to_bytes(size, "big")


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
            if len(value) != _NODE_SIZE:
                _check_leaf(value, depth, target >> (PATH_BITS - depth))
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
        paths = list(changes)
        values = list(changes.values())
        # type and size checks as C-level loops: this runs once per block on every touched record
        if set(map(type, paths)) != {bytes} or set(map(len, paths)) != {HASH_SIZE}:
            raise ValueError("a state path is 32 bytes")
        present = [value for value in values if value is not None]
        if set(map(type, present)) - {bytes} or set(map(len, present)) - {HASH_SIZE}:
            raise ValueError("a value hash is 32 bytes (or None to delete the record)")
        paths = sorted(paths)  # 32-byte big-endian paths: byte order is bit order
        values = list(map(changes.__getitem__, paths))
        if _state_fast is not None and kernels.BACKEND == "cython":
            reshaping = _update_values_compiled(txn, self.db, paths, values)
        else:
            batch = [
                (int.from_bytes(path, "big"), path, vh)
                for path, vh in zip(paths, values, strict=True)
            ]
            reshaping = _update_values(txn, self.db, batch)
        if reshaping:
            _update(txn, self.db, reshaping)


class CorruptTreeError(ValueError):
    """An entry of the tree's database is neither a node nor a leaf of its position."""


def _check_leaf(value: bytes, depth: int, prefix: int) -> None:
    """Refuse an entry that is not a leaf lying under its own position (a damaged database)."""
    if (
        len(value) != _LEAF_SIZE
        or value[:1] != _LEAF_TAG
        or int.from_bytes(value[1:33], "big") >> (PATH_BITS - depth) != prefix
    ):
        raise CorruptTreeError(f"state tree entry at depth {depth} is corrupt ({len(value)} bytes)")


def _hash_of_entry(value: bytes) -> bytes:
    if len(value) == _LEAF_SIZE:
        return leaf_hash(value[1:33], value[33:65])
    return node_hash(value[:32], value[32:64])


def _key_parts(depth: int) -> tuple[bytes, int, int]:
    """(first key byte, left shift, prefix bytes) of the keys at `depth` (see node_key)."""
    size = (depth + 7) >> 3
    return bytes((depth & 0xFF,)), (size << 3) - depth, size


def _update_values_compiled(txn: lmdb.Transaction, db, paths: list, values: list) -> list:
    """The C fast path (_ext/state_fast.pyx) over sorted paths and their value hashes: what
    _update_values takes, and also a new record alone in an empty subtree or meeting one other
    record's leaf. Returns the rest as _update's sorted (path_int, path, value_hash) batch."""
    rest = []
    if None in values:  # deletions: all for the general update
        rest = [(p, v) for p, v in zip(paths, values, strict=True) if v is None]
        kept = [(p, v) for p, v in zip(paths, values, strict=True) if v is not None]
        paths, values = [p for p, _ in kept], [v for _, v in kept]
    if paths:
        puts, skipped = _state_fast.update_values(
            txn.get, db, b"".join(paths), b"".join(values), STATE_NODE_KEY, STATE_LEAF_KEY
        )
        if puts:
            puts.sort()
            with txn.cursor(db=db) as cursor:
                cursor.putmulti(puts)
        rest.extend((paths[i], values[i]) for i in skipped)
    return sorted((int.from_bytes(path, "big"), path, vh) for path, vh in rest)


def _update_values(txn: lmdb.Transaction, db, batch: list) -> list:
    """The fast path: the changes that give an existing record a new value (the shape stays).

    Descends like `_update`, but a position is only ever a stored node or the changed record's
    own leaf: every other change (a new record, a deletion, several changes meeting at a leaf)
    is left out here and returned, for `_update` to apply afterwards. Without collapses and new
    subtrees, a node's children are found by list index instead of by prefix, and each depth is
    one keyed_hash64 call for its nodes and one for its leaves. The result does not depend on
    the split: the shape is canonical, so applying disjoint changes one set after the other
    gives the same tree as applying them together.
    """
    get = txn.get
    deferred = [item for item in batch if item[2] is None]
    if deferred:
        batch = [item for item in batch if item[2] is not None]
    ints = [item[0] for item in batch]
    # per depth: (key, left, right, left child's index below, right child's index below);
    # left is None for a leaf, right then its change
    levels: list[list] = []
    stored = [(0, 0, len(batch), None)]  # (prefix, lo, hi, stored hash of this position)
    depth = 0
    while stored:
        head, pad, size = _key_parts(depth)
        shift = PATH_BITS - 1 - depth
        nodes: list = []
        below: list[tuple[int, int, int, bytes | None]] = []
        for prefix, lo, hi, stored_hash in stored:
            if stored_hash == EMPTY:  # the changes lead into an empty subtree: new records
                deferred.extend(batch[lo:hi])
                nodes.append(None)
                continue
            key = head + (prefix << pad).to_bytes(size, "big")
            value = get(key, None, db)
            if value is None:  # the empty tree
                deferred.extend(batch[lo:hi])
                nodes.append(None)
                continue
            if len(value) == _NODE_SIZE:
                left, right = value[:32], value[32:]
                child = prefix << 1
                if hi - lo == 1:  # one path below: no search needed
                    if (ints[lo] >> shift) & 1:
                        nodes.append((key, left, right, -1, len(below)))
                        below.append((child | 1, lo, hi, right))
                    else:
                        nodes.append((key, left, right, len(below), -1))
                        below.append((child, lo, hi, left))
                    continue
                mid = bisect.bisect_left(ints, (child | 1) << shift, lo, hi)
                left_index = right_index = -1
                if mid > lo:
                    left_index = len(below)
                    below.append((child, lo, mid, left))
                if hi > mid:
                    right_index = len(below)
                    below.append((child | 1, mid, hi, right))
                nodes.append((key, left, right, left_index, right_index))
                continue
            if hi - lo == 1 and value[1:33] == batch[lo][1] and value[0] == 1 and len(value) == 65:
                nodes.append((key, None, batch[lo], -1, -1))  # (its path is under this prefix)
            else:  # a new record meets another's leaf here
                _check_leaf(value, depth, prefix)
                deferred.extend(batch[lo:hi])
                nodes.append(None)
        levels.append(nodes)
        stored = below
        depth += 1

    hash_blocks = kernels.keyed_hash64
    puts: list[tuple[bytes, bytes]] = []
    below_hashes: list[bytes | None] = []
    for nodes in reversed(levels):
        hashes: list[bytes | None] = [None] * len(nodes)  # None: left as it is
        node_at, node_blocks, leaf_at, leaf_blocks = [], [], [], []
        for i, node in enumerate(nodes):
            if node is None:
                continue
            key, left, right, left_index, right_index = node
            if left is None:  # the changed record's leaf
                leaf_at.append(i)
                leaf_blocks.append(right[1] + right[2])
                puts.append((key, _LEAF_TAG + right[1] + right[2]))
                continue
            if left_index >= 0:
                left = below_hashes[left_index] or left
            if right_index >= 0:
                right = below_hashes[right_index] or right
            block = left + right
            node_at.append(i)
            node_blocks.append(block)
            puts.append((key, block))
        for i, digest in zip(node_at, hash_blocks(STATE_NODE_KEY, node_blocks), strict=True):
            hashes[i] = digest
        for i, digest in zip(leaf_at, hash_blocks(STATE_LEAF_KEY, leaf_blocks), strict=True):
            hashes[i] = digest
        below_hashes = hashes
    if puts:
        puts.sort()
        with txn.cursor(db=db) as cursor:
            cursor.putmulti(puts)
    deferred.sort()
    return deferred


def _update(txn: lmdb.Transaction, db, batch: list) -> None:
    """One `apply`: descend the touched paths depth by depth, then rehash and write bottom up.

    The descent reads every stored node on a touched path, in key order. A touched position is
    either a stored internal node, recorded as (prefix, left, right) with its stored child hashes,
    or a "terminal": a position that held a leaf or nothing, or lies below one, recorded as
    (prefix, leaves, existed) with the sorted (path_int, path, value_hash) records its subtree
    holds after the update (two or more make it a fresh internal node with fresh children). The
    ascent then gives each position its new hash, one keyed_hash64 call per depth for the nodes,
    and decides each child's entry once its parent's kind is known.
    """
    get = txn.get
    ints = [item[0] for item in batch]
    internal_levels: list[list[tuple[int, bytes, bytes]]] = []
    terminal_levels: list[list[tuple[int, list, bool]]] = []
    stored = [(0, 0, len(batch))]  # (prefix, lo, hi): a stored position, its slice of changes
    fresh: list[tuple[int, list]] = []  # (prefix, leaves): a position below a leaf or an empty one
    depth = 0
    while stored or fresh:
        internal: list[tuple[int, bytes, bytes]] = []
        terminal: list[tuple[int, list, bool]] = []
        internal_levels.append(internal)
        terminal_levels.append(terminal)
        shift = PATH_BITS - 1 - depth
        head, pad, size = _key_parts(depth)
        next_stored: list[tuple[int, int, int]] = []
        next_fresh: list[tuple[int, list]] = []
        for prefix, lo, hi in stored:
            value = get(head + (prefix << pad).to_bytes(size, "big"), None, db)
            if value is not None and len(value) == _NODE_SIZE:
                internal.append((prefix, value[:32], value[32:]))
                child = prefix << 1
                if hi - lo == 1:  # one path below: no search needed
                    next_stored.append((child | ((ints[lo] >> shift) & 1), lo, hi))
                    continue
                mid = bisect.bisect_left(ints, (child | 1) << shift, lo, hi)
                if mid > lo:
                    next_stored.append((child, lo, mid))
                if hi > mid:
                    next_stored.append((child | 1, mid, hi))
                continue
            leaves = [item for item in batch[lo:hi] if item[2] is not None]
            if value is not None:  # an old leaf: it stays unless a change names its path
                _check_leaf(value, depth, prefix)
                old_path = value[1:33]
                old_int = int.from_bytes(old_path, "big")
                i = bisect.bisect_left(ints, old_int, lo, hi)
                if i == hi or ints[i] != old_int:
                    bisect.insort(leaves, (old_int, old_path, value[33:65]))
            terminal.append((prefix, leaves, value is not None))
            _split_fresh(prefix, leaves, shift, next_fresh)
        for prefix, leaves in fresh:
            terminal.append((prefix, leaves, False))
            _split_fresh(prefix, leaves, shift, next_fresh)
        stored, fresh = next_stored, next_fresh
        depth += 1
    _ascend_and_write(txn, db, internal_levels, terminal_levels)


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


# What the ascent knows of a touched position: (hash, new entry or None, had an entry, lone leaf
# (path, value_hash) or None).
_Info = tuple[bytes, "bytes | None", bool, "tuple[bytes, bytes] | None"]


def _settle(
    child_prefix: int, info: _Info | None, parent_is_node: bool, puts: list, drops: list
) -> None:
    """A touched child's entry, once its parent's kind is known: kept under a node, else gone."""
    if info is None:
        return
    if parent_is_node and info[1] is not None:
        puts.append((child_prefix, info[1]))
    elif info[2]:
        drops.append(child_prefix)


def _ascend_and_write(txn, db, internal_levels: list, terminal_levels: list) -> None:
    """New hashes from the deepest depth up; every child's entry written once its parent's known."""
    hash_blocks = kernels.keyed_hash64
    puts: list[tuple[bytes, bytes]] = []
    deletes: list[bytes] = []
    below: dict[int, _Info] = {}
    for depth in range(len(internal_levels) - 1, -1, -1):
        head, pad, size = _key_parts(depth + 1)  # of the children's keys

        child_puts: list[tuple[int, bytes]] = []  # children's entries, settled below
        child_drops: list[int] = []
        level: dict[int, _Info] = {}
        pending: list[tuple[int, bytes, bytes, bool]] = []  # nodes to hash: prefix, left, right
        for prefix, left, right in internal_levels[depth]:
            c0 = below.get(prefix << 1)
            c1 = below.get((prefix << 1) | 1)
            if c0 is not None:
                left = c0[0]
            if c1 is not None:
                right = c1[0]
            if left != EMPTY and right != EMPTY:  # the common case, _settle written out
                pending.append((prefix, left, right, True))
                if c0 is not None:
                    if c0[1] is not None:
                        child_puts.append((prefix << 1, c0[1]))
                    elif c0[2]:
                        child_drops.append(prefix << 1)
                if c1 is not None:
                    if c1[1] is not None:
                        child_puts.append(((prefix << 1) | 1, c1[1]))
                    elif c1[2]:
                        child_drops.append((prefix << 1) | 1)
                continue
            # one side (or both) is empty: a lone leaf on the other side moves up into this node
            side, info = ((prefix << 1) | 1, c1) if left == EMPTY else (prefix << 1, c0)
            lone = None
            if left != right:  # not both empty
                if info is not None:
                    lone = info[3]
                else:  # the untouched side: read it (only after a deletion)
                    key = head + (side << pad).to_bytes(size, "big")
                    value = txn.get(key, None, db)
                    if value is not None and len(value) == _LEAF_SIZE:
                        lone = (value[1:33], value[33:65])
                        deletes.append(key)
            _settle(prefix << 1, c0, lone is None and left != right, child_puts, child_drops)
            _settle((prefix << 1) | 1, c1, lone is None and left != right, child_puts, child_drops)
            if left == right:  # both empty
                level[prefix] = (EMPTY, None, True, None)
            elif lone is not None:
                digest = left if right == EMPTY else right
                level[prefix] = (digest, _LEAF_TAG + lone[0] + lone[1], True, lone)
            else:
                pending.append((prefix, left, right, True))
        singles = []  # terminals left with one record: that record's leaf, hashed together
        for prefix, leaves, existed in terminal_levels[depth]:
            if not leaves:
                level[prefix] = (EMPTY, None, existed, None)
            elif len(leaves) == 1:
                singles.append((prefix, leaves[0][1], leaves[0][2], existed))
            else:
                c0 = below.get(prefix << 1)
                c1 = below.get((prefix << 1) | 1)
                _settle(prefix << 1, c0, True, child_puts, child_drops)
                _settle((prefix << 1) | 1, c1, True, child_puts, child_drops)
                pending.append((prefix, c0[0] if c0 else EMPTY, c1[0] if c1 else EMPTY, existed))
        if singles:
            digests = hash_blocks(STATE_LEAF_KEY, [t[1] + t[2] for t in singles])
            for (prefix, path, vh, existed), digest in zip(singles, digests, strict=True):
                level[prefix] = (digest, _LEAF_TAG + path + vh, existed, (path, vh))
        for child_prefix, value in child_puts:
            puts.append((head + (child_prefix << pad).to_bytes(size, "big"), value))
        for child_prefix in child_drops:
            deletes.append(head + (child_prefix << pad).to_bytes(size, "big"))
        if pending:
            digests = hash_blocks(STATE_NODE_KEY, [p[1] + p[2] for p in pending])
            for (prefix, left, right, existed), digest in zip(pending, digests, strict=True):
                level[prefix] = (digest, left + right, existed, None)
        below = level
    root = below.get(0)
    if root is not None:
        if root[1] is not None:
            puts.append((node_key(0, 0), root[1]))
        elif root[2]:
            deletes.append(node_key(0, 0))
    for key in deletes:
        txn.delete(key, None, db)
    if puts:
        puts.sort()
        with txn.cursor(db=db) as cursor:
            cursor.putmulti(puts)
