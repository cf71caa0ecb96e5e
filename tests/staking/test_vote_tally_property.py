"""Hypothesis: random stakes and random vote sets through the consensus tally.

- A checkpoint is justified exactly when the distinct counted voters hold >= 2/3 of the stake.
- Two conflicting checkpoints of one epoch (two branches from one state) are never both justified
  (so never both finalized) unless validators holding >= 1/3 of the stake voted for both: a
  double vote each, slashable from the votes seen.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from coinium.core.params import REGTEST
from coinium.core.staking import finality
from coinium.core.staking.records import (
    ACTIVE,
    FINALITY_KEY,
    NO_VOTE,
    TOTALS_KEY,
    Checkpoint,
    Finality,
    Totals,
    Validator,
)  # fmt: skip
from coinium.core.state import NS_STAKING, NS_VALIDATOR, BlockContext, BlockState

N = REGTEST.staking.checkpoint_interval
EPOCH = 3
SOURCE = Checkpoint(EPOCH - 1, b"\x01" * 32)


def _state(stakes: list[int], target: Checkpoint) -> BlockState:
    records = {}
    for i, stake in enumerate(stakes):
        records[(NS_VALIDATOR, bytes([i]) * 20)] = Validator(
            bytes([i]) * 32, 0, ACTIVE, stake, stake, 0, 0, 0, 0, 0, 0, stake, NO_VOTE, 1,
        ).encode()  # fmt: skip
    records[(NS_STAKING, TOTALS_KEY)] = Totals(sum(stakes), 0, sum(stakes), 0, 0, 0).encode()
    records[(NS_STAKING, FINALITY_KEY)] = Finality(target, SOURCE, SOURCE, Checkpoint(0, bytes(32)),
                                                   0, 0, 0).encode()  # fmt: skip

    class View:
        def get(self, namespace, key):
            return records.get((namespace, key))

    return BlockState(View(), BlockContext(EPOCH * N + 2, bytes(32), REGTEST, 0))


def _tally(stakes, voters, target) -> Finality:
    state = _state(stakes, target)
    for i in voters:
        finality.count_vote(state, bytes([i]) * 20, bytes([i]) * 32, SOURCE, target)
    return finality.finality(state)


stakes_st = st.lists(st.integers(1, 10**12), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(stakes_st, st.data())
def test_justified_exactly_at_two_thirds(stakes, data):
    voters = data.draw(st.lists(st.integers(0, len(stakes) - 1), max_size=30))  # repeats too
    target = Checkpoint(EPOCH, b"\x0a" * 32)
    f = _tally(stakes, voters, target)
    counted = sum(stakes[i] for i in set(voters))
    assert f.tally == counted
    assert (f.justified == target) == (3 * counted >= 2 * sum(stakes))
    assert (f.finalized == SOURCE) == (f.justified == target)  # the source is the epoch before


@settings(max_examples=300, deadline=None)
@given(stakes_st, st.data())
def test_conflicting_checkpoints_need_a_slashable_third(stakes, data):
    index = st.integers(0, len(stakes) - 1)
    voters_a = set(data.draw(st.lists(index, max_size=12)))
    voters_b = set(data.draw(st.lists(index, max_size=12)))
    a = _tally(stakes, voters_a, Checkpoint(EPOCH, b"\x0a" * 32))
    b = _tally(stakes, voters_b, Checkpoint(EPOCH, b"\x0b" * 32))
    if a.justified.epoch == b.justified.epoch == EPOCH:
        double_voters = voters_a & voters_b
        assert 3 * sum(stakes[i] for i in double_voters) >= sum(stakes)
