# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The state tree's fast path in C (coinium/store/state_tree.py): changed and new records.

`update_values` is `_update_values` of state_tree.py, which stays the readable reference and the
path the python kernel backend takes; tests compare the bytes both leave in the database. It
reads the tree through the `get` it is handed (a py-lmdb Transaction.get) and returns the
entries to write, so no LMDB handle is used from C; the per-node bookkeeping (keys, splitting the
sorted paths by bit, child hashes, the blocks to hash) is plain C, and each depth's nodes and
leaves are hashed by coinium_keyed_hash64 (the Merkle kernel's lanes), one call each.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcmp, memcpy, memset

cdef extern from "blake3_kernels.h" nogil:
    void coinium_keyed_hash64(const uint8_t *blocks, size_t n, const uint8_t *key, uint8_t *out)

cdef enum:
    SKIPPED = 0  # left to the general path (a deletion, several new records meeting)
    NODE = 1
    LEAF = 2

cdef enum:  # where a position comes from
    STORED = 0     # on the stored tree: read it
    CHAIN = 1      # below a leaf that a new record splits: a new node, no entry yet
    NEW_LEAF = 2   # the new record's leaf, at the end of such a chain
    OLD_LEAF = 3   # the old record's leaf, moved down beside it

cdef struct Position:
    Py_ssize_t lo, hi      # the slice of paths below it
    int state
    int origin             # STORED, CHAIN, NEW_LEAF or OLD_LEAF
    int empty_below        # the parent's stored hash of this position is empty: nothing to read
    Py_ssize_t left, right  # children's indices in the position array, or -1
    Py_ssize_t key_index   # its key in the `keys` list
    int has_hash
    uint8_t block[64]      # stored left || right, then the new left || right
    uint8_t digest[32]     # its new hash
    uint8_t other[64]      # CHAIN, OLD_LEAF: the old record's path || value hash


cdef inline int path_bit(const uint8_t *path, int depth) nogil:
    return (path[depth >> 3] >> (7 - (depth & 7))) & 1


cdef bytes node_key(const uint8_t *path, int depth):
    """state_tree.node_key for the position at `depth` on `path`."""
    cdef uint8_t buf[34]
    cdef int size = (depth + 7) >> 3
    buf[0] = <uint8_t>(depth & 0xFF)
    if size:
        memcpy(buf + 1, path, size)
        if depth & 7:
            buf[size] &= <uint8_t>(0xFF << (8 - (depth & 7)))
    return PyBytes_FromStringAndSize(<char *>buf, size + 1)


cdef class _Positions:
    cdef Position *items
    cdef Py_ssize_t count, capacity

    def __cinit__(self):
        self.capacity = 1024
        self.items = <Position *>malloc(self.capacity * sizeof(Position))
        if self.items == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.items)

    cdef Py_ssize_t add(self, Py_ssize_t lo, Py_ssize_t hi, int empty_below) except -1:
        cdef Position *grown
        if self.count == self.capacity:
            grown = <Position *>realloc(self.items, 2 * self.capacity * sizeof(Position))
            if grown == NULL:
                raise MemoryError()
            self.items = grown
            self.capacity *= 2
        cdef Position *p = &self.items[self.count]
        p.lo, p.hi, p.empty_below = lo, hi, empty_below
        p.state = SKIPPED
        p.origin = STORED
        p.left = p.right = -1
        p.key_index = -1
        p.has_hash = 0
        self.count += 1
        return self.count - 1


cdef inline int same_prefix(const uint8_t *a, const uint8_t *b, int bits) nogil:
    cdef int whole = bits >> 3, rest = bits & 7
    if memcmp(a, b, whole) != 0:
        return 0
    return rest == 0 or ((a[whole] ^ b[whole]) & <uint8_t>(0xFF << (8 - rest))) == 0


