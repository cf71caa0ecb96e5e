"""The state commitment's hashing, its reference root and the getaccountproof JSON codec."""

from __future__ import annotations

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinium.crypto.state_proof import (
    EMPTY,
    NS_ACCOUNT,
    STATE_LEAF_KEY,
    STATE_NODE_KEY,
    StateProof,
    leaf_hash,
    node_hash,
    proof_from_json,
    proof_to_json,
    record_path,
    root_of_records,
    value_hash,
    verify_proof,
)

# Fixed by DESIGN.md.
LEAF_KEY_HEX = "c619b96dfdc3ab81f6350f00702ffc960ba934777553cdc3acbc78463522c0ae"
NODE_KEY_HEX = "cd37590e7d6b55aeb295c13249a6a1c7e4927b97d46e553b8ef0fa84701b5a43"
# The root of SMALL_STATE below; a change here is a consensus change.
GOLDEN_ROOT_HEX = "66f91e0e2c80a6642ea4ea2a3a481d9e3dd6fa760179fdba0a5f26ef186e49a7"
SMALL_STATE = [(record_path(NS_ACCOUNT, bytes([i]) * 20), b"record %d" % i) for i in range(8)]


def path_with_bits(bits: str, fill: int = 0) -> bytes:
    """A path whose leading bits are `bits`, then the bits of `fill` repeated."""
    tail = format(fill & 0xFF, "08b") * 32
    return int((bits + tail)[:256], 2).to_bytes(32, "big")


def test_keys_are_the_design_constants():
    assert STATE_LEAF_KEY.hex() == LEAF_KEY_HEX
    assert STATE_NODE_KEY.hex() == NODE_KEY_HEX
    assert blake3.blake3(b"coinium state leaf v1").digest() == STATE_LEAF_KEY
    assert blake3.blake3(b"coinium state node v1").digest() == STATE_NODE_KEY


def test_hash_definitions():
    account = bytes(range(20))
    assert record_path(NS_ACCOUNT, account) == blake3.blake3(b"\x01" + account).digest()
    assert value_hash(b"abc") == blake3.blake3(b"abc").digest()
    a, b = bytes([1]) * 32, bytes([2]) * 32
    assert leaf_hash(a, b) == blake3.blake3(a + b, key=STATE_LEAF_KEY).digest()
    assert node_hash(a, b) == blake3.blake3(a + b, key=STATE_NODE_KEY).digest()
    assert node_hash(EMPTY, EMPTY) == EMPTY
    assert node_hash(a, EMPTY) == blake3.blake3(a + EMPTY, key=STATE_NODE_KEY).digest()
    with pytest.raises(ValueError):
        record_path(256, b"")


def test_golden_root_of_a_small_state():
    items = [(path, value_hash(record)) for path, record in SMALL_STATE]
    assert root_of_records(items).hex() == GOLDEN_ROOT_HEX
    assert root_of_records(reversed(items)).hex() == GOLDEN_ROOT_HEX  # order does not matter


def test_shapes_built_by_hand():
    """The leaf sits at the shallowest unique depth; one-sided chains hash their empty sides."""
    vh = value_hash(b"x")
    assert root_of_records([]) == EMPTY
    only = path_with_bits("0110")
    assert root_of_records([(only, vh)]) == leaf_hash(only, vh)  # a lone leaf is the root
    a, b = path_with_bits("0"), path_with_bits("1")
    assert root_of_records([(a, vh), (b, vh)]) == node_hash(leaf_hash(a, vh), leaf_hash(b, vh))
    # share the first two bits: two one-sided internal nodes above the pair
    c, d = path_with_bits("110"), path_with_bits("111")
    pair = node_hash(leaf_hash(c, vh), leaf_hash(d, vh))
    assert root_of_records([(c, vh), (d, vh)]) == node_hash(EMPTY, node_hash(EMPTY, pair))
    # three records: one alone on the left, two sharing "11" on the right
    e = path_with_bits("0", 0xFF)
    expected = node_hash(leaf_hash(e, vh), node_hash(EMPTY, pair))
    assert root_of_records([(c, vh), (e, vh), (d, vh)]) == expected


