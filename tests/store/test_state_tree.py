"""The stored state tree on real LMDB files: incremental root, undo by inverse changes, proofs."""

from __future__ import annotations

import random
from contextlib import contextmanager

import lmdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinium.crypto.state_proof import (
    EMPTY,
    NS_ACCOUNT,
    StateProof,
    record_path,
    root_of_records,
    value_hash,
    verify_proof,
)
from coinium.store.state_tree import StateTree, node_key


@pytest.fixture
def env(tmp_path):
    environment = lmdb.open(str(tmp_path / "tree"), max_dbs=2, map_size=1 << 28)
    yield environment
    environment.close()


@pytest.fixture
def tree(env):
    return StateTree(env)


def dump(tree: StateTree, txn) -> dict[bytes, bytes]:
    return {bytes(k): bytes(v) for k, v in txn.cursor(db=tree.db)}


def reference_root(records: dict[bytes, bytes]) -> bytes:
    return root_of_records((p, value_hash(r)) for p, r in records.items())


def apply_records(tree, txn, records: dict[bytes, bytes], changes: dict[bytes, bytes | None]):
    """Apply record changes to the tree and to the `records` model."""
    tree.apply(txn, {p: None if r is None else value_hash(r) for p, r in changes.items()})
    for path, record in changes.items():
        if record is None:
            records.pop(path, None)
        else:
            records[path] = record


def path_with_bits(bits: str) -> bytes:
    return int(bits.ljust(256, "0"), 2).to_bytes(32, "big")


def test_empty_tree(env, tree):
    with env.begin(write=True) as txn:
        assert tree.root(txn) == EMPTY
        assert tree.node_count(txn) == 0
        proof = tree.prove(txn, bytes(32))
        assert proof == StateProof(bytes(32), (), None)
        assert verify_proof(proof, None, EMPTY)
        tree.apply(txn, {})
        tree.apply(txn, {bytes(32): None})  # deleting an absent record changes nothing
        assert tree.node_count(txn) == 0


def test_matches_the_reference_and_the_layout(env, tree):
    """Two records sharing 3 bits: a chain of one-sided nodes, leaves at depth 4."""
    a, b = path_with_bits("1010"), path_with_bits("1011")
    records: dict[bytes, bytes] = {}
    with env.begin(write=True) as txn:
        apply_records(tree, txn, records, {a: b"A", b: b"B"})
        assert tree.root(txn) == reference_root(records)
        stored = dump(tree, txn)
        # internal nodes at depths 0..3 on prefix 101, leaves at depth 4
        assert sorted(stored) == sorted(
            [node_key(0, 0), node_key(1, 1), node_key(2, 2), node_key(3, 5), node_key(4, 10),
             node_key(4, 11)]
        )
        assert stored[node_key(4, 10)] == b"\x01" + a + value_hash(b"A")
        assert node_key(4, 10) == b"\x04\xa0"
        # deleting one collapses the other back up to the root
        apply_records(tree, txn, records, {b: None})
        assert dump(tree, txn) == {b"\x00": b"\x01" + a + value_hash(b"A")}
        assert tree.root(txn) == reference_root(records)


def test_delete_collapses_an_untouched_leaf_up_many_levels(env, tree):
    """The sibling that moves up was not touched by the change: it is read and moved."""
    a, b, c = path_with_bits("0"), path_with_bits("1110"), path_with_bits("1111")
    records: dict[bytes, bytes] = {}
    with env.begin(write=True) as txn:
        apply_records(tree, txn, records, {a: b"a", b: b"b", c: b"c"})
        apply_records(tree, txn, records, {c: None})
        assert dump(tree, txn) == {
            node_key(0, 0): bytes.fromhex(
                _leaf_hash_hex(a, b"a") + _leaf_hash_hex(b, b"b")
            ),
            node_key(1, 0): b"\x01" + a + value_hash(b"a"),
            node_key(1, 1): b"\x01" + b + value_hash(b"b"),
        }
        apply_records(tree, txn, records, {a: None})
        assert dump(tree, txn) == {node_key(0, 0): b"\x01" + b + value_hash(b"b")}
        assert tree.root(txn) == reference_root(records)