cdef int split(_Positions ps, Py_ssize_t i, int depth, const uint8_t *P) except -1:
    """Position i becomes a new node over the new record P[lo] and the old leaf in `other`:
    two leaves below where their paths part at bit `depth`, else one more chain node."""
    cdef Position *p = &ps.items[i]
    cdef Py_ssize_t lo = p.lo, a, b
    cdef uint8_t other[64]
    cdef int new_bit = path_bit(P + 32 * lo, depth)
    memcpy(other, p.other, 64)
    p.state = NODE
    memset(p.block, 0, 64)  # children's hashes are filled in on the way up; a missing one is empty
    if new_bit != path_bit(other, depth):
        a = ps.add(lo, lo + 1, 0)
        ps.items[a].origin = NEW_LEAF
        b = ps.add(lo, lo, 0)
        ps.items[b].origin = OLD_LEAF
        memcpy(ps.items[b].other, other, 64)
        if new_bit:
            ps.items[i].left = b
            ps.items[i].right = a
        else:
            ps.items[i].left = a
            ps.items[i].right = b
    else:
        a = ps.add(lo, lo + 1, 0)
        ps.items[a].origin = CHAIN
        memcpy(ps.items[a].other, other, 64)
        if new_bit:
            ps.items[i].right = a
        else:
            ps.items[i].left = a
    return 0


