"""The reachability self-test's messages (checkaddr, checkaddrreply): canonical round trips, and
what is not canonical is malformed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinium.p2p.messages import (
    CheckAddr,
    CheckAddrReply,
    MalformedMessage,
    MsgType,
    OversizedMessage,
    decode,
    encode,
)

u16 = st.integers(0, 0xFFFF)
u64 = st.integers(0, (1 << 64) - 1)
hosts = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str))
messages = st.one_of(st.builds(CheckAddr, u64, u16),
                     st.builds(CheckAddrReply, u64, u16, st.booleans(), hosts))  # fmt: skip


@given(messages)
def test_round_trip(message):
    assert decode(encode(message)) == message


@given(messages, st.binary(min_size=1, max_size=8))
def test_trailing_bytes_and_truncation_are_refused(message, extra):
    frame = encode(message)
    with pytest.raises(MalformedMessage):
        decode(frame + extra)
    with pytest.raises(MalformedMessage):
        decode(frame[:-1])


def test_golden_bytes_and_bad_flag():
    assert encode(CheckAddr(1, 8333)) == b"\x0f" + (1).to_bytes(8, "little") + b"\x8d\x20"
    reply = encode(CheckAddrReply(2, 8333, True, "192.0.2.1"))
    assert reply[:12] == b"\x10" + (2).to_bytes(8, "little") + b"\x8d\x20\x01"
    with pytest.raises(MalformedMessage):
        decode(reply[:11] + b"\x02" + reply[12:])  # reachable is 0 or 1
    with pytest.raises(OversizedMessage):
        decode(bytes((MsgType.CHECKADDR,)) + bytes(11))