def _leaf_hash_hex(path: bytes, record: bytes) -> str:
    from coinium.crypto.state_proof import leaf_hash

    return leaf_hash(path, value_hash(record)).hex()


def test_bad_changes_are_refused(env, tree):
    with env.begin(write=True) as txn:
        for changes in ({bytes(31): bytes(32)}, {bytes(32): bytes(31)}, {"x" * 32: None},
                        {bytes(32): "y" * 32}, {bytes(32): b""}, {bytes(32): 0},
                        {bytes(32): bytearray(32)}):  # fmt: skip
            with pytest.raises(ValueError):
                tree.apply(txn, changes)
        assert tree.node_count(txn) == 0
        with pytest.raises(ValueError):
            tree.prove(txn, bytes(31))


# ---- random batches ----------------------------------------------------------------------------

# Paths from a small pool of random ones plus crafted neighbours, so batches insert, update and
# delete the same records and leaves share long prefixes.
_POOL = [random.Random(7).randbytes(32) for _ in range(24)]
_POOL += [p[:31] + bytes([p[31] ^ 1]) for p in _POOL[:4]]  # differ only in the last bit
_POOL += [p[:2] + bytes([p[2] ^ 0x80]) + p[3:] for p in _POOL[:4]]  # differ at bit 16
paths = st.sampled_from(_POOL)
records_st = st.one_of(st.none(), st.binary(min_size=1, max_size=8))
batches = st.lists(st.dictionaries(paths, records_st, min_size=1, max_size=12), min_size=1,
                   max_size=8)


@contextmanager
def update_path(name: str):
    """Take the Python update ("python") or, when built, the C fast path ("cython")."""
    from coinium import kernels
    from coinium.store import state_tree

    if name == "cython" and state_tree._state_fast is None:
        pytest.skip("the C fast path (coinium.store._state_fast) is not built")
    before = kernels.BACKEND
    kernels.BACKEND = name
    try:
        yield
    finally:
        kernels.BACKEND = before


@pytest.mark.parametrize("path_taken", ["python", "cython"])
@settings(max_examples=120, deadline=None)
@given(batches=batches)
def test_random_batches_match_the_rebuilt_root_and_undo_byte_for_byte(
    tmp_path_factory, path_taken, batches
):
    env = lmdb.open(str(tmp_path_factory.mktemp("tree")), max_dbs=2, map_size=1 << 26)
    try:
        with update_path(path_taken):
            tree = StateTree(env)
            records: dict[bytes, bytes] = {}
            with env.begin(write=True) as txn:
                history = []
                for changes in batches:
                    before = dump(tree, txn)
                    inverse = {p: records.get(p) for p in changes}
                    apply_records(tree, txn, records, changes)
                    assert tree.root(txn) == reference_root(records)
                    history.append((before, inverse))
                # disconnect every batch, newest first: the exact bytes come back each time
                for before, inverse in reversed(history):
                    apply_records(tree, txn, records, inverse)
                    assert dump(tree, txn) == before
    finally:
        env.close()


@settings(max_examples=40, deadline=None)
@given(
    records=st.dictionaries(paths, st.binary(min_size=1, max_size=8), max_size=30),
    seed=st.integers(0, 2**32),
)
def test_shape_is_independent_of_update_order(tmp_path_factory, records, seed):
    """Any order of batches that ends at one set of records stores the same bytes."""
    rng = random.Random(seed)
    dumps = []
    for _ in range(2):
        env = lmdb.open(str(tmp_path_factory.mktemp("tree")), max_dbs=2, map_size=1 << 26)
        try:
            tree = StateTree(env)
            items = list(records.items())
            rng.shuffle(items)
            extra = {p: b"gone" for p in rng.sample(_POOL, 5) if p not in records}
            with env.begin(write=True) as txn:
                tree.apply(txn, {p: value_hash(r) for p, r in extra.items()})
                for i in range(0, len(items), 3):
                    tree.apply(txn, {p: value_hash(r) for p, r in items[i:i + 3]})
                tree.apply(txn, dict.fromkeys(extra))
                dumps.append(dump(tree, txn))
        finally:
            env.close()
    assert dumps[0] == dumps[1]


