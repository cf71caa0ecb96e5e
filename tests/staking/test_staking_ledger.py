"""Staking on a real chain (LMDB in a temp dir, real signatures): registration, bonding,
delegation, rewards split by commission, unbonding and withdrawal, the supply kept exactly."""

from __future__ import annotations

import pytest
from helpers import key, replay_records
from staking_helpers import (
    MINER,
    assert_supply_kept,
    block_with,
    connect,
    delegation_of,
    totals_of,
    validator_of,
)  # fmt: skip

from coinium.chain.builder import generate
from coinium.chain.chainstate import AcceptStatus
from coinium.core.params import REGTEST
from coinium.core.staking import transactions as stx
from coinium.core.staking.records import ACTIVE
from coinium.core.units import COIN

CHAIN_ID = REGTEST.chain_id
SUBSIDY = 50 * COIN
SHARE = SUBSIDY * REGTEST.staking.reward_share_bp // 10_000  # 10 COIN a block


@pytest.fixture
def funded(chain, alice, bob):
    generate(chain, 1, alice.account)
    generate(chain, 1, bob.account)
    return chain


def test_rewards_split_by_commission_and_stake(funded, alice, bob):
    chain = funded
    voting = key(11)
    connect(chain, [stx.register_validator(alice, CHAIN_ID, voting.public_key, 1_000,
                                           10 * COIN, 0, 0)])
    v = validator_of(chain, alice.account)
    assert (v.status, v.tokens, v.shares, v.commission_bp) == (ACTIVE, 10 * COIN, 10 * COIN,
                                                                1_000)
    assert totals_of(chain).bonded == 10 * COIN
    # Next block: the stakers' share goes to alice's stake alone, the miner gets the rest.
    connect(chain, [stx.delegate(bob, CHAIN_ID, alice.account, 30 * COIN, 0, 0)])
    assert chain.get_account(MINER).balance == SUBSIDY + SUBSIDY - SHARE  # two blocks mined
    assert delegation_of(chain, bob.account, alice.account).shares == 30 * COIN
    connect(chain)
    connect(chain)
    # Three blocks of 10 COIN on 40 COIN bonded: alice's stake earned 30, 3 of it commission,
    # the other 27 split 10:30. Before that alice earned the first block's 10 alone (1 + 9).
    connect(chain, [stx.withdraw(alice, CHAIN_ID, alice.account, 0, 1),
                    stx.withdraw(bob, CHAIN_ID, alice.account, 0, 1)])
    alice_due = 1 * COIN + 9 * COIN + 3 * COIN + 675 * COIN // 100
    bob_due = 2025 * COIN // 100
    alice_paid = chain.get_account(alice.account).balance - (SUBSIDY - 10 * COIN)
    bob_paid = chain.get_account(bob.account).balance - (SUBSIDY - 30 * COIN)
    # Every division rounds down: a payment is at most a unit short (9/10 of a share's reward
    # is no binary fraction), and the unit stays in the pool, never created nor destroyed.
    assert alice_due - 1 <= alice_paid <= alice_due and bob_due - 1 <= bob_paid <= bob_due
    assert totals_of(chain).reward_pool == 4 * SHARE - alice_paid - bob_paid
    assert chain.get_account(alice.account).nonce == chain.get_account(bob.account).nonce == 2
    assert_supply_kept(chain)
    assert replay_records(chain) == dict(chain.iter_records())


