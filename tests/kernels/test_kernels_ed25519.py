"""Coinium's Ed25519 rule (ZIP-215, small-order keys refused) in its three implementations: the
Python reference, the C single check and the C batch check (Straus and Pippenger), against the
published vectors, each other, and libsodium."""

from __future__ import annotations

import random

import pytest
from ed25519_cases import (
    KINDS,
    SMALL_ORDER_ENCODINGS,
    SPECCHECK_COINIUM,
    SPECCHECK_ZIP215,
    load_speccheck,
    one_case,
    sign_with_scalar,
    zip215_small_order_grid,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernels_testlib import load_or_skip
from nacl.bindings import crypto_sign_open
from nacl.signing import SigningKey
from test_kernels_verify import SIGN_INPUT

from coinium.kernels import _sodium_entry
from coinium.kernels import ed25519_zip215 as ref

ZIP215, COINIUM = 0, 1  # the C kernels' rule flags
SHA512 = _sodium_entry.sha512_address()


def c_kernels():
    return load_or_skip("cython")._ck


def reference(rule):
    return ref.verify if rule == COINIUM else ref.verify_zip215


def c_single(rule):
    ck = c_kernels()
    return lambda pk, msg, sig: ck.ed25519_verify_one(pk, msg, sig, SHA512, rule)


def c_batch(cases, rule, mode=0, threads=1) -> list[bool]:
    pks, msgs, sigs = (list(x) for x in zip(*cases, strict=True)) if cases else ([], [], [])
    return c_kernels().ed25519_verify_batch(pks, msgs, sigs, threads, SHA512, rule, mode)


def all_verdicts(cases, rule) -> dict[str, list[bool]]:
    """Every implementation's verdicts on the same cases."""
    single = c_single(rule)
    out = {
        "reference": [reference(rule)(*case) for case in cases],
        "C single": [single(*case) for case in cases],
    }
    for mode, name in ((1, "Straus"), (2, "Pippenger")):
        for threads in (1, 2):
            out[f"C batch {name} x{threads}"] = c_batch(cases, rule, mode, threads)
    return out


def libsodium_accepts(pk: bytes, msg: bytes, sig: bytes) -> bool:
    """crypto_sign_verify_detached's verdict (through crypto_sign_open, as the backends call it)."""
    if len(pk) != 32 or len(sig) != 64:  # crypto_sign_open would read sig || msg differently
        return False
    try:
        crypto_sign_open(sig + msg, pk)
    except Exception:  # noqa: BLE001 - any refusal
        return False
    return True


def test_small_order_encodings_are_the_fourteen():
    decoded = [ref.decode_point(e) for e in SMALL_ORDER_ENCODINGS]
    assert len(set(SMALL_ORDER_ENCODINGS)) == 14
    assert all(p is not None and ref.has_small_order(p) for p in decoded)
    # the 8 canonical ones are 8 distinct points; the others re-encode to one of them
    canonical = {ref.encode_point(p) for p in decoded}
    assert canonical == set(SMALL_ORDER_ENCODINGS[:8])


@pytest.mark.parametrize("rule", [ZIP215, COINIUM])
def test_zip215_small_order_grid(rule):
    """The 196 (A, R) combinations: all valid under ZIP-215, all refused by Coinium's rule."""
    cases = zip215_small_order_grid()
    assert len(cases) == 196
    expected = [rule == ZIP215] * 196
    for name, verdicts in all_verdicts(cases, rule).items():
        assert verdicts == expected, name
    # libsodium refuses them all too, so its accepting never vouches for a small-order key
    assert not any(libsodium_accepts(*case) for case in cases)


@pytest.mark.parametrize("rule", [ZIP215, COINIUM])
def test_speccheck_cases(rule):
    """'Taming the many EdDSAs': ZIP-215's published verdicts, and Coinium's."""
    cases = load_speccheck()
    expected = SPECCHECK_ZIP215 if rule == ZIP215 else SPECCHECK_COINIUM
    for name, verdicts in all_verdicts(cases, rule).items():
        assert verdicts == expected, name


def test_speccheck_libsodium_row():
    """The file is read in the paper's order: libsodium's published row is X X X V X X X X X X X
    X on the 12 cases (positions 1, 3, 5-14 of the file)."""
    cases = load_speccheck()
    paper = [1, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    assert [libsodium_accepts(*cases[i]) for i in paper] == [i == 6 for i in paper]


def test_every_sign_input_vector_verifies():
    assert all(ref.verify(*case) for case in SIGN_INPUT[:200])
    single = c_single(COINIUM)
    assert all(single(*case) for case in SIGN_INPUT)
    for mode in (0, 1, 2):
        assert c_batch(SIGN_INPUT, COINIUM, mode, 2) == [True] * len(SIGN_INPUT)


def test_mixed_order_signatures_pass_cofactored_only():
    """Torsion added to R (and to A): libsodium's cofactorless equation fails whenever the
    torsion left over, T_R + [k]T_A, is not zero; every path of our rule accepts them all."""
    rng = random.Random(5)
    r_only, both = [], []
    for torsion in SMALL_ORDER_ENCODINGS[1:8]:
        msg = rng.randbytes(32)
        a, r = rng.randrange(1, ref.L), rng.randrange(1, ref.L)
        pk, sig = sign_with_scalar(a, r, msg, None, torsion)
        r_only.append((pk, msg, sig))
        pk, sig = sign_with_scalar(a, r, msg, torsion, torsion)
        both.append((pk, msg, sig))
    assert not any(libsodium_accepts(*c) for c in r_only)
    assert not all(libsodium_accepts(*c) for c in both)
    cases = r_only + both
    for name, verdicts in all_verdicts(cases, COINIUM).items():
        assert verdicts == [True] * len(cases), name


BAD_INPUTS = [
    (bytes(32), b"m", bytes(64)),  # all-zero key and signature
    (bytes(32), b"", bytes(64)),
    (SigningKey(bytes(32)).verify_key.encode(), b"m", bytes(64)),  # all-zero signature
    (b"\x02" + bytes(31), b"m", bytes(64)),  # y = 2 is on no point: off the curve
    (b"\xff" * 32, b"m", b"\xff" * 64),  # s far above L
    (bytes(31), b"m", bytes(64)),
    (bytes(33), b"m", bytes(64)),
    (bytes(32), b"m", bytes(63)),
    (bytes(32), b"m", bytes(65)),
    (b"", b"", b""),
]


def test_bad_inputs_are_invalid_everywhere():
    for name, verdicts in all_verdicts(BAD_INPUTS, COINIUM).items():
        assert verdicts == [False] * len(BAD_INPUTS), name


def test_not_bytes_like_is_invalid_not_an_error():
    ck = c_kernels()
    key = SigningKey(bytes(range(32)))
    sig = key.sign(b"m").signature
    pk = key.verify_key.encode()
    assert ck.ed25519_verify_one(pk, b"m", sig, SHA512, COINIUM)
    assert not ck.ed25519_verify_one(None, b"m", sig, SHA512, COINIUM)
    assert not ck.ed25519_verify_one(pk, "m", sig, SHA512, COINIUM)
    assert ck.ed25519_verify_batch([pk, 5, pk], [b"m", b"m", 7], [sig, sig, sig], 1, SHA512,
                                   COINIUM, 0) == [True, False, False]


def test_empty_batch_single_and_duplicates():
    key = SigningKey(bytes(range(32)))
    case = (key.verify_key.encode(), b"m", key.sign(b"m").signature)
    assert c_batch([], COINIUM) == []
    assert c_batch([case], COINIUM) == [True]
    assert c_batch([case] * 300, COINIUM) == [True] * 300
    bad = (case[0], b"n", case[2])
    assert c_batch([bad] * 70 + [case] * 70, COINIUM) == [False] * 70 + [True] * 70


def test_one_bad_signature_among_4096_is_named():
    rng = random.Random(4096)
    keys = [SigningKey(rng.randbytes(32)) for _ in range(64)]
    cases = []
    for i in range(4096):
        msg = rng.randbytes(32)
        key = keys[i % 64]
        cases.append((key.verify_key.encode(), msg, key.sign(msg).signature))
    for threads in (1, 2):
        bad_at = rng.randrange(4096)
        pk, msg, sig = cases[bad_at]
        corrupted = list(cases)
        corrupted[bad_at] = (pk, msg, sig[:40] + bytes([sig[40] ^ 4]) + sig[41:])
        verdicts = c_batch(corrupted, COINIUM, 0, threads)
        assert [i for i, ok in enumerate(verdicts) if not ok] == [bad_at]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(KINDS), min_size=1, max_size=24), st.integers(0, 2**32))