# ---- proofs ------------------------------------------------------------------------------------


def built_tree(env, tree, n: int, seed: int) -> dict[bytes, bytes]:
    rng = random.Random(seed)
    records = {
        record_path(NS_ACCOUNT, rng.randbytes(20)): rng.randbytes(rng.randint(1, 60))
        for _ in range(n)
    }
    with env.begin(write=True) as txn:
        tree.apply(txn, {p: value_hash(r) for p, r in records.items()})
    return records


def tampered_proofs(proof: StateProof, every_byte: bool = False):
    """One-byte changes of each sibling and of the leaf (at every byte, or at three), and a
    sibling dropped or added at either end."""
    positions = range(32) if every_byte else (0, 17, 31)
    siblings = list(proof.siblings)
    for i, sibling in enumerate(siblings):
        for j in positions:
            changed = sibling[:j] + bytes([sibling[j] ^ 0x01]) + sibling[j + 1:]
            yield StateProof(proof.path, tuple(siblings[:i] + [changed] + siblings[i + 1:]),
                             proof.leaf)
    if siblings:
        yield StateProof(proof.path, tuple(siblings[:-1]), proof.leaf)
        yield StateProof(proof.path, tuple(siblings[1:]), proof.leaf)
    yield StateProof(proof.path, tuple(siblings + [EMPTY]), proof.leaf)
    yield StateProof(proof.path, tuple([EMPTY] + siblings), proof.leaf)
    yield StateProof(proof.path, tuple(siblings + [bytes([5]) * 32]), proof.leaf)
    if proof.leaf is not None:
        other, vh = proof.leaf
        for j in positions:
            yield StateProof(proof.path, proof.siblings,
                             (other[:j] + bytes([other[j] ^ 1]) + other[j + 1:], vh))
            yield StateProof(proof.path, proof.siblings,
                             (other, vh[:j] + bytes([vh[j] ^ 1]) + vh[j + 1:]))
        yield StateProof(proof.path, proof.siblings, None)


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x80]) + data[index + 1:]


def test_inclusion_proofs_verify_and_every_tampering_fails(env, tree):
    records = built_tree(env, tree, 300, seed=1)
    with env.begin() as txn:
        root = tree.root(txn)
        for n, path in enumerate(random.Random(2).sample(sorted(records), 25)):
            record = records[path]
            proof = tree.prove(txn, path)
            assert proof.leaf is None
            assert verify_proof(proof, record, root)
            assert not verify_proof(proof, None, root)
            for i in range(len(record)):
                assert not verify_proof(proof, flip(record, i), root)
            assert not verify_proof(proof, record + b"\x00", root)
            for i in range(32):
                assert not verify_proof(proof, record, flip(root, i))
                assert not verify_proof(StateProof(flip(proof.path, i), proof.siblings, None),
                                        record, root)
            for bad in tampered_proofs(proof, every_byte=n < 4):
                assert not verify_proof(bad, record, root)


