"""Merkle root on every backend and SIMD path, against the reference and an independent model."""

from __future__ import annotations

import random

import blake3
import numpy as np
import pytest

from coinium.kernels import python_backend as reference

MERKLE_KEY = bytes.fromhex("b2d9147fe03f85f87813471321429ac329ca2d516e40b5d3fb8240484cc9dc17")


def model_root(leaves: list[bytes]) -> bytes:
    """DESIGN.md's rule, written recursively: root(left subtree) and root(right subtree).

    Level by level with the odd node carried up is the same as splitting at the largest power of
    two below n (the left subtree is perfect); a different shape than the backends' loops.
    """
    if not leaves:
        return bytes(32)
    if len(leaves) == 1:
        return leaves[0]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    left, right = model_root(leaves[:split]), model_root(leaves[split:])
    return blake3.blake3(left + right, key=MERKLE_KEY).digest()


def random_leaves(rng: random.Random, n: int) -> list[bytes]:
    return [rng.randbytes(32) for _ in range(n)]


def as_array(leaves: list[bytes]) -> np.ndarray:
    if not leaves:
        return np.zeros((0, 32), dtype=np.uint8)
    return np.frombuffer(b"".join(leaves), dtype=np.uint8).reshape(len(leaves), 32)


def test_key_is_the_design_constant():
    assert reference.MERKLE_KEY == MERKLE_KEY
    assert blake3.blake3(b"coinium merkle node v1").digest() == MERKLE_KEY


def test_model_agrees_with_reference():
    rng = random.Random(1)
    for n in list(range(0, 40)) + [100, 257]:
        leaves = random_leaves(rng, n)
        assert model_root(leaves) == reference.merkle_root(leaves)


def test_zero_to_seventy_leaves(kernel):
    rng = random.Random(2)
    for n in range(0, 71):
        leaves = random_leaves(rng, n)
        expected = model_root(leaves)
        assert kernel.merkle_root(leaves) == expected, n
        assert kernel.merkle_root(as_array(leaves)) == expected, n
        assert kernel.merkle_root(tuple(leaves)) == expected, n


def test_known_shapes(kernel):
    a, b, c = (bytes([i]) * 32 for i in (1, 2, 3))
    ab = blake3.blake3(a + b, key=MERKLE_KEY).digest()
    assert kernel.merkle_root([]) == bytes(32)
    assert kernel.merkle_root([a]) == a
    assert kernel.merkle_root([a, b]) == ab
    assert kernel.merkle_root([a, b, c]) == blake3.blake3(ab + c, key=MERKLE_KEY).digest()
    # the odd node is carried, not duplicated: [a, b, c] and [a, b, c, c] differ
    assert kernel.merkle_root([a, b, c]) != kernel.merkle_root([a, b, c, c])


@pytest.mark.parametrize("seed", range(3))
def test_random_large_sizes(kernel, seed):
    rng = random.Random(100 + seed)
    # around the C backend's 4096-leaf blocks, and random sizes
    n = [4097, 8191 + 4096 * 2 + 3, rng.randrange(1000, 40_000)][seed]
    if kernel.NAME == "python":
        n = min(n, 5000)
    leaves = random_leaves(rng, n)
    expected = reference.merkle_root(leaves)
    assert kernel.merkle_root(leaves) == expected
    assert kernel.merkle_root(as_array(leaves)) == expected


def test_array_input_is_not_modified_and_may_be_read_only(kernel):
    rng = random.Random(3)
    leaves = random_leaves(rng, 33)
    array = as_array(leaves).copy()
    kept = array.copy()
    assert kernel.merkle_root(array) == model_root(leaves)
    assert np.array_equal(array, kept)
    array.flags.writeable = False
    assert kernel.merkle_root(array) == model_root(leaves)
    strided = np.zeros((33, 64), dtype=np.uint8)
    strided[:, :32] = kept
    assert kernel.merkle_root(strided[:, :32]) == model_root(leaves)


def test_other_bytes_like_leaves(kernel):
    rng = random.Random(4)
    leaves = random_leaves(rng, 19)
    mixed = [bytearray(x) if i % 3 == 0 else memoryview(x) if i % 3 == 1 else x
             for i, x in enumerate(leaves)]
    assert kernel.merkle_root(mixed) == model_root(leaves)


def test_bad_leaves_are_refused(kernel):
    good = bytes(32)
    for bad in ([good, bytes(31)], [bytes(33), good], [good, good, b""],
                [bytes(31), bytes(33)]):
        with pytest.raises(ValueError):
            kernel.merkle_root(bad)
    if kernel.NAME != "python":
        with pytest.raises(ValueError):
            kernel.merkle_root(np.zeros((4, 31), dtype=np.uint8))
        with pytest.raises(ValueError):
            kernel.merkle_root(np.zeros((4, 32), dtype=np.int64))