def test_random_batches_agree_everywhere(kinds, seed):
    """Random valid and corrupted signatures, mixed in random batches: the reference, the C
    single check and the C batch check (both algorithms, 1 and 2 threads) agree."""
    rng = random.Random(seed)
    cases = [one_case(rng, kind) for kind in kinds]
    verdicts = all_verdicts(cases, COINIUM)
    expected = verdicts.pop("reference")
    for name, got in verdicts.items():
        assert got == expected, name
    for kind, ok in zip(kinds, expected, strict=True):
        if kind in ("valid", "mixed"):
            assert ok, kind
        if kind in ("small_key", "high_s", "zero", "bad_length"):
            assert not ok, kind


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(KINDS), st.integers(0, 2**32))
def test_libsodium_accepting_implies_the_rule_accepting(kind, seed):
    """What the python and numba backends rely on: they ask libsodium first and the reference
    only about what libsodium rejects."""
    pk, msg, sig = one_case(random.Random(seed), kind)
    if libsodium_accepts(pk, msg, sig):
        assert ref.verify(pk, msg, sig)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.binary(min_size=32, max_size=32), st.binary(max_size=40)),
                          st.binary(max_size=64),
                          st.one_of(st.binary(min_size=64, max_size=64), st.binary(max_size=70))),
                min_size=1, max_size=12))
