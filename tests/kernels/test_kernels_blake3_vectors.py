"""Our own BLAKE3 compression against the official test vectors, for the inputs our kernels hash.

The kernels hash single-chunk inputs: the 124-byte header (two blocks) and the 64-byte keyed
Merkle parent. Here each backend's compression is driven through whole single-chunk messages
(0..1024 bytes, plain and keyed) and checked against blake3_test_vectors.json, including the
extended output's second half (the words that only the root output uses).
"""

from __future__ import annotations

import json

import blake3
import numpy as np
import pytest
from kernels_testlib import VECTORS, load_or_skip

CHUNK_START, CHUNK_END, ROOT, KEYED_HASH = 1, 2, 8, 16
IV = (0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
      0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19)

with open(VECTORS / "blake3_test_vectors.json") as f:
    VECTOR_FILE = json.load(f)
KEY = VECTOR_FILE["key"].encode()
SINGLE_CHUNK_CASES = [c for c in VECTOR_FILE["cases"] if c["input_len"] <= 1024]


def vector_input(length: int) -> bytes:
    return bytes(i % 251 for i in range(length))


def words(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


def single_chunk_output(compress, data: bytes, key: bytes | None = None) -> bytes:
    """The 64-byte root output block of a message of at most one chunk, via `compress`."""
    cv = words(key) if key else np.array(IV, dtype=np.uint32)
    mode = KEYED_HASH if key else 0
    blocks = [data[i:i + 64] for i in range(0, len(data), 64)] or [b""]
    for i, block in enumerate(blocks):
        flags = mode | (CHUNK_START if i == 0 else 0)
        if i == len(blocks) - 1:
            flags |= CHUNK_END | ROOT
        out = [int(w) for w in compress(cv, words(block.ljust(64, b"\0")), 0, len(block), flags)]
        cv = np.array(out[:8], dtype=np.uint32)
    return b"".join(w.to_bytes(4, "little") for w in out)


def compress_of(name: str):
    module = load_or_skip(name)
    return module._ck.compress if name == "cython" else module.compress


@pytest.mark.parametrize("name", ["cython", "numba"])
@pytest.mark.parametrize("case", SINGLE_CHUNK_CASES, ids=lambda c: f"len{c['input_len']}")
def test_compression_matches_vectors(name, case):
    compress = compress_of(name)
    data = vector_input(case["input_len"])
    assert single_chunk_output(compress, data).hex() == case["hash"][:128]
    assert single_chunk_output(compress, data, KEY).hex() == case["keyed_hash"][:128]


@pytest.mark.parametrize("case", SINGLE_CHUNK_CASES, ids=lambda c: f"len{c['input_len']}")
def test_reference_package_matches_vectors(case):
    """The python backend's hashes come from the blake3 package: check it on the same cases."""
    data = vector_input(case["input_len"])
    assert blake3.blake3(data).digest(length=131).hex() == case["hash"]
    assert blake3.blake3(data, key=KEY).digest(length=131).hex() == case["keyed_hash"]


@pytest.mark.parametrize("name", ["cython", "numba"])
def test_merkle_parent_is_the_keyed_hash_of_64_bytes(name):
    """A Merkle parent is keyed_hash(key, left || right): the vectors' 64-byte keyed case."""
    (case,) = [c for c in VECTOR_FILE["cases"] if c["input_len"] == 64]
    data = vector_input(64)
    module = load_or_skip(name)
    if name == "cython":
        for level in range(module._ck.simd_detect() + 1):
            before = module._ck.simd_level()
            module._ck.simd_set(level)
            try:
                root = module._ck.merkle_root_list([data[:32], data[32:]], KEY)
            finally:
                module._ck.simd_set(before)
            assert root.hex() == case["keyed_hash"][:64]
    else:
        leaves = np.frombuffer(data, dtype="<u4").reshape(2, 8)
        root = module._merkle_words(leaves, words(KEY)).tobytes()
        assert root.hex() == case["keyed_hash"][:64]


@pytest.mark.parametrize("case", SINGLE_CHUNK_CASES, ids=lambda c: f"len{c['input_len']}")
def test_one_chunk_hash_matches_vectors(case):
    """The compiled decoder's txid hash (blake3_chunk.c) on the official single-chunk cases."""
    tx_fast = pytest.importorskip("coinium.core._tx_fast")
    data = vector_input(case["input_len"])
    assert tx_fast.blake3_chunk(data).hex() == case["hash"][:64]


def test_one_chunk_hash_refuses_more_than_a_chunk():
    tx_fast = pytest.importorskip("coinium.core._tx_fast")
    with pytest.raises(ValueError, match="chunk"):
        tx_fast.blake3_chunk(bytes(1025))
