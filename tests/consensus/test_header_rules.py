"""Header rules in context: height, difficulty, median time past and the future limit."""

from __future__ import annotations

import dataclasses

import pytest

from coinium.consensus.errors import HeaderError
from coinium.consensus.header_rules import (
    ParentContext,
    check_header_in_context,
    check_proof_of_work,
    median_time_past,
    required_bits,
)
from coinium.core.header import Header
from coinium.core.params import MAIN, REGTEST, TEST

PARENT = ParentContext(height=10, timestamp=1000, recent_timestamps=[1000, 990, 995, 980, 985,
                                                                      970, 975, 960, 965, 950, 955])
NOW = 2000


def header(**changes):
    base = Header(2, 11, bytes(32), bytes(32), bytes(32), 1001, REGTEST.genesis_bits, 0)
    return dataclasses.replace(base, **changes)


def test_median_time_past():
    assert median_time_past(PARENT.recent_timestamps) == 975
    assert median_time_past([5]) == 5


def test_a_good_header_passes():
    check_header_in_context(header(), PARENT, REGTEST, NOW)
    check_header_in_context(header(timestamp=976), PARENT, REGTEST, NOW)  # above the median


@pytest.mark.parametrize(
    "changes, reason, permanent",
    [
        ({"height": 12}, "bad-height", True),
        ({"bits": 0x1F00FFFF}, "bad-diffbits", True),
        ({"timestamp": 975}, "time-too-old", True),
        ({"timestamp": NOW + 7201}, "time-too-new", False),
        ({"version": 0}, "bad-version", True),
    ],
)
def test_header_rule_violations(changes, reason, permanent):
    with pytest.raises(HeaderError) as err:
        check_header_in_context(header(**changes), PARENT, REGTEST, NOW)
    assert err.value.reason == reason and err.value.permanent is permanent


def test_future_limit_is_inclusive():
    check_header_in_context(header(timestamp=NOW + 7200), PARENT, REGTEST, NOW)


def test_regtest_never_retargets_but_main_does():
    assert required_bits(REGTEST, 1000, 10**9) == REGTEST.genesis_bits
    on_schedule = required_bits(MAIN, 100, MAIN.genesis_timestamp + 100 * 60)
    assert on_schedule == MAIN.genesis_bits
    slow = required_bits(MAIN, 100, MAIN.genesis_timestamp + 100 * 60 + MAIN.asert_half_life)
    assert slow != MAIN.genesis_bits  # blocks came late: the target got easier
    assert required_bits(TEST, 0, TEST.genesis_timestamp) == TEST.genesis_bits


def test_proof_of_work_rejects_targets_above_the_limit():
    easy = Header(2, 1, bytes(32), bytes(32), bytes(32), 0, 0x2100FFFF, 0)
    with pytest.raises(HeaderError, match="bad-diffbits"):
        check_proof_of_work(easy, MAIN)
