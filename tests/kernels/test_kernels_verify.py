"""verify_batch on every backend: the external vectors, and the same verdict as the reference
(Coinium's rule, python_backend.verify_one, one signature at a time) on every kind of bad input.
The rule's own vectors and the C kernels' differential tests are in test_kernels_ed25519.py."""

from __future__ import annotations

import random

import pytest
from kernels_testlib import VECTORS, load_or_skip, ticks_while
from nacl.signing import SigningKey

from coinium.kernels import _sodium_entry
from coinium.kernels import python_backend as reference

L = 2**252 + 27742317777372353535851937790883648493

# Encodings of the eight points of small order, and non-canonical encodings (y >= p, or x = 0
# with the sign bit set) of some of them.
SMALL_ORDER = [bytes.fromhex(h) for h in (
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
)]
NON_CANONICAL = [bytes.fromhex(h) for h in (
    "0100000000000000000000000000000000000000000000000000000000000080",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
)]


def load_sign_input() -> list[tuple[bytes, bytes, bytes]]:
    cases = []
    with open(VECTORS / "ed25519_sign_input.txt") as f:
        for line in f:
            fields = line.rstrip("\n").split(":")
            if len(fields) < 4:
                continue
            pk, msg, signed = (bytes.fromhex(x) for x in fields[1:4])
            cases.append((pk, msg, signed[:64]))
    return cases


SIGN_INPUT = load_sign_input()


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def assert_same_verdicts(module, pks, msgs, sigs, **kwargs) -> list[bool]:
    expected = reference.verify_batch(pks, msgs, sigs)
    got = module.verify_batch(pks, msgs, sigs, **kwargs)
    assert [bool(x) for x in got] == expected
    return expected


def test_vector_file_is_complete():
    assert len(SIGN_INPUT) == 1024


def test_every_vector_verifies(backend):
    pks, msgs, sigs = map(list, zip(*SIGN_INPUT, strict=True))
    assert backend.verify_batch(pks, msgs, sigs) == [True] * len(SIGN_INPUT)


def test_one_flipped_bit_anywhere_fails(backend):
    """Every vector with one random bit flipped in its key, signature or message."""
    rng = random.Random(11)
    pks, msgs, sigs = [], [], []
    for pk, msg, sig in SIGN_INPUT:
        whole = pk + sig + msg
        bit = rng.randrange(8 * len(whole))
        bad = flip(whole, bit)
        pks.append(bad[:32])
        sigs.append(bad[32:96])
        msgs.append(bad[96:])
    # every one is invalid under any rule (the reference agrees: test_kernels_ed25519.py)
    assert backend.verify_batch(pks, msgs, sigs) == [False] * len(SIGN_INPUT)


def test_every_bit_of_a_few_vectors(backend):
    """RFC 8032 tests 1-3: each bit of key, R, S and message flipped in turn."""
    pks, msgs, sigs = [], [], []
    for pk, msg, sig in SIGN_INPUT[:3]:
        whole = pk + sig + msg
        for bit in range(8 * len(whole)):
            bad = flip(whole, bit)
            pks.append(bad[:32])
            sigs.append(bad[32:96])
            msgs.append(bad[96:])
    assert backend.verify_batch(pks, msgs, sigs) == [False] * len(pks)


def malformed_cases() -> tuple[list[bytes], list[bytes], list]:
    """Good and bad signatures of every kind the issue lists, mixed."""
    rng = random.Random(12)
    pks, msgs, sigs = [], [], []

    def add(pk, msg, sig):
        pks.append(pk)
        msgs.append(msg)
        sigs.append(sig)

    for _ in range(6):
        key = SigningKey(rng.randbytes(32))
        pk = key.verify_key.encode()
        msg = rng.randbytes(rng.choice([0, 1, 32, 200, 5000]))
        sig = key.sign(msg).signature
        r, s = sig[:32], int.from_bytes(sig[32:], "little")
        add(pk, msg, sig)  # good
        add(pk, msg, r + (s + L).to_bytes(32, "little"))  # S >= L, same point
        add(pk, msg, r + (s | (1 << 255)).to_bytes(32, "little"))  # S far above L
        add(pk, msg, r + L.to_bytes(32, "little"))  # S = L exactly
        add(pk, msg, r + (L - 1).to_bytes(32, "little"))  # S = L - 1: canonical but wrong
        for small in SMALL_ORDER + NON_CANONICAL:
            add(small, msg, sig)  # small-order or non-canonical key
            add(pk, msg, small + sig[32:])  # small-order or non-canonical R
            add(small, msg, small + bytes(32))  # R small, S = 0: "valid" for a small key
        add(pk[:31], msg, sig)  # wrong lengths
        add(pk + b"\0", msg, sig)
        add(pk, msg, sig[:63])
        add(pk, msg, sig + b"\0")
        add(b"", msg, sig)
        add(pk, msg, b"")
        add(bytearray(pk), bytearray(msg), bytearray(sig))  # other bytes-like types
        add(memoryview(pk), memoryview(msg), memoryview(sig))
    # a message that is not bytes-like never verifies, even beside a signature of b""
    key = SigningKey(rng.randbytes(32))
    add(key.verify_key.encode(), "", key.sign(b"").signature)
    # the classic forgery against a small-order key: R = identity, S = 0, any message
    for small in SMALL_ORDER:
        add(small, b"anything", SMALL_ORDER[0] + bytes(32))
    return pks, msgs, sigs


def test_malformed_inputs_get_the_reference_verdict(backend):
    pks, msgs, sigs = malformed_cases()
    verdicts = assert_same_verdicts(backend, pks, msgs, sigs)
    assert any(verdicts) and not all(verdicts)
    assert verdicts[-8:] == [False] * 8  # Coinium's rule refuses small-order keys


@pytest.mark.parametrize("name", ["cython", "numba"])
@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_thread_counts_agree(name, threads):
    pks, msgs, sigs = malformed_cases()
    assert_same_verdicts(load_or_skip(name), pks, msgs, sigs, threads=threads)


def test_empty_and_mismatched_batches(backend):
    assert list(backend.verify_batch([], [], [])) == []
    with pytest.raises(ValueError):
        backend.verify_batch([bytes(32)], [], [bytes(64)])


def test_numba_crypto_sign_open_path_gives_the_same_verdicts():
    """The crypto_sign_open path, used if a PyNaCl build hides crypto_sign_verify_detached."""
    pks, msgs, sigs = malformed_cases()
    expected = reference.verify_batch(pks, msgs, sigs)
    sign_open = _sodium_entry.sign_open_address()
    nb = load_or_skip("numba")
    assert nb._verify(pks, msgs, sigs, 2, (0, sign_open)) == expected


@pytest.mark.parametrize("name", ["cython", "numba"])
def test_verification_releases_the_gil(name):
    module = load_or_skip(name)
    key = SigningKey(bytes(32))
    msg = b"m" * 100
    sig = key.sign(msg).signature
    n = 3000
    ticks = ticks_while(lambda: module.verify_batch([key.verify_key.encode()] * n, [msg] * n,
                                                    [sig] * n, threads=1))  # fmt: skip
    assert ticks > 10_000, "verification held the GIL"
