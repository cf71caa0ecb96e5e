"""The slashing-protection record on a real LMDB file: conflicting votes refused, across a
restart (the file reopened)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinium.validator.protection import ProtectionError, SlashingProtection

KEY = b"\x07" * 32


def test_conflicts_refused_across_restarts(tmp_path):
    protection = SlashingProtection(tmp_path)
    protection.record(KEY, 0, 1, b"a" * 32)
    protection.record(KEY, 1, 2, b"b" * 32)
    protection.close()
    protection = SlashingProtection(tmp_path)  # a restart
    assert protection.last(KEY) == (1, 2) and protection.signed(KEY, 2) == b"b" * 32
    with pytest.raises(ProtectionError):
        protection.check(KEY, 1, 2)  # double vote
    with pytest.raises(ProtectionError):
        protection.record(KEY, 0, 3, b"c" * 32)  # surrounds (1, 2)
    with pytest.raises(ProtectionError):
        protection.record(KEY, 2, 2, b"c" * 32)
    protection.record(KEY, 2, 3, b"c" * 32)
    protection.record(b"\x08" * 32, 0, 1, b"d" * 32)  # another key is independent
    protection.close()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), max_size=20))
def test_no_two_recorded_votes_are_slashable(tmp_path_factory, votes):
    protection = SlashingProtection(tmp_path_factory.mktemp("p"))
    signed = []
    for source, target in votes:
        if source >= target:
            continue
        try:
            protection.record(KEY, source, target, bytes(32))
        except ProtectionError:
            continue
        signed.append((source, target))
    protection.close()
    for i, (s1, t1) in enumerate(signed):
        for s2, t2 in signed[i + 1:]:
            assert t1 != t2  # no double vote
            assert not (s1 < s2 and t2 < t1) and not (s2 < s1 and t1 < t2)  # no surround
