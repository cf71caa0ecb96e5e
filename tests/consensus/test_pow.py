"""Compact targets, work and the hash check, against Bitcoin Core's known cases."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinium.consensus.pow import (
    MAX_TARGET_EXCLUSIVE,
    decode_compact,
    decode_compact_raw,
    difficulty_for_display,
    encode_compact,
    hash_meets_target,
    target_to_work,
)

BITCOIN_POW_LIMIT_BITS = 0x1D00FFFF
BITCOIN_POW_LIMIT = 0xFFFF * 2**208

# Bitcoin Core src/test/arith_uint256_tests.cpp (bignum_SetCompact):
# (bits, value, negative, overflow, GetCompact of the value with the sign flag reapplied)
CORE_SET_COMPACT_CASES = [
    (0x00000000, 0, False, False, 0x00000000),
    (0x00123456, 0, False, False, 0x00000000),
    (0x01003456, 0, False, False, 0x00000000),
    (0x02000056, 0, False, False, 0x00000000),
    (0x03000000, 0, False, False, 0x00000000),
    (0x04000000, 0, False, False, 0x00000000),
    (0x00923456, 0, False, False, 0x00000000),
    (0x01803456, 0, False, False, 0x00000000),
    (0x02800056, 0, False, False, 0x00000000),
    (0x03800000, 0, False, False, 0x00000000),
    (0x04800000, 0, False, False, 0x00000000),
    (0x01123456, 0x12, False, False, 0x01120000),
    (0x01FEDCBA, 0x7E, True, False, 0x01FE0000),
    (0x02123456, 0x1234, False, False, 0x02123400),
    (0x03123456, 0x123456, False, False, 0x03123456),
    (0x04123456, 0x12345600, False, False, 0x04123456),
    (0x04923456, 0x12345600, True, False, 0x04923456),
    (0x05009234, 0x92340000, False, False, 0x05009234),
    (0x20123456, 0x123456 << (8 * 29), False, False, 0x20123456),
]


def _get_compact_signed(value: int, negative: bool) -> int:
    """Core's GetCompact(fNegative) built on ours, to compare with Core's expected bits."""
    bits = encode_compact(value)
    return bits | 0x00800000 if negative and bits & 0x007FFFFF else bits


@pytest.mark.parametrize(
    ("bits", "value", "negative", "overflow", "recompact"), CORE_SET_COMPACT_CASES
)
def test_set_compact_matches_bitcoin_core(
    bits: int, value: int, negative: bool, overflow: bool, recompact: int
) -> None:
    assert decode_compact_raw(bits) == (value, negative, overflow)
    assert _get_compact_signed(value, negative) == recompact


@pytest.mark.parametrize("bits", [c[0] for c in CORE_SET_COMPACT_CASES if c[1] and not c[2]])
def test_valid_core_cases_decode(bits: int) -> None:
    value = decode_compact_raw(bits)[0]
    assert decode_compact(bits) == value


def test_bitcoin_pow_limit() -> None:
    assert decode_compact(BITCOIN_POW_LIMIT_BITS) == BITCOIN_POW_LIMIT
    assert encode_compact(BITCOIN_POW_LIMIT) == BITCOIN_POW_LIMIT_BITS
    # Core's GetCompact of 0x80 moves the byte up so the sign bit stays clear.
    assert encode_compact(0x80) == 0x02008000


@pytest.mark.parametrize(
    ("bits", "message"),
    [
        (0x04923456, "negative"),
        (0x01FEDCBA, "negative"),
        (0x00800001, "zero"),  # sign bit set but the mantissa shifts away: zero, not negative
        (0xFF123456, "overflow"),
        (0x23000100, "overflow"),  # exponent 35
        (0x22000100, "overflow"),  # exponent 34, mantissa > 0xff
        (0x21010000, "overflow"),  # exponent 33, mantissa > 0xffff
        (0x01003456, "zero"),
        (0x00000000, "zero"),
        (0x04000000, "zero"),
    ],
)
def test_invalid_bits_rejected(bits: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_compact(bits)


def test_overflow_boundaries_are_exact() -> None:
    # The largest encodings that still fit 256 bits are accepted.
    assert decode_compact(0x220000FF) == 0xFF << (8 * 31)
    assert decode_compact(0x2100FFFF) == 0xFFFF << (8 * 30)
    assert decode_compact(0x207FFFFF) == 0x7FFFFF << (8 * 29)
    assert decode_compact_raw(0x22000100)[2]
    assert decode_compact_raw(0x21010000)[2]


@pytest.mark.parametrize("bits", [-1, 1 << 32, 0x1_1D00FFFF])
def test_bits_must_fit_u32(bits: int) -> None:
    with pytest.raises(ValueError, match="32-bit"):
        decode_compact(bits)


def test_pow_limit_enforced_when_given() -> None:
    assert decode_compact(0x1D00FFFF, pow_limit=BITCOIN_POW_LIMIT) == BITCOIN_POW_LIMIT
    with pytest.raises(ValueError, match="limit"):
        decode_compact(0x1D010000, pow_limit=BITCOIN_POW_LIMIT)


def test_encode_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        encode_compact(-1)
    with pytest.raises(ValueError):
        encode_compact(MAX_TARGET_EXCLUSIVE)
    assert encode_compact(0) == 0
    assert encode_compact(MAX_TARGET_EXCLUSIVE - 1) == 0x2100FFFF


def _truncate_to_compact_precision(target: int) -> int:
    """``target`` with every byte below its compact mantissa cleared (independent oracle)."""
    size = (target.bit_length() + 7) // 8
    if size >= 3 and (target >> (8 * (size - 3))) & 0x800000:
        size += 1  # the top byte would set the sign bit: only two significant bytes are kept
    drop = 8 * max(0, size - 3)
    return (target >> drop) << drop


@given(st.integers(min_value=1, max_value=MAX_TARGET_EXCLUSIVE - 1))
def test_target_round_trip_truncates_to_mantissa(target: int) -> None:
    bits = encode_compact(target)
    assert 0 <= bits <= 0xFFFFFFFF
    decoded = decode_compact(bits)
    assert decoded == _truncate_to_compact_precision(target)
    assert decoded <= target
    assert encode_compact(decoded) == bits


@given(st.integers(min_value=3, max_value=32), st.integers(min_value=0x8000, max_value=0x7FFFFF))
def test_canonical_bits_round_trip(exponent: int, mantissa: int) -> None:
    # For exponents 3..32 every mantissa in [0x8000, 0x7fffff] is the canonical encoding.
    bits = (exponent << 24) | mantissa
    assert encode_compact(decode_compact(bits)) == bits


@given(st.integers(min_value=0, max_value=0xFFFFFFFF))
def test_any_valid_bits_normalise_to_a_canonical_form(bits: int) -> None:
    try:
        target = decode_compact(bits)
    except ValueError:
        return
    canonical = encode_compact(target)
    assert decode_compact(canonical) == target
    assert encode_compact(decode_compact(canonical)) == canonical


def test_small_canonical_forms_round_trip() -> None:
    for value in range(1, 1 << 16):
        bits = encode_compact(value)
        assert decode_compact(bits) == value
        assert encode_compact(decode_compact(bits)) == bits


def test_target_to_work() -> None:
    # Bitcoin's genesis work: 2**256 // (pow_limit + 1) = 0x100010001.
    assert target_to_work(BITCOIN_POW_LIMIT) == 0x100010001
    assert target_to_work(MAX_TARGET_EXCLUSIVE - 1) == 1
    assert target_to_work(0) == MAX_TARGET_EXCLUSIVE
    assert target_to_work(1) == MAX_TARGET_EXCLUSIVE // 2
    with pytest.raises(ValueError):
        target_to_work(-1)


def test_hash_meets_target_boundaries() -> None:
    target = BITCOIN_POW_LIMIT
    exact = target.to_bytes(32, "big")
    above = (target + 1).to_bytes(32, "big")
    assert hash_meets_target(exact, target)
    assert not hash_meets_target(above, target)
    assert hash_meets_target(bytes(32), 0)
    # Big-endian: a leading zero byte means a small number.
    assert hash_meets_target(b"\x00" * 5 + b"\xff" * 27, target)
    assert not hash_meets_target(b"\x00" * 3 + b"\x01" + b"\x00" * 28, target)
    with pytest.raises(ValueError):
        hash_meets_target(b"\x00" * 31, target)


def test_difficulty_for_display() -> None:
    assert difficulty_for_display(BITCOIN_POW_LIMIT, BITCOIN_POW_LIMIT) == 1.0
    assert difficulty_for_display(BITCOIN_POW_LIMIT // 4, BITCOIN_POW_LIMIT) == 4.0
    # Bitcoin block 100,000 (bits 0x1b04864c) shows difficulty 14484.16236122.
    shown = difficulty_for_display(decode_compact(0x1B04864C), BITCOIN_POW_LIMIT)
    assert abs(shown - 14484.16236122) < 1e-6
