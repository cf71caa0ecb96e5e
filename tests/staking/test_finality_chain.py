"""Casper FFG on a real chain: checkpoints every N blocks, votes carried in blocks, justification
at 2/3 of bonded stake, finalization by a justified direct child; slashing of double and
surround votes exactly once, with the amounts checked."""

from __future__ import annotations

import pytest
from helpers import key, replay_records
from staking_helpers import (
    assert_supply_kept,
    block_with,
    connect,
    finality_of,
    totals_of,
    validator_of,
)  # fmt: skip

from coinium.chain.builder import generate
from coinium.chain.chainstate import AcceptStatus
from coinium.core.params import REGTEST
from coinium.core.staking import transactions as stx
from coinium.core.staking.records import SLASHED, Checkpoint
from coinium.core.units import COIN

CHAIN_ID = REGTEST.chain_id
N = REGTEST.staking.checkpoint_interval
OPERATORS = [key(31), key(32), key(33)]
VOTERS = [key(41), key(42), key(43)]
REPORTER = key(50)


@pytest.fixture
def staked(chain):
    """Three validators of 10 COIN each, registered in epoch 0; the chain at height N + 1
    (the first block of epoch 1, whose target is checkpoint 1 = block N)."""
    for operator in OPERATORS:
        generate(chain, 1, operator.account)
    connect(chain, [stx.register_validator(op, CHAIN_ID, v.public_key, 1_000, 10 * COIN, 0, 0)
                    for op, v in zip(OPERATORS, VOTERS, strict=True)])  # fmt: skip
    while chain.height < N + 1:
        connect(chain)
    return chain


def checkpoint(chain, epoch: int) -> Checkpoint:
    return Checkpoint(epoch, chain.hash_at_height(epoch * N))


def votes(chain, voters, source, target, nonces):
    return [stx.sign_vote(VOTERS[i], CHAIN_ID, OPERATORS[i].account, source, target, 0, nonces[i])
            for i in voters]  # fmt: skip


def advance_to_epoch(chain, epoch: int) -> None:
    while chain.height < epoch * N + 1:
        connect(chain)


def test_two_thirds_justify_and_a_justified_child_finalizes(staked):
    chain = staked
    genesis = Checkpoint(0, REGTEST.genesis_hash)
    f = finality_of(chain)
    assert f.current == checkpoint(chain, 1) and f.source == genesis
    assert f.justified == f.finalized == genesis
    nonces = [0, 0, 0]
    # One vote of three (1/3 of the stake) does not justify.
    connect(chain, votes(chain, [0], genesis, checkpoint(chain, 1), nonces))
    nonces[0] += 1
    assert finality_of(chain).tally == 10 * COIN and finality_of(chain).justified == genesis
    # A repeated vote does not count twice (the transaction is valid and pays its fee).
    connect(chain, votes(chain, [0], genesis, checkpoint(chain, 1), nonces))
    nonces[0] += 1
    assert finality_of(chain).tally == 10 * COIN
    # The second vote brings 2/3: checkpoint 1 is justified (genesis was final already).
    connect(chain, votes(chain, [1], genesis, checkpoint(chain, 1), nonces))
    nonces[1] += 1
    assert finality_of(chain).justified == checkpoint(chain, 1)
    # Epoch 2: votes from checkpoint 1 to checkpoint 2 justify 2 and finalize 1.
    advance_to_epoch(chain, 2)
    assert finality_of(chain).source == checkpoint(chain, 1)
    connect(chain, votes(chain, [1, 2], checkpoint(chain, 1), checkpoint(chain, 2), nonces))
    nonces[1] += 1
    nonces[2] += 1
    f = finality_of(chain)
    assert f.justified == checkpoint(chain, 2) and f.finalized == checkpoint(chain, 1)
    # A vote naming a stale source or another target does not count.
    advance_to_epoch(chain, 3)
    connect(chain, votes(chain, [0], checkpoint(chain, 1), checkpoint(chain, 3), nonces)
            + votes(chain, [1], checkpoint(chain, 2), Checkpoint(3, bytes(32)), nonces))
    assert finality_of(chain).tally == 0
    assert replay_records(chain) == dict(chain.iter_records())
    assert_supply_kept(chain)