def test_arbitrary_bytes_never_raise_and_agree(cases):
    """Whatever the bytes and lengths: a verdict, the same from every implementation."""
    verdicts = all_verdicts(cases, COINIUM)
    expected = verdicts.pop("reference")
    for name, got in verdicts.items():
        assert got == expected, name


def test_remembered_keys_give_the_verdicts_of_fresh_ones():
    """The C checks remember decoded public keys (ed25519_keycache.c). Every verdict the second
    time a key is seen is the first one's and the reference's: the published edge cases, the
    small-order keys, a key that does not decode, and one key over many messages, one of them
    with a bad signature."""
    not_a_point = next(bytes([i]) + bytes(31) for i in range(2, 256)
                       if ref.decode_point(bytes([i]) + bytes(31)) is None)  # fmt: skip
    signer = SigningKey(bytes(range(32)))
    many = [(bytes(signer.verify_key), m, signer.sign(m).signature)
            for m in (b"message %d" % i for i in range(150))]  # fmt: skip
    many[77] = (many[77][0], b"not what was signed", many[77][2])
    cases = [*load_speccheck(), *zip215_small_order_grid()[::13],
             (not_a_point, b"m", many[0][2]), *many]  # fmt: skip
    expected = [ref.verify(*case) for case in cases]
    assert expected.count(False) > 10 and expected[-150:].count(False) == 1
    single = c_single(COINIUM)
    for _ in range(2):  # cold (for keys no other test decoded) and warm
        assert c_batch(cases, COINIUM, 0, 2) == expected
        assert [single(*case) for case in cases] == expected