def test_absence_proofs_of_both_shapes_verify_and_tampering_fails(env, tree):
    records = built_tree(env, tree, 300, seed=3)
    rng = random.Random(4)
    shapes = {"empty": 0, "leaf": 0}
    with env.begin() as txn:
        root = tree.root(txn)
        for n in range(200):
            path = record_path(NS_ACCOUNT, rng.randbytes(20))
            proof = tree.prove(txn, path)
            assert verify_proof(proof, None, root)
            assert not verify_proof(proof, b"anything", root)
            shapes["empty" if proof.leaf is None else "leaf"] += 1
            if proof.leaf is not None:
                assert proof.leaf[0] in records and records[proof.leaf[0]] is not None
                assert proof.leaf[1] == value_hash(records[proof.leaf[0]])
            for i in range(32):
                assert not verify_proof(proof, None, flip(root, i))
            for bad in tampered_proofs(proof, every_byte=n < 6):
                assert not verify_proof(bad, None, root)
        # a present record's proof cannot be turned into an absence proof with its own leaf
        present = next(iter(records))
        proof = tree.prove(txn, present)
        as_absent = StateProof(present, proof.siblings, (present, value_hash(records[present])))
        assert not verify_proof(as_absent, None, root)
    assert shapes["empty"] > 10 and shapes["leaf"] > 10  # both shapes were exercised


def test_proof_depth_is_logarithmic(env, tree):
    records = built_tree(env, tree, 2000, seed=5)
    with env.begin() as txn:
        depths = [len(tree.prove(txn, p).siblings) for p in records]
        assert max(depths) <= 30
        assert 10 <= sum(depths) / len(depths) <= 14  # about log2(2000) + 1
        assert len(records) <= tree.node_count(txn) <= 3 * len(records)


@pytest.mark.parametrize("backend_name", ["python", "cython", "numba"])
def test_every_kernel_backend_stores_the_same_tree(tmp_path, monkeypatch, backend_name):
    """Any backend stores the same bytes: the tree hashes through coinium.kernels.keyed_hash64,
    and with the cython backend it takes the C fast path for changed values."""
    from coinium import kernels
    from coinium.kernels import KernelBackendError, load_backend

    try:
        module = load_backend(backend_name)
    except KernelBackendError as exc:
        pytest.skip(str(exc))
    rng = random.Random(9)
    first = {rng.randbytes(32): rng.randbytes(32) for _ in range(500)}
    second = dict.fromkeys(rng.sample(sorted(first), 100))
    second.update({rng.randbytes(32): rng.randbytes(32) for _ in range(100)})
    second.update({p: rng.randbytes(32) for p in rng.sample(sorted(first), 200) if p not in second})
    third = {p: rng.randbytes(32) for p in first if p not in second}  # new values only
    dumps = []
    for chosen in (load_backend("python"), module):  # python: the reference update, too
        monkeypatch.setattr(kernels, "keyed_hash64", chosen.keyed_hash64)
        monkeypatch.setattr(kernels, "BACKEND", chosen.NAME)
        environment = lmdb.open(str(tmp_path / f"t{len(dumps)}"), max_dbs=2, map_size=1 << 26)
        try:
            tree = StateTree(environment)
            with environment.begin(write=True) as txn:
                tree.apply(txn, first)
                tree.apply(txn, second)
                tree.apply(txn, third)
                dumps.append((tree.root(txn), dump(tree, txn)))
        finally:
            environment.close()
    assert dumps[0] == dumps[1]
    records = {**first, **second, **third}
    expected = root_of_records((p, v) for p, v in records.items() if v is not None)
    assert dumps[0][0] == expected


def test_a_damaged_entry_is_a_clear_error(env, tree):
    from coinium.store.state_tree import CorruptTreeError

    a, b = path_with_bits("00"), path_with_bits("01")
    with env.begin(write=True) as txn:
        tree.apply(txn, {a: value_hash(b"a"), b: value_hash(b"b")})
        txn.put(node_key(2, 0), b"\x01" + b + value_hash(b"b"), db=tree.db)  # b under a's prefix
        with pytest.raises(CorruptTreeError):
            tree.prove(txn, a)
        with pytest.raises(CorruptTreeError):
            tree.apply(txn, {a: value_hash(b"c")})
        txn.put(node_key(2, 0), b"\x07" * 10, db=tree.db)
        with pytest.raises(CorruptTreeError):
            tree.prove(txn, a)