def test_without_two_thirds_nothing_is_justified(staked):
    chain = staked
    genesis = Checkpoint(0, REGTEST.genesis_hash)
    nonces = [0, 0, 0]
    for epoch in (1, 2):
        advance_to_epoch(chain, epoch)
        connect(chain, votes(chain, [0], genesis, checkpoint(chain, epoch), nonces))
        nonces[0] += 1
    f = finality_of(chain)
    assert f.justified == f.finalized == genesis and f.idle_epochs == 1


def test_inactivity_rule_lets_the_online_stake_finalize(staked):
    """Two of three validators offline: after `inactivity_epochs` idle epochs, 2/3 of the stake
    that voted in the epoch before is enough."""
    chain = staked
    genesis = Checkpoint(0, REGTEST.genesis_hash)
    nonces = [0, 0, 0]
    epoch = 1
    while finality_of(chain).justified == genesis:
        advance_to_epoch(chain, epoch)
        connect(chain, votes(chain, [0], finality_of(chain).source, checkpoint(chain, epoch),
                             nonces))  # fmt: skip
        nonces[0] += 1
        epoch += 1
        assert epoch < 10
    assert epoch - 1 == REGTEST.staking.inactivity_epochs + 1
    assert finality_of(chain).justified == checkpoint(chain, epoch - 1)
    advance_to_epoch(chain, epoch)
    connect(chain, votes(chain, [0], checkpoint(chain, epoch - 1), checkpoint(chain, epoch),
                         nonces))  # fmt: skip
    assert finality_of(chain).finalized == checkpoint(chain, epoch - 1)


def test_double_vote_slashed_exactly_once(staked):
    chain = staked
    generate(chain, 1, REPORTER.account)
    genesis = Checkpoint(0, REGTEST.genesis_hash)
    first = stx.sign_vote(VOTERS[0], CHAIN_ID, OPERATORS[0].account, genesis,
                          checkpoint(chain, 1), 0, 0)
    second = stx.sign_vote(VOTERS[0], CHAIN_ID, OPERATORS[0].account, genesis,
                           Checkpoint(1, bytes(32)), 0, 1)  # fmt: skip
    before_reporter = chain.get_account(REPORTER.account).balance
    bonded_before = totals_of(chain).bonded
    records_before, root_before = dict(chain.iter_records()), chain.state_root()
    connect(chain, [stx.slash_evidence(REPORTER, CHAIN_ID, first, second, 0, 0)])
    slash_block = chain.tip.hash
    v = validator_of(chain, OPERATORS[0].account)
    taken = 10 * COIN * REGTEST.staking.slash_double_bp // 10_000
    reward = taken * REGTEST.staking.reporter_reward_bp // 10_000
    assert v.status == SLASHED and v.tokens == 10 * COIN - taken
    assert chain.get_account(REPORTER.account).balance == before_reporter + reward
    assert totals_of(chain).burned == taken - reward
    assert totals_of(chain).bonded == bonded_before - 10 * COIN  # ejected
    again = block_with(chain, [stx.slash_evidence(REPORTER, CHAIN_ID, second, first, 0, 1)])
    assert again.status is AcceptStatus.INVALID and again.reason == "bad-slash-duplicate"
    assert_supply_kept(chain)
    # Disconnecting the slash block restores every record (stake, totals, reporter) exactly.
    chain.invalidate_block(slash_block)
    assert dict(chain.iter_records()) == records_before and chain.state_root() == root_before


def test_surround_vote_slashed_with_its_fraction(staked):
    chain = staked
    generate(chain, 1, REPORTER.account)
    outer = stx.sign_vote(VOTERS[1], CHAIN_ID, OPERATORS[1].account, Checkpoint(0, bytes(32)),
                          Checkpoint(3, bytes(32)), 0, 0)  # fmt: skip
    inner = stx.sign_vote(VOTERS[1], CHAIN_ID, OPERATORS[1].account, Checkpoint(1, bytes(32)),
                          Checkpoint(2, bytes(32)), 0, 1)  # fmt: skip
    connect(chain, [stx.slash_evidence(REPORTER, CHAIN_ID, inner, outer, 0, 0)])
    taken = 10 * COIN * REGTEST.staking.slash_surround_bp // 10_000
    assert validator_of(chain, OPERATORS[1].account).tokens == 10 * COIN - taken
    assert_supply_kept(chain)


