"""Hypothesis: every staking record decodes to what was encoded, and bytes of another length are
a DecodeError (never a wrong record)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinium.core.codec import DecodeError
from coinium.core.staking.records import (
    Checkpoint,
    Delegation,
    Finality,
    Totals,
    Unbonding,
    Validator,
)  # fmt: skip

u8, u16, u32, u64 = (st.integers(0, 2**b - 1) for b in (8, 16, 32, 64))
u256 = st.integers(0, 2**256 - 1)
h32 = st.binary(min_size=32, max_size=32)
checkpoints = st.builds(Checkpoint, u32, h32)
records = st.one_of(
    st.builds(Validator, h32, u16, u8, u64, u64, u256, u256, u64, u64, u64, u32, u64, u32, u32),
    st.builds(Delegation, u64, u256),
    st.builds(Unbonding, st.lists(st.tuples(u32, u64), max_size=7).map(tuple)),
    st.builds(Totals, u64, u32, u64, u256, u64, u64),
    st.builds(Finality, checkpoints, checkpoints, checkpoints, checkpoints, u64, u64, u32),
)


@given(records)
def test_round_trip(record):
    assert type(record).decode(record.encode()) == record


@given(records, st.integers(1, 40), st.booleans())
def test_other_lengths_are_decode_errors(record, cut, grow):
    raw = record.encode()
    damaged = raw + bytes(cut) if grow else raw[:-cut] if cut < len(raw) else b""
    with pytest.raises(DecodeError):
        type(record).decode(damaged)
