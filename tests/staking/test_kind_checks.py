"""The staking rules on the tip's state for the mempool (`coinium.chain.admission`, the reasons
it answers with), and the template filter (`builder.drop_inapplicable`) that leaves out
transactions the state has made invalid."""

from __future__ import annotations

import pytest
from helpers import key
from staking_helpers import connect

from coinium.chain.admission import state_check
from coinium.chain.builder import build_block, drop_inapplicable, generate, mine
from coinium.chain.chainstate import AcceptStatus
from coinium.consensus.errors import ConsensusError
from coinium.core.params import REGTEST
from coinium.core.staking import transactions as stx
from coinium.core.staking.records import Checkpoint
from coinium.core.units import COIN

CHAIN_ID = REGTEST.chain_id
N = REGTEST.staking.checkpoint_interval
VOTER = key(41)


@pytest.fixture
def validator_chain(chain, alice, bob):
    generate(chain, 1, alice.account)
    generate(chain, 1, bob.account)
    connect(chain, [stx.register_validator(alice, CHAIN_ID, VOTER.public_key, 0, 10 * COIN, 0, 0)])
    while chain.height < N + 1:
        connect(chain)
    return chain


def _reason(chain, tx) -> str | None:
    try:
        state_check(chain)(tx, [])
    except ConsensusError as exc:
        return exc.reason
    return None


def test_votes_that_could_not_count_are_refused_with_their_reason(validator_chain, alice):
    chain = validator_chain
    f = chain.finality()
    good = stx.sign_vote(VOTER, CHAIN_ID, alice.account, f.source, f.current, 0, 0)
    assert _reason(chain, good) is None
    cases = {
        "bad-vote-validator": stx.sign_vote(key(99), CHAIN_ID, alice.account, f.source,
                                            f.current, 0, 0),
        "bad-vote-future": stx.sign_vote(VOTER, CHAIN_ID, alice.account, f.source,
                                         Checkpoint(f.current.epoch + 1, bytes(32)), 0, 0),
        "bad-vote-checkpoint": stx.sign_vote(VOTER, CHAIN_ID, alice.account, f.source,
                                             Checkpoint(f.current.epoch, bytes(32)), 0, 0),
    }  # fmt: skip
    for reason, vote in cases.items():
        assert _reason(chain, vote) == reason
    connect(chain, [good])
    repeat = stx.sign_vote(VOTER, CHAIN_ID, alice.account, f.source, f.current, 0, 1)
    assert _reason(chain, repeat) == "bad-vote-duplicate"


def test_staking_rules_checked_whatever_the_pending_nonce(validator_chain, alice, bob):
    chain = validator_chain
    # Bob's nonce 5 is ahead of his account (pending transactions before it): only the rule
    # itself is judged here, the mempool judges nonces and balances.
    assert _reason(chain, stx.unbond(bob, CHAIN_ID, alice.account, COIN, 0, 5)) \
        == "bad-stake-nodelegation"
    assert _reason(chain, stx.delegate(bob, CHAIN_ID, bob.account, COIN, 0, 5)) \
        == "bad-stake-novalidator"
    assert _reason(chain, stx.delegate(bob, CHAIN_ID, alice.account, COIN, 0, 5)) is None


def test_a_sender_may_register_and_bond_before_either_confirms(validator_chain, bob):
    # The one admission check replays the sender's pending transactions first: a bond to a
    # validator registered by a pending transaction is judged on the state after it.
    chain = validator_chain
    check = state_check(chain)
    register = stx.register_validator(bob, CHAIN_ID, key(42).public_key, 0, 2 * COIN, 0, 0)
    bond = stx.bond(bob, CHAIN_ID, COIN, 0, 1)
    with pytest.raises(ConsensusError) as err:
        check(bond, [])
    assert err.value.reason == "bad-stake-novalidator"
    check(bond, [register])  # no error


def test_template_leaves_out_what_the_state_made_invalid(validator_chain, alice, bob):
    chain = validator_chain
    delegate = stx.delegate(bob, CHAIN_ID, alice.account, 2 * COIN, 0, 0)
    withdraw_nothing = stx.withdraw(bob, CHAIN_ID, bob.account, 0, 1)  # no such validator
    after = stx.delegate(bob, CHAIN_ID, alice.account, COIN, 0, 2)  # its nonce would not follow
    other = stx.bond(alice, CHAIN_ID, COIN, 0, 1)
    kept = drop_inapplicable(chain, [delegate, withdraw_nothing, after, other])
    assert kept == [delegate, other]
    block = mine(build_block(chain, kept, key(9).account))
    assert list(block.transactions[1:]) == [delegate, other]
    assert chain.accept_block(block).status is AcceptStatus.NEW_TIP


def test_relaying_a_vote_that_cannot_count_costs_the_peer_unless_it_may_be_a_race():
    from coinium.p2p.scoring import Misbehaviour, for_tx_reject

    for reason in ("bad-vote-validator", "bad-vote-future", "bad-slash-evidence",
                   "bad-slash-signature", "bad-txns-signature"):
        assert for_tx_reject(reason) is Misbehaviour.INVALID_TX
    for reason in ("bad-vote-checkpoint", "bad-vote-duplicate", "bad-vote-source"):
        assert for_tx_reject(reason) is None  # an epoch or a block may have passed in transit
