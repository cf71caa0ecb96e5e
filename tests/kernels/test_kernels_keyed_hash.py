"""keyed_hash64 on every backend and SIMD path, against the reference and blake3's keyed_hash."""

from __future__ import annotations

import random

import blake3
import pytest

from coinium.kernels import python_backend as reference


def random_blocks(rng: random.Random, n: int) -> list[bytes]:
    return [rng.randbytes(64) for _ in range(n)]


def test_reference_is_blake3_keyed_hash():
    rng = random.Random(1)
    key = rng.randbytes(32)
    blocks = random_blocks(rng, 20)
    assert reference.keyed_hash64(key, blocks) == [
        blake3.blake3(b, key=key).digest() for b in blocks
    ]


def test_zero_to_seventy_blocks_and_odd_lane_counts(kernel):
    """Every count from 0 to 70 covers full SIMD groups and every remainder."""
    rng = random.Random(2)
    for n in range(0, 71):
        key = rng.randbytes(32)
        blocks = random_blocks(rng, n)
        expected = [blake3.blake3(b, key=key).digest() for b in blocks]
        assert kernel.keyed_hash64(key, blocks) == expected, n
        assert kernel.keyed_hash64(key, tuple(blocks)) == expected, n


def test_large_batch_and_other_buffer_types(kernel):
    rng = random.Random(3)
    key = rng.randbytes(32)
    blocks = random_blocks(rng, 5000)
    expected = reference.keyed_hash64(key, blocks)
    assert kernel.keyed_hash64(key, blocks) == expected
    mixed = [bytearray(b) if i % 3 == 0 else memoryview(b) if i % 3 == 1 else b
             for i, b in enumerate(blocks[:50])]
    assert kernel.keyed_hash64(bytearray(key), mixed) == expected[:50]
    assert kernel.keyed_hash64(key, (b for b in blocks[:9])) == expected[:9]  # any iterable


def test_distinct_keys_give_distinct_hashes(kernel):
    block = bytes(range(64))
    assert kernel.keyed_hash64(bytes(32), [block]) != kernel.keyed_hash64(bytes([1]) * 32, [block])


@pytest.mark.parametrize("bad", [[bytes(63)], [bytes(65)], [bytes(64), b""]])
def test_wrong_block_size_is_a_value_error(kernel, bad):
    with pytest.raises(ValueError):
        kernel.keyed_hash64(bytes(32), bad)


@pytest.mark.parametrize("key", [bytes(31), bytes(33), b""])
def test_wrong_key_size_is_a_value_error(kernel, key):
    with pytest.raises(ValueError):
        kernel.keyed_hash64(key, [bytes(64)])


def test_selector_exports_it():
    import coinium.kernels as kernels

    rng = random.Random(4)
    key, blocks = rng.randbytes(32), random_blocks(rng, 33)
    assert kernels.keyed_hash64(key, blocks) == reference.keyed_hash64(key, blocks)