def update_values(object get, object db, bytes paths, bytes values, bytes node_hash_key,
                  bytes leaf_hash_key):
    """(puts, skipped): the entries to write for the changes this path takes, and the indices of
    the changes left for the general path (applied after these).

    Taken: a new value for an existing record; a new record alone in an empty subtree or meeting
    one other record's leaf (which moves down beside it). Left: several new records meeting
    in one empty subtree or at one leaf (deletions never come here).

    paths: the sorted 32-byte paths concatenated; values: their new value hashes, likewise.
    """
    cdef Py_ssize_t n = PyBytes_GET_SIZE(paths) // 32, i, j, lo, hi, mid, start, end, m
    cdef const uint8_t *P = <const uint8_t *>PyBytes_AS_STRING(paths)
    cdef const uint8_t *V = <const uint8_t *>PyBytes_AS_STRING(values)
    cdef const uint8_t *node_k = <const uint8_t *>PyBytes_AS_STRING(node_hash_key)
    cdef const uint8_t *leaf_k = <const uint8_t *>PyBytes_AS_STRING(leaf_hash_key)
    cdef const uint8_t *raw
    cdef const uint8_t *src
    cdef _Positions positions = _Positions()
    cdef Position *p
    cdef Position *c
    cdef list keys = [], puts = [], skipped = [], level_starts = [0]
    cdef object value
    cdef bytes key
    cdef int depth = 0
    cdef uint8_t *nodes_buf = NULL
    cdef uint8_t *leaves_buf = NULL
    cdef Py_ssize_t *node_at = NULL
    cdef Py_ssize_t *leaf_at = NULL
    cdef Py_ssize_t nn, nl
    cdef uint8_t leaf_value[65]
    cdef uint8_t zeros[32]
    memset(zeros, 0, 32)
    if PyBytes_GET_SIZE(values) != 32 * n or n == 0:
        raise ValueError("update_values: one 32-byte value hash per 32-byte path")
    positions.add(0, n, 0)
    # the descent, one depth at a time: positions [start, end) are this depth's
    start, end = 0, 1
    while start < end:
        for i in range(start, end):
            p = &positions.items[i]
            lo, hi = p.lo, p.hi
            if p.origin != STORED:  # below a split leaf: nothing stored yet, nothing to read
                p.key_index = len(keys)
                src = P + 32 * lo
                if p.origin == OLD_LEAF:
                    src = p.other
                keys.append(node_key(src, depth))
                if p.origin == CHAIN:
                    split(positions, i, depth, P)
                else:
                    p.state = LEAF
                continue
            if p.empty_below:  # an empty subtree: one new record is its leaf, more are not ours
                if hi - lo == 1:
                    p.state = LEAF
                    p.key_index = len(keys)
                    keys.append(node_key(P + 32 * lo, depth))
                continue
            key = node_key(P + 32 * lo, depth)
            value = get(key, None, db)
            if value is None:  # the empty tree (its root)
                if hi - lo == 1:
                    p.state = LEAF
                    p.key_index = len(keys)
                    keys.append(key)
                continue
            raw = <const uint8_t *>PyBytes_AS_STRING(value)
            if PyBytes_GET_SIZE(value) == 64:
                p = &positions.items[i]
                p.state = NODE
                memcpy(p.block, raw, 64)
                p.key_index = len(keys)
                keys.append(key)
                # the first path below whose bit `depth` is 1 (they are sorted)
                mid = lo
                j = hi
                while mid < j:
                    m = (mid + j) >> 1
                    if path_bit(P + 32 * m, depth):
                        j = m
                    else:
                        mid = m + 1
                if mid > lo:
                    j = positions.add(lo, mid, memcmp(positions.items[i].block, zeros, 32) == 0)
                    positions.items[i].left = j
                if hi > mid:
                    j = positions.add(mid, hi,
                                      memcmp(positions.items[i].block + 32, zeros, 32) == 0)
                    positions.items[i].right = j
            elif (PyBytes_GET_SIZE(value) == 65 and hi - lo == 1 and raw[0] == 1
                  and memcmp(raw + 1, P + 32 * lo, 32) == 0):
                p = &positions.items[i]
                p.state = LEAF
                p.key_index = len(keys)
                keys.append(key)
            elif (PyBytes_GET_SIZE(value) == 65 and hi - lo == 1 and raw[0] == 1
                  and same_prefix(raw + 1, P + 32 * lo, depth)):
                # a new record meets another's leaf: a chain of new nodes down to where they part
                p = &positions.items[i]
                p.key_index = len(keys)
                keys.append(key)
                memcpy(p.other, raw + 1, 64)
                split(positions, i, depth, P)
        level_starts.append(end)
        start, end = end, positions.count
        depth += 1
    for i in range(positions.count):
        p = &positions.items[i]
        if p.state == SKIPPED and p.left < 0 and p.right < 0:
            skipped.extend(range(p.lo, p.hi))
    # the ascent: each depth's nodes and leaves hashed in one call each, children first
    nodes_buf = <uint8_t *>malloc(64 * positions.count + 64)
    leaves_buf = <uint8_t *>malloc(64 * positions.count + 64)
    node_at = <Py_ssize_t *>malloc(sizeof(Py_ssize_t) * (positions.count + 1))
    leaf_at = <Py_ssize_t *>malloc(sizeof(Py_ssize_t) * (positions.count + 1))
    try:
        if nodes_buf == NULL or leaves_buf == NULL or node_at == NULL or leaf_at == NULL:
            raise MemoryError()
        for depth in range(len(level_starts) - 2, -1, -1):
            start, end = level_starts[depth], level_starts[depth + 1]
            nn = nl = 0
            for i in range(start, end):
                p = &positions.items[i]
                if p.state == NODE:
                    if p.left >= 0:
                        c = &positions.items[p.left]
                        if c.has_hash:
                            memcpy(p.block, c.digest, 32)
                    if p.right >= 0:
                        c = &positions.items[p.right]
                        if c.has_hash:
                            memcpy(p.block + 32, c.digest, 32)
                    memcpy(nodes_buf + 64 * nn, p.block, 64)
                    node_at[nn] = i
                    nn += 1
                    puts.append((keys[p.key_index],
                                 PyBytes_FromStringAndSize(<char *>p.block, 64)))
                elif p.state == LEAF:
                    if p.origin == OLD_LEAF:
                        memcpy(leaves_buf + 64 * nl, p.other, 64)
                    else:
                        memcpy(leaves_buf + 64 * nl, P + 32 * p.lo, 32)
                        memcpy(leaves_buf + 64 * nl + 32, V + 32 * p.lo, 32)
                    leaf_value[0] = 1
                    memcpy(leaf_value + 1, leaves_buf + 64 * nl, 64)
                    leaf_at[nl] = i
                    nl += 1
                    puts.append((keys[p.key_index],
                                 PyBytes_FromStringAndSize(<char *>leaf_value, 65)))
            with nogil:
                coinium_keyed_hash64(nodes_buf, <size_t>nn, node_k, nodes_buf)
                coinium_keyed_hash64(leaves_buf, <size_t>nl, leaf_k, leaves_buf)
            for j in range(nn):
                p = &positions.items[node_at[j]]
                memcpy(p.digest, nodes_buf + 32 * j, 32)
                p.has_hash = 1
            for j in range(nl):
                p = &positions.items[leaf_at[j]]
                memcpy(p.digest, leaves_buf + 32 * j, 32)
                p.has_hash = 1
    finally:
        free(nodes_buf)
        free(leaves_buf)
        free(node_at)
        free(leaf_at)
    return puts, skipped
