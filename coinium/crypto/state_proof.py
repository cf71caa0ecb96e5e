"""The state commitment's hashing and its proofs (DESIGN.md "State commitment"); pure, no I/O.

Every state record of every namespace is a leaf of a binary sparse Merkle tree of 256-bit paths
(the Diem/Aptos shape): a record's path is ``BLAKE3(namespace || key)``, read from the top bit of
byte 0 down; a leaf sits at the shallowest depth where no other path shares its prefix, an empty
subtree is 32 zero bytes and a parent of two empty children is empty. ``root_of_records`` builds
the root from scratch and is the reference the stored tree (coinium/store/state_tree.py) is tested
against; ``verify_proof`` is what a light client runs on a ``getaccountproof`` answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import blake3

NS_ACCOUNT = 0x01

# Fixed by DESIGN.md: the keys of the leaf and internal-node hashes (one compression each).
STATE_LEAF_KEY = blake3.blake3(b"coinium state leaf v1").digest()
STATE_NODE_KEY = blake3.blake3(b"coinium state node v1").digest()
EMPTY = bytes(32)

PATH_BITS = 256
HASH_SIZE = 32


def record_path(namespace: int, key: bytes) -> bytes:
    """The 32-byte path of a record: BLAKE3(namespace byte || key)."""
    if not 0 <= namespace <= 0xFF:
        raise ValueError("a namespace is one byte (0..255)")
    return blake3.blake3(bytes((namespace,)) + bytes(key)).digest()


def value_hash(record: bytes) -> bytes:
    """BLAKE3 of a record's canonical encoding."""
    return blake3.blake3(bytes(record)).digest()


def leaf_hash(path: bytes, value_hash: bytes) -> bytes:
    """keyed_hash(STATE_LEAF_KEY, path || value_hash)."""
    return blake3.blake3(path + value_hash, key=STATE_LEAF_KEY).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """keyed_hash(STATE_NODE_KEY, left || right); a pair of empty subtrees stays empty."""
    if left == EMPTY and right == EMPTY:
        return EMPTY
    return blake3.blake3(left + right, key=STATE_NODE_KEY).digest()


def path_bit(path: bytes, depth: int) -> int:
    """Bit `depth` of a path: 0 is the most significant bit of byte 0."""
    return (path[depth >> 3] >> (7 - (depth & 7))) & 1