def test_paths_differing_only_in_the_last_bit():
    """The deepest shape: a leaf at depth 256."""
    vh = value_hash(b"x")
    a = bytes(31) + b"\x00"
    b = bytes(31) + b"\x01"
    node = node_hash(leaf_hash(a, vh), leaf_hash(b, vh))
    for _ in range(255):
        node = node_hash(node, EMPTY)
    assert root_of_records([(a, vh), (b, vh)]) == node
    proof = StateProof(a, tuple([EMPTY] * 255 + [leaf_hash(b, vh)]), None)
    assert verify_proof(proof, b"x", node)


def test_duplicate_or_malformed_items_are_refused():
    vh = value_hash(b"x")
    with pytest.raises(ValueError):
        root_of_records([(bytes(32), vh), (bytes(32), vh)])
    with pytest.raises(ValueError):
        root_of_records([(bytes(31), vh)])


# ---- proofs by hand (the stored tree's proofs are tested in tests/store) ------------------------


def three_record_tree():
    """Records at 0..., 110..., 111...: returns (records by path, root)."""
    records = {
        path_with_bits("0", 0x55): b"left",
        path_with_bits("110"): b"right one",
        path_with_bits("111"): b"right two",
    }
    root = root_of_records((p, value_hash(r)) for p, r in records.items())
    return records, root


def test_inclusion_and_both_absence_shapes_by_hand():
    records, root = three_record_tree()
    left, c, d = records
    lh = {p: leaf_hash(p, value_hash(r)) for p, r in records.items()}
    pair = node_hash(lh[c], lh[d])
    # inclusion of c at depth 3
    proof_c = StateProof(c, (lh[left], EMPTY, lh[d]), None)
    assert verify_proof(proof_c, b"right one", root)
    assert not verify_proof(proof_c, b"right two", root)
    assert not verify_proof(proof_c, None, root)
    # absence at an empty position: 10... is empty at depth 2
    absent = path_with_bits("10")
    proof_empty = StateProof(absent, (lh[left], pair), None)
    assert verify_proof(proof_empty, None, root)
    # absence where another leaf sits: 01... meets the leaf of `left` at depth 1
    other = path_with_bits("01")
    proof_leaf = StateProof(
        other, (node_hash(EMPTY, pair),), (left, value_hash(records[left]))
    )
    assert verify_proof(proof_leaf, None, root)
    # the same leaf cannot prove the absence of its own path, nor of a path off its prefix
    assert not verify_proof(StateProof(left, proof_leaf.siblings, proof_leaf.leaf), None, root)
    off = StateProof(path_with_bits("10"), proof_leaf.siblings, proof_leaf.leaf)
    assert not verify_proof(off, None, root)


def test_the_empty_state():
    path = record_path(NS_ACCOUNT, bytes(20))
    assert verify_proof(StateProof(path, (), None), None, EMPTY)
    assert not verify_proof(StateProof(path, (), None), b"", EMPTY)
    assert not verify_proof(StateProof(path, (), None), None, bytes([1]) * 32)


@settings(max_examples=200, deadline=None)
@given(
    path=st.one_of(st.binary(min_size=32, max_size=32), st.binary(max_size=40), st.none()),
    siblings=st.one_of(
        st.lists(st.binary(min_size=30, max_size=33), max_size=5).map(tuple),
        st.lists(st.binary(max_size=40), max_size=3),
        st.none(),
    ),
    leaf=st.one_of(
        st.none(),
        st.tuples(st.binary(max_size=33), st.binary(max_size=33)),
        st.integers(),
        st.tuples(st.binary(min_size=32, max_size=32)),
    ),
    record=st.one_of(st.none(), st.binary(max_size=40), st.integers()),
    root=st.one_of(st.binary(max_size=33), st.none(), st.text(max_size=5)),
)
def test_verify_never_raises_on_garbage(path, siblings, leaf, record, root):
    assert verify_proof(StateProof(path, siblings, leaf), record, root) in (True, False)


