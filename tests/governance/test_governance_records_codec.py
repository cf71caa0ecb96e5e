"""The governance records round-trip through their canonical encodings, and a truncated or
extended encoding is a DecodeError (never a wrong record)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinium.core.codec import DecodeError
from coinium.core.governance.records import Governance, Proposal, ValidatorSnapshot
from coinium.core.governance.table import ParamRecord

u8, u16, u32 = st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, (1 << 64) - 1)
ident = st.binary(min_size=20, max_size=20)

PROPOSALS = st.builds(
    Proposal, ident, st.integers(0, 6), u32, u32, u32, u32, u32, u64,
    st.tuples(u64, u64, u64, u64), st.binary(min_size=32, max_size=32),
    st.binary(max_size=140), st.lists(st.tuples(u8, u64), max_size=8).map(tuple),
    st.lists(st.tuples(ident, u64), max_size=32).map(tuple),
)  # fmt: skip
GOVERNANCE = st.builds(Governance, u32, u64, u64, st.lists(u32, max_size=16).map(tuple),
                       st.lists(u32, max_size=16).map(tuple))  # fmt: skip
PARAMS = st.builds(ParamRecord, u8, u64, u64, u16, u64, u64,
                   st.lists(st.tuples(u32, u64), max_size=64).map(tuple))  # fmt: skip
SNAPSHOTS = st.builds(ValidatorSnapshot, st.integers(0, 1), u64, u64, u64)


@pytest.mark.parametrize("records", [PROPOSALS, GOVERNANCE, PARAMS, SNAPSHOTS])
@given(data=st.data())
def test_round_trip_and_bad_lengths(records, data):
    record = data.draw(records)
    encoded = record.encode()
    assert type(record).decode(encoded) == record
    with pytest.raises(DecodeError):
        type(record).decode(encoded[:-1])
    with pytest.raises(DecodeError):
        type(record).decode(encoded + b"\x00")
