"""Voting power is bonded stake when the vote began: stake bonded later has no weight; a
delegator's vote overrides its validator's for its own stake; a later vote replaces the earlier;
the tally's quorum, threshold and veto edges; deposits refunded or burned."""

from __future__ import annotations

import pytest
from gov_helpers import (
    CHAIN_ID,
    OPERATORS,
    VOTERS,
    Nonces,
    advance_to,
    assert_supply_kept,
    connect,
    governance_of,
    proposal_of,
    staked_chain,
    submit,
    vote,
)  # fmt: skip
from helpers import DictView, key, replay_records

from coinium.chain.builder import generate
from coinium.core.governance.proposals import outcome
from coinium.core.governance.records import (
    ABSTAIN,
    EXPIRED,
    NO,
    PASSED,
    REJECTED,
    VETO,
    VETOED,
    VOTING,
    YES,
    Proposal,
)  # fmt: skip
from coinium.core.params import REGTEST
from coinium.core.staking import transactions as stx
from coinium.core.state import BlockContext, BlockState
from coinium.core.units import COIN

DELEGATOR = key(60)
LATE = key(61)


def open_vote(chain, nonces, changes=None):
    """A proposal in its vote (id 1); DELEGATOR has 10 COIN with validator 0 from before."""
    staked_chain(chain, nonces)
    generate(chain, 1, DELEGATOR.account)
    generate(chain, 1, LATE.account)
    connect(chain, [stx.delegate(DELEGATOR, CHAIN_ID, OPERATORS[0].account, 10 * COIN, 0,
                                 nonces(DELEGATOR))])  # fmt: skip
    connect(chain, [submit(OPERATORS[0], nonces, changes or {"inactivity_epochs": 5})])
    connect(chain)
    assert proposal_of(chain, 1).status == VOTING
    assert proposal_of(chain, 1).bonded_at_start == 70 * COIN


def test_stake_bonded_after_the_snapshot_votes_with_zero_weight(chain):
    nonces = Nonces()
    open_vote(chain, nonces)
    # A new delegation, a bigger self-bond and a new validator, all after the vote began.
    connect(chain, [
        stx.delegate(LATE, CHAIN_ID, OPERATORS[1].account, 40 * COIN, 0, nonces(LATE)),
        stx.bond(OPERATORS[2], CHAIN_ID, 15 * COIN, 0, nonces(OPERATORS[2])),
    ])  # fmt: skip
    newcomer = key(62)
    generate(chain, 1, newcomer.account)
    connect(chain, [stx.register_validator(newcomer, CHAIN_ID, key(63).public_key, 0,
                                           40 * COIN, 0, nonces(newcomer))])  # fmt: skip
    connect(chain, [vote(LATE, nonces, OPERATORS[1].account, 1, YES),
                    vote(OPERATORS[2], nonces, OPERATORS[2].account, 1, NO),
                    vote(newcomer, nonces, newcomer.account, 1, YES)])  # fmt: skip
    # The late delegation and the newcomer count nothing; validator 2 counts its 30, not 45.
    assert proposal_of(chain, 1).tally == (0, 30 * COIN, 0, 0)
    assert replay_records(chain) == dict(chain.iter_records())


def test_a_delegator_overrides_its_validator_and_a_later_vote_replaces(chain):
    nonces = Nonces()
    open_vote(chain, nonces)
    v0 = OPERATORS[0].account
    connect(chain, [vote(OPERATORS[0], nonces, v0, 1, YES)])
    assert proposal_of(chain, 1).tally == (20 * COIN, 0, 0, 0)  # its 10 and the delegator's
    connect(chain, [vote(DELEGATOR, nonces, v0, 1, NO)])
    assert proposal_of(chain, 1).tally == (10 * COIN, 10 * COIN, 0, 0)
    connect(chain, [vote(DELEGATOR, nonces, v0, 1, VETO)])  # replaces its "no"
    assert proposal_of(chain, 1).tally == (10 * COIN, 0, 0, 10 * COIN)
    connect(chain, [vote(OPERATORS[0], nonces, v0, 1, ABSTAIN)])  # replaces its "yes"
    assert proposal_of(chain, 1).tally == (0, 0, 10 * COIN, 10 * COIN)
    # A delegator that unbonds after voting keeps its snapshot weight.
    connect(chain, [stx.unbond(DELEGATOR, CHAIN_ID, v0, 10 * COIN, 0, nonces(DELEGATOR)),
                    vote(DELEGATOR, nonces, v0, 1, YES)])  # fmt: skip
    assert proposal_of(chain, 1).tally == (10 * COIN, 0, 10 * COIN, 0)
    assert replay_records(chain) == dict(chain.iter_records())


