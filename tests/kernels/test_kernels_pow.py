"""Nonce search on every backend and SIMD path, against a brute-force oracle and the reference."""

from __future__ import annotations

import random
import threading

import blake3
import pytest

from coinium.kernels import python_backend as reference

MAX_NONCE = (1 << 64) - 1


def hash_int(header: bytes, nonce: int) -> int:
    digest = blake3.blake3(header[:116] + nonce.to_bytes(8, "little")).digest()
    return int.from_bytes(digest, "big")


def oracle(header: bytes, target: int, start: int, count: int) -> tuple[int | None, int]:
    """The obvious answer: hash every nonce in order."""
    for i in range(count):
        if hash_int(header, start + i) <= target:
            return start + i, i + 1
    return None, count


def random_header(rng: random.Random) -> bytes:
    return rng.randbytes(124)


@pytest.mark.parametrize("bits", [1, 4, 8, 11])
def test_easy_targets_first_hit_is_returned(kernel, bits):
    rng = random.Random(bits)
    for _ in range(3):
        header = random_header(rng)
        target = (1 << (256 - bits)) - 1
        start = rng.randrange(0, 1 << 40)
        nonce, hashes = kernel.pow_search(header, target, start, 1 << (bits + 4))
        assert nonce is not None
        assert hash_int(header, nonce) <= target
        assert all(hash_int(header, n) > target for n in range(start, nonce))
        assert hashes == nonce - start + 1
        assert (nonce, hashes) == reference.pow_search(header, target, start, 1 << (bits + 4))


def range_cases():
    yield "crosses-2^32", (1 << 32) - 45, 90
    yield "ends-at-2^64-1", MAX_NONCE - 99, 100
    yield "crosses-2^33", (2 << 32) - 3, 40
    yield "small-unaligned", 5, 37
    yield "zero-start", 0, 64


@pytest.mark.parametrize("case", list(range_cases()), ids=lambda c: c[0])
def test_oracle_targets_over_special_ranges(kernel, case):
    """Targets equal to some nonce's hash: exercises equality and every word of the compare."""
    _, start, count = case
    rng = random.Random(count)
    header = random_header(rng)
    hashes = [hash_int(header, start + i) for i in range(count)]
    targets = [hashes[rng.randrange(count)] for _ in range(6)]
    targets += [min(hashes), min(hashes) - 1, max(hashes), 0, sorted(hashes)[count // 3] - 1]
    targets += [(sorted(hashes)[2] >> 224) << 224]  # leading word only
    for target in targets:
        expected = oracle(header, target, start, count)
        assert kernel.pow_search(header, target, start, count) == expected, hex(target)


def test_lane_edges(kernel):
    """Counts around the lane widths, starting at every alignment."""
    rng = random.Random(7)
    header = random_header(rng)
    for count in (1, 2, 7, 8, 9, 15, 16, 17, 31, 33):
        start = rng.randrange(1 << 63)
        hashes = sorted(hash_int(header, start + i) for i in range(count))
        for target in (hashes[0], hashes[-1], hashes[count // 2], -1 if count == 1 else 0):
            assert kernel.pow_search(header, target, start, count) == oracle(
                header, target, start, count
            )


def test_target_extremes(kernel):
    header = bytes(range(124))
    assert kernel.pow_search(header, (1 << 256) - 1, 10, 5) == (10, 1)
    assert kernel.pow_search(header, 1 << 300, MAX_NONCE, 1) == (MAX_NONCE, 1)
    assert kernel.pow_search(header, 0, 0, 50) == (None, 50)
    assert kernel.pow_search(header, -1, 0, 50) == (None, 50)
    assert kernel.pow_search(header, -(1 << 300), 0, 50) == (None, 50)
    assert kernel.pow_search(header, 12345, 99, 0) == (None, 0)
    assert kernel.pow_search(header, (1 << 256) - 1, 0, 1 << 64) == (0, 1)  # the whole range
    assert kernel.pow_search(bytearray(header), (1 << 256) - 1, 3, 1) == (3, 1)


def test_bad_arguments(kernel):
    with pytest.raises(ValueError):
        kernel.pow_search(bytes(91), 1, 0, 1)
    with pytest.raises(ValueError):
        kernel.pow_search(bytes(93), 1, 0, 1)
    with pytest.raises(ValueError):
        kernel.pow_search(bytes(124), 1, MAX_NONCE, 2)
    with pytest.raises(ValueError):
        kernel.pow_search(bytes(124), 1, -1, 2)
    with pytest.raises(ValueError):
        kernel.pow_search(bytes(124), 1, 0, -1)


def test_longer_search_matches_reference(kernel):
    """A hit tens of thousands of nonces in (many SIMD batches, several scan chunks)."""
    rng = random.Random(99)
    header = random_header(rng)
    target = (1 << (256 - 15)) - 1
    assert kernel.pow_search(header, target, 1000, 1 << 18) == reference.pow_search(
        header, target, 1000, 1 << 18
    )


@pytest.mark.parametrize("name", ["cython", "numba"])
def test_search_releases_the_gil(name):
    """While one thread searches, another keeps running Python code."""
    from kernels_testlib import load_or_skip, ticks_while

    module = load_or_skip(name)
    module.pow_search(bytes(124), 0, 0, 1000)  # warm up
    header = bytes(range(124))
    count = 1 << 26 if name == "cython" else 1 << 24
    ticks = ticks_while(lambda: module.pow_search(header, 0, 0, count))
    assert ticks > 10_000, "the search held the GIL"


def test_disjoint_ranges_in_threads_find_the_same_first_nonce(kernel):
    rng = random.Random(5)
    header = random_header(rng)
    target = (1 << (256 - 10)) - 1
    results = {}

    def search(part):
        results[part] = kernel.pow_search(header, target, part * 2048, 2048)

    threads = [threading.Thread(target=search, args=(p,)) for p in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    whole = kernel.pow_search(header, target, 0, 4 * 2048)
    first = next(results[p] for p in range(4) if results[p][0] is not None)
    assert whole[0] == first[0]