def test_evidence_that_proves_nothing_is_refused(staked):
    chain = staked
    generate(chain, 1, REPORTER.account)
    a = stx.sign_vote(VOTERS[0], CHAIN_ID, OPERATORS[0].account, Checkpoint(0, bytes(32)),
                      Checkpoint(1, bytes(32)), 0, 0)  # fmt: skip
    b = stx.sign_vote(VOTERS[0], CHAIN_ID, OPERATORS[0].account, Checkpoint(1, bytes(32)),
                      Checkpoint(2, bytes(32)), 0, 1)  # fmt: skip
    stranger = stx.sign_vote(key(99), CHAIN_ID, OPERATORS[0].account, Checkpoint(0, bytes(32)),
                             Checkpoint(1, b"\x01" * 32), 0, 0)  # fmt: skip
    double = stx.sign_vote(VOTERS[0], CHAIN_ID, OPERATORS[0].account, Checkpoint(0, bytes(32)),
                           Checkpoint(2, bytes(32)), 0, 1)  # fmt: skip
    for first, second, reason in [(a, b, "bad-slash-evidence"),  # consecutive, no conflict
                                  (a, a, "bad-slash-evidence"),  # the same vote twice
                                  (a, stranger, "bad-slash-evidence")]:  # another key
        result = block_with(chain, [stx.slash_evidence(REPORTER, CHAIN_ID, first, second, 0, 0)])
        assert result.status is AcceptStatus.INVALID and result.reason == reason
    bad_signature = double.with_signature(b"\x01" * 64)
    forged_double = stx.sign_vote(VOTERS[0], CHAIN_ID, OPERATORS[0].account,
                                  Checkpoint(0, bytes(32)), Checkpoint(2, b"\x02" * 32), 0, 9)
    result = block_with(chain, [stx.slash_evidence(REPORTER, CHAIN_ID, forged_double,
                                                   bad_signature, 0, 0)])  # fmt: skip
    assert result.status is AcceptStatus.INVALID and result.reason == "bad-slash-signature"
    assert validator_of(chain, OPERATORS[0].account).status != SLASHED


def _finalize_epoch_one(chain) -> list[int]:
    genesis = Checkpoint(0, REGTEST.genesis_hash)
    nonces = [0, 0, 0]
    connect(chain, votes(chain, [0, 1, 2], genesis, checkpoint(chain, 1), nonces))
    nonces = [1, 1, 1]
    advance_to_epoch(chain, 2)
    connect(chain, votes(chain, [0, 1, 2], checkpoint(chain, 1), checkpoint(chain, 2), nonces))
    assert finality_of(chain).finalized == checkpoint(chain, 1)
    return [2, 2, 2]


def test_no_reorg_below_the_finalized_checkpoint_whatever_the_work(staked):
    chain = staked
    _finalize_epoch_one(chain)
    tip = chain.tip.hash
    # A private branch from below checkpoint 1 (block N), far longer than the main chain.
    parent = chain.hash_at_height(N - 2)
    for _ in range(3 * N):
        result = block_with(chain, parent=parent, recipient=key(60).account)
        parent = result.block_hash
    assert chain.index[parent].chainwork > chain.tip.chainwork
    assert chain.tip.hash == tip  # the node stays on the finalized chain
    assert chain.is_final(chain.hash_at_height(N)) and not chain.is_final(tip)
    with pytest.raises(ValueError, match="final"):
        chain.invalidate_block(chain.hash_at_height(N))
    # Above the finalized checkpoint, with the same justified checkpoint, most work decides.
    connect(chain)
    parent = chain.hash_at_height(chain.height - 1)
    for _ in range(2):
        parent = block_with(chain, parent=parent, recipient=key(61).account).block_hash
    assert chain.tip.hash == parent


def test_a_branch_with_an_older_justified_checkpoint_loses_despite_more_work(staked):
    chain = staked
    genesis = Checkpoint(0, REGTEST.genesis_hash)
    fork = chain.tip.hash  # block N + 1, epoch 1 begun; nothing justified beyond genesis
    connect(chain, votes(chain, [0, 1], genesis, checkpoint(chain, 1), [0, 0, 0]))
    assert finality_of(chain).justified == checkpoint(chain, 1)
    tip = chain.tip.hash
    parent = fork
    for _ in range(3):
        parent = block_with(chain, parent=parent, recipient=key(62).account).block_hash
    assert chain.index[parent].chainwork > chain.tip.chainwork
    assert chain.tip.hash == tip