def test_unbonding_waits_its_period_then_pays(funded, alice, bob):
    chain = funded
    connect(chain, [stx.register_validator(alice, CHAIN_ID, key(11).public_key, 0, 10 * COIN,
                                           0, 0),
                    stx.delegate(bob, CHAIN_ID, alice.account, 10 * COIN, 0, 0)])
    connect(chain, [stx.unbond(bob, CHAIN_ID, alice.account, 4 * COIN, 0, 1)])
    unbond_height = chain.height
    assert totals_of(chain).bonded == 16 * COIN
    assert validator_of(chain, alice.account).unbonding_tokens == 4 * COIN
    # Bob's rewards are paid at the unbond; the unbonding part waits.
    before = chain.get_account(bob.account).balance
    release = unbond_height + REGTEST.staking.unbonding_period
    while chain.height < release - 3:
        connect(chain)
    early = block_with(chain, [stx.unbond(bob, CHAIN_ID, alice.account, 6 * COIN, 0, 2)])
    assert early.status is AcceptStatus.NEW_TIP  # its rewards paid, the rest unbonding
    assert validator_of(chain, alice.account).unbonding_tokens == 10 * COIN
    assert delegation_of(chain, bob.account, alice.account) is None  # fully unbonded
    # Now bob holds no delegation: a withdraw before the release is refused.
    refused = block_with(chain, [stx.withdraw(bob, CHAIN_ID, alice.account, 0, 3)])
    assert refused.status is AcceptStatus.INVALID and refused.reason == "bad-stake-nothing"
    after_rewards = chain.get_account(bob.account).balance
    assert after_rewards > before
    connect(chain)
    assert chain.height == release - 1
    connect(chain, [stx.withdraw(bob, CHAIN_ID, alice.account, 0, 3)])  # the first is due
    assert chain.get_account(bob.account).balance == after_rewards + 4 * COIN
    assert_supply_kept(chain)


@pytest.mark.parametrize("make, reason", [
    (lambda a, b: stx.register_validator(a, CHAIN_ID, key(11).public_key, 0, COIN // 2, 0, 0),
     "bad-stake-bond-low"),
    (lambda a, b: stx.delegate(b, CHAIN_ID, a.account, COIN, 0, 0), "bad-stake-novalidator"),
    (lambda a, b: stx.bond(a, CHAIN_ID, COIN, 0, 0), "bad-stake-novalidator"),
    (lambda a, b: stx.unbond(b, CHAIN_ID, a.account, COIN, 0, 0), "bad-stake-nodelegation"),
    (lambda a, b: stx.delegate(b, CHAIN_ID, a.account, 10_000 * COIN, 0, 0),
     "bad-txns-in-belowout"),
])  # fmt: skip
def test_bad_staking_transactions_make_the_block_invalid(funded, alice, bob, make, reason):
    result = block_with(funded, [make(alice, bob)])
    assert result.status is AcceptStatus.INVALID and result.reason == reason


def test_a_second_registration_and_an_over_unbond_are_refused(funded, alice, bob):
    chain = funded
    connect(chain, [stx.register_validator(alice, CHAIN_ID, key(11).public_key, 0, 10 * COIN,
                                           0, 0)])
    again = block_with(chain, [stx.register_validator(alice, CHAIN_ID, key(12).public_key, 0,
                                                      10 * COIN, 0, 1)])
    assert again.reason == "bad-stake-registered"
    over = block_with(chain, [stx.unbond(alice, CHAIN_ID, alice.account, 11 * COIN, 0, 1)])
    assert over.reason == "bad-stake-amount"


def test_reorg_across_staking_blocks_restores_every_record(funded, alice, bob):
    chain = funded
    connect(chain, [stx.register_validator(alice, CHAIN_ID, key(11).public_key, 500, 10 * COIN,
                                           0, 0)])
    fork_hash = chain.tip.hash
    before = dict(chain.iter_records())
    root_before = chain.state_root()
    connect(chain, [stx.delegate(bob, CHAIN_ID, alice.account, 5 * COIN, 0, 0)])
    connect(chain, [stx.unbond(bob, CHAIN_ID, alice.account, 2 * COIN, 0, 1)])
    connect(chain, [stx.withdraw(alice, CHAIN_ID, alice.account, 0, 1)])
    after = dict(chain.iter_records())
    assert after != before
    # Disconnecting the three staking blocks restores every record of every namespace, and the
    # tree, byte for byte; connecting them again gives the same records as before.
    first_staking = chain.hash_at_height(chain.height - 2)
    chain.invalidate_block(first_staking)
    assert chain.tip.hash == fork_hash
    assert dict(chain.iter_records()) == before and chain.state_root() == root_before
    chain.reconsider_block(first_staking)
    assert dict(chain.iter_records()) == after
    # A longer branch from the fork point with no staking transactions wins: the records are
    # what a replay of that chain gives, and the supply still adds up.
    parent = fork_hash
    for _ in range(4):
        result = block_with(chain, parent=parent, recipient=key(20).account)
        parent = result.block_hash
    assert chain.tip.hash == parent
    assert replay_records(chain) == dict(chain.iter_records())
    assert_supply_kept(chain)