# ---- JSON --------------------------------------------------------------------------------------

ACCOUNT = bytes(range(20))
ADDRESS = "rcn1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnzs23v9c"  # any string: the codec does not decode it


def sample_json(record: bytes | None = b"\x01\x02", leaf=None) -> dict:
    path = record_path(NS_ACCOUNT, ACCOUNT)
    proof = StateProof(path, (bytes([7]) * 32, EMPTY), leaf)
    return proof_to_json(proof, record, bytes([9]) * 32, 41, ADDRESS, ACCOUNT)


def test_json_shape_and_round_trip():
    obj = sample_json()
    assert obj == {
        "address": ADDRESS,
        "accountid": ACCOUNT.hex(),
        "path": record_path(NS_ACCOUNT, ACCOUNT).hex(),
        "record": "0102",
        "siblings": ["07" * 32, "00" * 32],
        "leaf": None,
        "stateroot": "09" * 32,
        "height": 41,
    }
    proof, record, root, height = proof_from_json(obj)
    assert proof == StateProof(record_path(NS_ACCOUNT, ACCOUNT), (bytes([7]) * 32, EMPTY), None)
    assert (record, root, height) == (b"\x01\x02", bytes([9]) * 32, 41)
    other = (bytes([3]) * 32, bytes([4]) * 32)
    obj = sample_json(None, other)
    assert obj["leaf"] == {"path": "03" * 32, "valuehash": "04" * 32}
    assert proof_from_json(obj)[0].leaf == other
    assert proof_from_json(sample_json(None))[1] is None


def _with(**fields) -> dict:
    obj = sample_json()
    obj.update(fields)
    return obj


def _without(name: str) -> dict:
    obj = sample_json()
    del obj[name]
    return obj


MALFORMED = [
    ("not an object", []),
    ("missing field", _without("siblings")),
    ("missing height", _without("height")),
    ("address not a string", _with(address=5)),
    ("accountid short", _with(accountid="00" * 19)),
    ("accountid not hex", _with(accountid="zz" * 20)),
    ("path of another account", _with(path=record_path(NS_ACCOUNT, bytes(20)).hex())),
    ("path odd hex", _with(path="0" * 63)),
    ("record odd hex", _with(record="012")),
    ("record a number", _with(record=12)),
    ("siblings not a list", _with(siblings="00" * 32)),
    ("sibling short", _with(siblings=["00" * 31])),
    ("sibling not a string", _with(siblings=[None])),
    ("too many siblings", _with(siblings=["00" * 32] * 257)),
    ("leaf not an object", _with(record=None, leaf=["00" * 32, "00" * 32])),
    ("leaf missing valuehash", _with(record=None, leaf={"path": "00" * 32})),
    ("leaf extra field", _with(record=None, leaf={"path": "00" * 32, "valuehash": "00" * 32,
                                                  "x": 1})),
    ("leaf beside a record", _with(leaf={"path": "00" * 32, "valuehash": "00" * 32})),
    ("stateroot short", _with(stateroot="00")),
    ("height negative", _with(height=-1)),
    ("height a string", _with(height="41")),
    ("height a bool", _with(height=True)),
    ("height too large", _with(height=1 << 32)),
]


@pytest.mark.parametrize("obj", [m[1] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_json_is_a_value_error(obj):
    with pytest.raises(ValueError):
        proof_from_json(obj)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(sample_json())), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=70),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=9), inner,
                                                                max_size=3),
    max_leaves=6,
)))
def test_json_garbage_is_a_value_error_or_a_proof(fields):
    obj = sample_json()
    obj.update(fields)
    try:
        proof, _record, _root, _height = proof_from_json(obj)
    except ValueError:
        return
    assert isinstance(proof, StateProof)
