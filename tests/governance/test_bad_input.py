"""Bad governance transactions: each gets its reason code at admission (what RPC returns as -26),
a block holding one is refused whole (nothing is charged, not even the fee), and a peer relaying
a malformed one is penalised while a stateful refusal (a possible race) costs it nothing."""

from __future__ import annotations

import pytest
from gov_helpers import CHAIN_ID, OPERATORS, Nonces, connect, proposal_of, staked_chain, submit
from staking.staking_helpers import block_with

from coinium.chain.admission import state_check
from coinium.chain.chainstate import AcceptStatus
from coinium.consensus.errors import ConsensusError
from coinium.core.governance import table
from coinium.core.governance import transactions as gtx
from coinium.core.governance.records import VOTING
from coinium.core.kinds import KINDS, proposal_submit, proposal_vote
from coinium.core.staking.transactions import sign_kind
from coinium.core.units import COIN
from coinium.p2p.scoring import Misbehaviour, for_tx_reject

IDLE = table.BY_NAME["inactivity_epochs"].number
PROPOSER = OPERATORS[0]


def raw_submit(data: bytes, validator: bytes = bytes(20)):
    return sign_kind(PROPOSER, CHAIN_ID, proposal_submit.NUMBER, validator, COIN, 0, 0, data)


def data(title=b"t", changes=((IDLE, 5),)):
    return proposal_submit.encode_data(bytes(32), title, changes)


MALFORMED = [
    (raw_submit(data(), validator=b"\x01" * 20), "bad-gov-field"),
    (raw_submit(data() + b"\x00"), "bad-gov-payload"),
    (raw_submit(data(title=b"")), "bad-gov-title"),
    (raw_submit(data(title=b"\xff\xfe")), "bad-gov-title"),
    (raw_submit(data(changes=())), "bad-gov-changes"),
    (raw_submit(data(changes=((IDLE, 5), (IDLE, 6)))), "bad-gov-changes"),
    (raw_submit(data(changes=((99, 5),))), "bad-gov-param-unknown"),
    (raw_submit(data(changes=((IDLE, 65),))), "bad-gov-param-bounds"),
    (raw_submit(data(changes=((IDLE, 1),))), "bad-gov-param-bounds"),
    (sign_kind(PROPOSER, CHAIN_ID, proposal_vote.NUMBER, PROPOSER.account, 0, 0, 0,
               proposal_vote.DATA.pack(1, 4)), "bad-gov-option"),
]  # fmt: skip


@pytest.mark.parametrize("tx, reason", MALFORMED)
def test_malformed_ones_are_refused_statelessly_and_cost_the_relay(tx, reason):
    with pytest.raises(ConsensusError) as caught:
        KINDS[tx.kind].check(tx)
    assert caught.value.reason == reason
    assert for_tx_reject(reason) is Misbehaviour.INVALID_TX


def reason_at_tip(chain, tx) -> str | None:
    try:
        state_check(chain)(tx)
    except ConsensusError as exc:
        return exc.reason
    return None


def test_stateful_refusals_and_a_block_holding_one_is_refused_whole(chain):
    nonces = Nonces()
    staked_chain(chain, nonces)
    n = chain.get_account(PROPOSER.account).nonce
    cases = [
        (gtx.submit(PROPOSER, CHAIN_ID, [(IDLE, 40)], b"t", bytes(32), COIN, 0, n),
         "bad-gov-param-step"),
        (gtx.submit(PROPOSER, CHAIN_ID, [(IDLE, 5)], b"t", bytes(32), COIN // 100, 0, n),
         "bad-gov-deposit-low"),
        (gtx.deposit(PROPOSER, CHAIN_ID, 1, COIN, 0, n), "bad-gov-noproposal"),
        (gtx.vote(PROPOSER, CHAIN_ID, PROPOSER.account, 1, 0, 0, n), "bad-gov-noproposal"),
    ]  # fmt: skip
    before = dict(chain.iter_records())
    for tx, reason in cases:
        assert reason_at_tip(chain, tx) == reason
        assert for_tx_reject(reason) is None  # may be a race: the relay is not penalised
        result = block_with(chain, [tx])
        assert result.status is AcceptStatus.INVALID and result.error.reason == reason
    assert dict(chain.iter_records()) == before  # nothing charged, not even the fee

    connect(chain, [submit(PROPOSER, nonces, {"inactivity_epochs": 5}, deposit=COIN // 2)])
    n = chain.get_account(PROPOSER.account).nonce
    vote = gtx.vote(PROPOSER, CHAIN_ID, PROPOSER.account, 1, 0, 0, n)
    assert reason_at_tip(chain, vote) == "bad-gov-not-voting"  # still in its deposit period
    stranger = OPERATORS[1]
    connect(chain, [gtx.deposit(stranger, CHAIN_ID, 1, COIN // 2, 0,
                                chain.get_account(stranger.account).nonce)])  # fmt: skip
    assert reason_at_tip(chain, vote) is None  # the next block opens the vote
    connect(chain)
    assert proposal_of(chain, 1).status == VOTING
    n1 = chain.get_account(stranger.account).nonce
    assert reason_at_tip(chain, gtx.vote(stranger, CHAIN_ID, PROPOSER.account, 1, 0, 0,
                                         n1)) == "bad-gov-nostake"  # fmt: skip
    assert reason_at_tip(chain, gtx.vote(stranger, CHAIN_ID, bytes(20), 1, 0, 0,
                                         n1)) == "bad-gov-novalidator"  # fmt: skip
    assert reason_at_tip(chain, gtx.deposit(stranger, CHAIN_ID, 1, COIN, 0,
                                            n1)) == "bad-gov-deposit-closed"  # fmt: skip
    assert reason_at_tip(chain, vote) is None