def test_zmq_finalized_topic_announces_each_new_finalized_checkpoint(staked):
    """A real PUB socket on 127.0.0.1 and a real subscriber: [b"finalized", hash || height u32,
    sequence u32], once per move of the finalized checkpoint."""
    import socket
    import struct
    import time

    import zmq

    from coinium.config import ZmqPublisher
    from coinium.notify.zmq_publisher import ZmqNotifier

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    context = zmq.Context()
    chain = staked
    notifier = ZmqNotifier([ZmqPublisher("finalized", address)], context=context,
                           finalized_block=chain.finalized_block)  # fmt: skip
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"finalized")
    sub.connect(address)
    try:
        time.sleep(0.3)  # the subscription reaches the PUB socket
        _finalize_epoch_one(chain)
        notifier.tip_updated(None)
        notifier.tip_updated(None)  # no move: nothing more is sent
        assert sub.poll(5000)
        topic, body, sequence = sub.recv_multipart()
        assert topic == b"finalized" and sequence == struct.pack("<I", 0)
        assert body == chain.hash_at_height(N) + struct.pack("<I", N)
        assert not sub.poll(300)
    finally:
        sub.close(linger=0)
        notifier.close()
        context.destroy(linger=0)


def test_a_validator_unbonding_everything_mid_epoch_keeps_the_accounting(staked):
    chain = staked
    genesis = Checkpoint(0, REGTEST.genesis_hash)
    connect(chain, votes(chain, [0], genesis, checkpoint(chain, 1), [0, 0, 0]))
    # Operator 0 leaves with all its stake in the middle of the epoch: its vote still counts
    # with its weight at the epoch's start, and the threshold does not move.
    connect(chain, [stx.unbond(OPERATORS[0], CHAIN_ID, OPERATORS[0].account, 10 * COIN, 0, 1)])
    assert validator_of(chain, OPERATORS[0].account).tokens == 0
    assert totals_of(chain).bonded == 20 * COIN
    connect(chain, votes(chain, [1], genesis, checkpoint(chain, 1), [0, 0, 0]))
    assert finality_of(chain).justified == checkpoint(chain, 1)  # 20 of 30 at the epoch's start
    # Next epoch: it has no weight; the two others (20 of 20) justify and finalize.
    advance_to_epoch(chain, 2)
    late = votes(chain, [0], checkpoint(chain, 1), checkpoint(chain, 2), [1, 0, 0])
    connect(chain, late)
    assert finality_of(chain).tally == 0
    connect(chain, votes(chain, [1, 2], checkpoint(chain, 1), checkpoint(chain, 2), [0, 1, 0]))
    assert finality_of(chain).finalized == checkpoint(chain, 1)
    assert_supply_kept(chain)
    assert replay_records(chain) == dict(chain.iter_records())


def test_a_branch_with_a_later_justified_checkpoint_wins_with_less_work(staked):
    """EIP-1011's rule the other way round: a node on the heavier branch moves to a lighter one
    whose votes justified a later checkpoint, and stays there when the heavier one grows."""
    chain = staked
    genesis = Checkpoint(0, REGTEST.genesis_hash)
    fork = chain.tip.hash
    for _ in range(3):
        connect(chain)
    heavy_tip = chain.tip.hash
    light = block_with(chain, votes(chain, [0, 1], genesis, checkpoint(chain, 1), [0, 0, 0]),
                       parent=fork, recipient=key(63).account)  # fmt: skip
    assert light.status is AcceptStatus.NEW_TIP and chain.tip.hash == light.block_hash
    assert finality_of(chain).justified == checkpoint(chain, 1)
    parent = heavy_tip
    for _ in range(2):
        parent = block_with(chain, parent=parent, recipient=key(64).account).block_hash
    assert chain.tip.hash == light.block_hash  # more work, an older justified checkpoint
    assert replay_records(chain) == dict(chain.iter_records())