def root_of_records(items: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The root of (path, value_hash) pairs, rebuilt from scratch: the reference.

    Paths must be distinct 32-byte strings (a later duplicate is a ValueError, not a silent
    overwrite: a state never holds two records at one path).
    """
    records: dict[bytes, bytes] = {}
    for path, vh in items:
        if len(path) != HASH_SIZE or len(vh) != HASH_SIZE:
            raise ValueError("root_of_records: paths and value hashes are 32 bytes")
        if path in records:
            raise ValueError(f"root_of_records: path {path.hex()} appears twice")
        records[bytes(path)] = bytes(vh)
    ordered = sorted(records.items())
    return _subtree_root(ordered, 0, len(ordered), 0)


def _subtree_root(ordered: list[tuple[bytes, bytes]], lo: int, hi: int, depth: int) -> bytes:
    """Root of ordered[lo:hi], whose paths all share their first `depth` bits."""
    if hi == lo:
        return EMPTY
    if hi - lo == 1:
        path, vh = ordered[lo]
        return leaf_hash(path, vh)
    mid = lo  # first record whose bit `depth` is 1 (the slice is sorted)
    while mid < hi and not path_bit(ordered[mid][0], depth):
        mid += 1
    return node_hash(
        _subtree_root(ordered, lo, mid, depth + 1), _subtree_root(ordered, mid, hi, depth + 1)
    )


@dataclass(frozen=True, slots=True)
class StateProof:
    """A path's position in the tree, with what it takes to fold it up to the root.

    ``siblings[0]`` is the sibling just below the root, ``siblings[-1]`` the one at the proven
    position's depth (so ``len(siblings)`` is that depth). ``leaf`` is set only for an absent
    path whose position holds another record's leaf: that record's (path, value_hash).
    """

    path: bytes
    siblings: tuple[bytes, ...]
    leaf: tuple[bytes, bytes] | None


def fold(path: bytes, node: bytes, siblings: Sequence[bytes]) -> bytes:
    """Hash `node`, at depth len(siblings) on `path`, up to the root."""
    for depth in range(len(siblings) - 1, -1, -1):
        sibling = siblings[depth]
        if path_bit(path, depth):
            node = node_hash(sibling, node)
        else:
            node = node_hash(node, sibling)
    return node


def _shares_prefix(a: bytes, b: bytes, bits: int) -> bool:
    whole, rest = divmod(bits, 8)
    if a[:whole] != b[:whole]:
        return False
    if rest == 0:
        return True
    mask = (0xFF << (8 - rest)) & 0xFF
    return (a[whole] & mask) == (b[whole] & mask)


def verify_proof(proof: StateProof, record: bytes | None, root: bytes) -> bool:
    """True when `proof` shows `record` at proof.path (or, for None, no record there) under root.

    Never raises: malformed proofs, records or roots are simply not proven.
    """
    try:
        return _verify(proof, record, root)
    except Exception:  # noqa: BLE001 - garbage of any shape is "not proven", never a crash
        return False


def _verify(proof: StateProof, record: bytes | None, root: bytes) -> bool:
    path, siblings, leaf = proof.path, proof.siblings, proof.leaf
    if not (_is_hash(path) and _is_hash(root) and isinstance(siblings, tuple)):
        return False
    if len(siblings) > PATH_BITS or not all(_is_hash(s) for s in siblings):
        return False
    if siblings and siblings[-1] == EMPTY:
        # Never so in the canonical shape (a position whose sibling is empty would have moved
        # up): refusing it makes every proof unique, so an empty position cannot be "proven"
        # again one level deeper.
        return False
    if record is not None:  # inclusion: the path's own leaf at the proven position
        if leaf is not None or not isinstance(record, (bytes, bytearray)):
            return False
        start = leaf_hash(path, value_hash(record))
    elif leaf is None:  # absence: an empty position on the path
        start = EMPTY
    else:  # absence: another record's leaf sits where the path's would
        if not (isinstance(leaf, tuple) and len(leaf) == 2):
            return False
        other, other_vh = leaf
        if not (_is_hash(other) and _is_hash(other_vh)) or other == path:
            return False
        if not _shares_prefix(other, path, len(siblings)):
            return False
        start = leaf_hash(other, other_vh)
    return fold(path, start, siblings) == root


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


# ---- the getaccountproof JSON object ----------------------------------------------------------

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_HEX_EVEN = re.compile(r"(?:[0-9a-fA-F]{2})*")
_PROOF_FIELDS = frozenset(
    ("address", "accountid", "path", "record", "siblings", "leaf", "stateroot", "height")
)


def proof_to_json(
    proof: StateProof,
    record: bytes | None,
    root: bytes,
    height: int,
    address: str,
    accountid: bytes,
) -> dict:
    """DESIGN.md's getaccountproof object (hashes in natural byte order, lowercase hex)."""
    return {
        "address": address,
        "accountid": bytes(accountid).hex(),
        "path": proof.path.hex(),
        "record": None if record is None else bytes(record).hex(),
        "siblings": [s.hex() for s in proof.siblings],
        "leaf": None
        if proof.leaf is None
        else {"path": proof.leaf[0].hex(), "valuehash": proof.leaf[1].hex()},
        "stateroot": root.hex(),
        "height": height,
    }


def proof_from_json(obj: dict) -> tuple[StateProof, bytes | None, bytes, int]:
    """(proof, record, stateroot, height) from a getaccountproof object; ValueError if malformed.

    Checks the shape only, plus that ``path`` is the account id's path: whether the proof holds
    is verify_proof's answer.
    """
    if not isinstance(obj, dict):
        raise ValueError("an account proof is a JSON object")
    missing = _PROOF_FIELDS - obj.keys()
    if missing:
        raise ValueError(f"account proof lacks {', '.join(sorted(missing))}")
    if not isinstance(obj["address"], str):
        raise ValueError("account proof: address must be a string")
    accountid = _hex_field(obj, "accountid")
    if len(accountid) != 20:
        raise ValueError("account proof: accountid must be 20 bytes")
    path = _hash_field(obj["path"], "path")
    if path != record_path(NS_ACCOUNT, accountid):
        raise ValueError("account proof: path is not the account id's path")
    record = None if obj["record"] is None else _hex_field(obj, "record")
    siblings = obj["siblings"]
    if not isinstance(siblings, list) or len(siblings) > PATH_BITS:
        raise ValueError(f"account proof: siblings must be a list of at most {PATH_BITS} hashes")
    sibling_hashes = tuple(_hash_field(s, "siblings[]") for s in siblings)
    leaf = obj["leaf"]
    if leaf is not None:
        if not isinstance(leaf, dict) or set(leaf) != {"path", "valuehash"}:
            raise ValueError('account proof: leaf must be null or {"path", "valuehash"}')
        if record is not None:
            raise ValueError("account proof: a proof with a record has no other leaf")
        leaf = (
            _hash_field(leaf["path"], "leaf.path"),
            _hash_field(leaf["valuehash"], "leaf.valuehash"),
        )
    root = _hash_field(obj["stateroot"], "stateroot")
    height = obj["height"]
    if isinstance(height, bool) or not isinstance(height, int) or not 0 <= height < 1 << 32:
        raise ValueError("account proof: height must be an integer 0 .. 2^32-1")
    return StateProof(path, sibling_hashes, leaf), record, root, height


def _hash_field(value: object, name: str) -> bytes:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise ValueError(f"account proof: {name} must be 64 hex digits")
    return bytes.fromhex(value)


def _hex_field(obj: dict, name: str) -> bytes:
    value = obj[name]
    if not isinstance(value, str) or not _HEX_EVEN.fullmatch(value):
        raise ValueError(f"account proof: {name} must be hex with an even number of digits")
    return bytes.fromhex(value)
