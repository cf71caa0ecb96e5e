"""A proposal from submission to effect on a real regtest chain: deposit, vote, tally, timelock,
activation at a fixed height read by the rules; reorgs across it restore the old values."""

from __future__ import annotations

from gov_helpers import (
    CHAIN_ID,
    OPERATORS,
    Nonces,
    advance_to,
    assert_supply_kept,
    connect,
    governance_of,
    param,
    proposal_of,
    staked_chain,
    submit,
    vote,
)  # fmt: skip
from helpers import replay_records
from staking.staking_helpers import totals_of

from coinium.chain.builder import build_block, drop_inapplicable, mine, miner_subsidy
from coinium.chain.chainstate import AcceptStatus
from coinium.consensus.subsidy import block_subsidy
from coinium.core.governance.records import EXECUTED, PASSED, REJECTED, VOTING, YES
from coinium.core.staking import transactions as stx
from coinium.core.staking.ledger import staking_share
from coinium.core.staking.records import Unbonding
from coinium.core.state import NS_PARAM, NS_UNBONDING
from coinium.core.units import COIN

CHANGES = {"unbonding_period": 15, "reward_share_bp": 3_000}


def passed_proposal(chain, nonces):
    """Submit CHANGES at height 7, vote yes with 50 of 60 staked coins; returns the height of
    the tally (the proposal has passed there)."""
    connect(chain, [submit(OPERATORS[0], nonces, CHANGES)])  # height 7
    connect(chain)  # 8: the deposit reached the minimum, the vote begins
    p = proposal_of(chain, 1)
    assert p.status == VOTING and p.voting_start == 8 and p.bonded_at_start == 60 * COIN
    assert governance_of(chain).voting == (1,)
    connect(chain, [vote(OPERATORS[i], nonces, OPERATORS[i].account, 1, YES) for i in (1, 2)])
    assert proposal_of(chain, 1).tally == (50 * COIN, 0, 0, 0)
    advance_to(chain, p.voting_end)
    return p.voting_end


def test_submission_to_effect(chain):
    nonces = Nonces()
    staked_chain(chain, nonces)
    before = chain.get_account(OPERATORS[0].account).balance
    tallied = passed_proposal(chain, nonces)
    p = proposal_of(chain, 1)
    # Passed at the tally; its deposit is back; it waits a checkpoint before taking effect.
    assert p.status == PASSED and tallied == 18
    assert p.activation == 25  # the checkpoint after 20
    assert chain.get_account(OPERATORS[0].account).balance == before
    assert governance_of(chain).escrow == 0 and governance_of(chain).open == (1,)
    assert governance_of(chain).voting == ()
    # The block before activation still uses the old values...
    advance_to(chain, 23)
    t = totals_of(chain)
    connect(chain, [stx.unbond(OPERATORS[0], CHAIN_ID, OPERATORS[0].account, COIN, 0,
                               nonces(OPERATORS[0]))])  # height 24  # fmt: skip
    issued = totals_of(chain).reward_per_token - t.reward_per_token
    assert issued == (10 * COIN << 64) // t.bonded  # 20% of 50
    assert param(chain, "unbonding_period").value == 10
    # ... and the activation block uses the new ones, in its own rules.
    t = totals_of(chain)
    connect(chain, [stx.unbond(OPERATORS[0], CHAIN_ID, OPERATORS[0].account, COIN, 0,
                               nonces(OPERATORS[0]))])  # height 25  # fmt: skip
    issued = totals_of(chain).reward_per_token - t.reward_per_token
    assert issued == (15 * COIN << 64) // t.bonded  # 30% of 50
    pending = Unbonding.decode(chain.get_record(NS_UNBONDING, OPERATORS[0].account * 2))
    assert [release for release, _ in pending.entries] == [24 + 10, 25 + 15]
    record = param(chain, "unbonding_period")
    assert record.value == 15 and record.history == ((0, 10), (25, 15))
    assert proposal_of(chain, 1).status == EXECUTED and governance_of(chain).open == ()
    assert replay_records(chain) == dict(chain.iter_records())
    assert_supply_kept(chain)


def test_disconnecting_the_activation_block_restores_the_table(chain):
    nonces = Nonces()
    staked_chain(chain, nonces)
    passed_proposal(chain, nonces)
    advance_to(chain, 24)
    before = dict(chain.iter_records())
    advance_to(chain, 26)
    assert param(chain, "reward_share_bp").value == 3_000
    result = chain.invalidate_block(chain.hash_at_height(25))
    assert chain.height == 24, result
    assert dict(chain.iter_records()) == before  # every namespace, byte for byte


def test_reorg_to_a_branch_without_the_vote_keeps_the_old_values(chain):
    nonces = Nonces()
    staked_chain(chain, nonces)
    genesis_table = {k: v for (ns, k), v in chain.iter_records() if ns == NS_PARAM}
    passed_proposal(chain, nonces)
    advance_to(chain, 26)
    assert param(chain, "unbonding_period").value == 15
    # A branch from height 8 (the vote open, nobody voting) with more work.
    parent = chain.hash_at_height(8)
    for _ in range(26 - 8 + 1):
        block = mine(build_block(chain, (), bytes(20), parent=parent))
        result = chain.accept_block(block)
        parent = block.hash
    assert result.status is AcceptStatus.NEW_TIP and chain.tip.hash == parent
    assert proposal_of(chain, 1).status == REJECTED  # no quorum: refunded
    table_now = {k: v for (ns, k), v in chain.iter_records() if ns == NS_PARAM}
    assert table_now == genesis_table
    assert replay_records(chain) == dict(chain.iter_records())
    assert_supply_kept(chain)


def test_a_template_at_the_activation_height_pays_the_new_reward_share(chain):
    # The node's template path (drop_inapplicable, then build_block with miner_subsidy) must
    # read the share the activation block's own rules will use, or the block is invalid.
    nonces = Nonces()
    staked_chain(chain, nonces)
    passed_proposal(chain, nonces)
    advance_to(chain, 24)
    unbond = stx.unbond(OPERATORS[0], CHAIN_ID, OPERATORS[0].account, COIN, 0,
                        nonces(OPERATORS[0]))  # fmt: skip
    assert drop_inapplicable(chain, [unbond]) == [unbond]
    subsidy = block_subsidy(25, chain.params)
    expected = subsidy - staking_share(totals_of(chain).bonded, subsidy, 3_000)
    assert chain.params.staking.reward_share_bp == 2_000
    assert miner_subsidy(chain, chain.tip.hash, 25) == expected
    block = mine(build_block(chain, [unbond], bytes(20)))
    assert block.transactions[0].amount == expected
    assert chain.accept_block(block).status is AcceptStatus.NEW_TIP
    assert param(chain, "reward_share_bp").history == ((0, 2_000), (25, 3_000))