def test_veto_burns_the_deposits(chain):
    nonces = Nonces()
    open_vote(chain, nonces)
    escrow = governance_of(chain).escrow
    connect(chain, [vote(OPERATORS[2], nonces, OPERATORS[2].account, 1, VETO),
                    vote(OPERATORS[1], nonces, OPERATORS[1].account, 1, YES)])  # fmt: skip
    advance_to(chain, proposal_of(chain, 1).voting_end)
    assert proposal_of(chain, 1).status == VETOED  # 30 of 50 voted is veto
    g = governance_of(chain)
    assert g.escrow == 0 and g.burned == escrow == 1 * COIN
    assert_supply_kept(chain)


def test_a_proposal_short_of_its_deposit_expires_and_burns_it(chain):
    nonces = Nonces()
    staked_chain(chain, nonces)
    connect(chain, [submit(OPERATORS[0], nonces, {"inactivity_epochs": 5},
                           deposit=COIN // 10)])  # fmt: skip
    p = proposal_of(chain, 1)
    advance_to(chain, p.deposit_end)
    assert proposal_of(chain, 1).status == EXPIRED
    assert governance_of(chain).burned == COIN // 10 and governance_of(chain).open == ()
    assert_supply_kept(chain)


def test_deposits_from_others_take_it_to_a_vote(chain):
    nonces = Nonces()
    staked_chain(chain, nonces)
    from coinium.core.governance import transactions as gtx

    connect(chain, [submit(OPERATORS[0], nonces, {"inactivity_epochs": 5},
                           deposit=COIN // 2)])  # fmt: skip
    connect(chain, [gtx.deposit(OPERATORS[1], CHAIN_ID, 1, COIN // 2, 0, nonces(OPERATORS[1]))])
    assert proposal_of(chain, 1).deposit == COIN
    connect(chain)
    assert proposal_of(chain, 1).status == VOTING
    assert VOTERS  # the voting keys are not governance voters: operators vote


def _state():
    return BlockState(DictView(), BlockContext(1, bytes(32), REGTEST, 0))


def _proposal(tally, bonded=10_000):
    return Proposal(bytes(20), VOTING, 1, 2, 2, 3, 0, bonded, tally, bytes(32), b"t", (), ())


@pytest.mark.parametrize("tally, expected", [
    ((3_340, 0, 0, 0), PASSED),  # quorum 33.4% reached exactly
    ((3_339, 0, 0, 0), REJECTED),  # one unit short of the quorum
    ((5_001, 4_999, 0, 0), PASSED),  # yes above 50%
    ((5_000, 5_000, 0, 0), REJECTED),  # exactly 50% is not above the threshold
    ((1_000, 999, 8_000, 0), PASSED),  # abstentions count for the quorum, not the threshold
    ((0, 0, 10_000, 0), REJECTED),  # everyone abstains
    ((6_660, 0, 0, 3_340), PASSED),  # veto exactly 33.4% of the votes is not a veto
    ((6_659, 0, 0, 3_341), VETOED),  # above it is
    ((3_340, 0, 0, 0), PASSED),
])  # fmt: skip
def test_tally_edges(tally, expected):
    assert outcome(_state(), _proposal(tally)) == expected


def test_nothing_bonded_never_passes():
    assert outcome(_state(), _proposal((1, 0, 0, 0), bonded=0)) == REJECTED


def test_rejected_refunds(chain):
    nonces = Nonces()
    open_vote(chain, nonces)
    before = chain.get_account(OPERATORS[0].account).balance
    connect(chain, [vote(OPERATORS[2], nonces, OPERATORS[2].account, 1, NO)])
    advance_to(chain, proposal_of(chain, 1).voting_end)
    assert proposal_of(chain, 1).status == REJECTED
    assert chain.get_account(OPERATORS[0].account).balance == before + 1 * COIN
    assert_supply_kept(chain)
