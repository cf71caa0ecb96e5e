"""Reputation: the one penalty table, the error mappings, decay and the ban threshold."""

from __future__ import annotations

import pytest

from coinium.consensus.errors import BlockError, HeaderError
from coinium.p2p.scoring import (
    BAN_THRESHOLD,
    HALF_LIFE_S,
    MAX_SCORE,
    PENALTY,
    REWARD,
    Merit,
    Misbehaviour,
    Reputation,
    for_block_error,
    for_tx_reject,
)


def test_every_misbehaviour_and_merit_has_a_price():
    assert set(PENALTY) == set(Misbehaviour) and set(REWARD) == set(Merit)
    assert all(v >= 0 for v in PENALTY.values()) and all(v > 0 for v in REWARD.values())


@pytest.mark.parametrize("what", [Misbehaviour.INVALID_BLOCK, Misbehaviour.INVALID_TX,
                                  Misbehaviour.WRONG_NETWORK, Misbehaviour.BAD_HEADERS])
def test_offences_no_honest_node_commits_ban_at_once_whatever_the_record(what):
    rep = Reputation()
    for _ in range(1000):
        rep.reward(Merit.NOVEL_BLOCK, 0.0)
    assert rep.score(0.0) == MAX_SCORE
    rep.penalize(what, 0.0)
    assert rep.should_ban(0.0)


def test_minor_offences_add_up_and_decay():
    rep = Reputation()
    rep.penalize(Misbehaviour.MALFORMED, 0.0)
    assert not rep.should_ban(0.0)
    rep.penalize(Misbehaviour.MALFORMED, 0.0)
    assert rep.should_ban(0.0) and rep.last_offence == Misbehaviour.MALFORMED
    slow = Reputation()
    slow.penalize(Misbehaviour.MALFORMED, 0.0)
    assert slow.score(HALF_LIFE_S) == pytest.approx(-25.0)
    slow.penalize(Misbehaviour.MALFORMED, HALF_LIFE_S)  # the first slip has half faded
    assert not slow.should_ban(HALF_LIFE_S)
    flood = Reputation()
    flood.penalize(Misbehaviour.FLOOD, 0.0, count=int(-BAN_THRESHOLD / PENALTY[Misbehaviour.FLOOD]))
    assert flood.should_ban(0.0)


def test_unknown_messages_cost_nothing():
    rep = Reputation()
    rep.penalize(Misbehaviour.UNKNOWN_MESSAGE, 0.0)
    assert rep.score(0.0) == 0 and rep.last_offence is None


def test_block_errors_map_to_one_offence():
    assert for_block_error(None) is None
    assert for_block_error(HeaderError("time-too-new", permanent=False)) is None
    assert for_block_error(HeaderError("high-hash")) == Misbehaviour.INVALID_BLOCK
    assert for_block_error(BlockError("bad-txnmrklroot", mutated=True)) == \
        Misbehaviour.INVALID_BLOCK  # fmt: skip


@pytest.mark.parametrize("reason,offence", [
    ("bad-txns-signature", Misbehaviour.INVALID_TX),
    ("TX decode failed", Misbehaviour.INVALID_TX),
    ("bad-txns-kind", Misbehaviour.INVALID_TX),
    ("nonce-gap", None), ("bad-txns-nonce", None), ("txn-mempool-conflict", None),
    ("bad-txns-in-belowout", None), ("mempool full", None), ("min relay fee not met", None),
])  # fmt: skip
def test_mempool_rejections_map_to_offences_only_when_the_tx_itself_is_bad(reason, offence):
    assert for_tx_reject(reason) == offence
