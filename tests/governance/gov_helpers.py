"""Shared by the governance tests: a regtest chain with three validators, and readers of the
governance records."""

from __future__ import annotations

from helpers import key
from staking.staking_helpers import assert_supply_kept, block_with, connect  # noqa: F401

from coinium.chain.builder import generate
from coinium.core.governance import table
from coinium.core.governance import transactions as gtx
from coinium.core.governance.records import GOVERNANCE_KEY, Governance, Proposal, proposal_key
from coinium.core.params import REGTEST
from coinium.core.staking import transactions as stx
from coinium.core.state import NS_GOVERNANCE, NS_PARAM, NS_PROPOSAL
from coinium.core.units import COIN

CHAIN_ID = REGTEST.chain_id
N = REGTEST.staking.checkpoint_interval
OPERATORS = [key(31), key(32), key(33)]
VOTERS = [key(41), key(42), key(43)]
STAKES = [10 * COIN, 20 * COIN, 30 * COIN]


class Nonces:
    """The next nonce of each key, as the tests sign transactions."""

    def __init__(self):
        self.next: dict[bytes, int] = {}

    def __call__(self, k) -> int:
        n = self.next.get(k.account, 0)
        self.next[k.account] = n + 1
        return n


def staked_chain(chain, nonces: Nonces, stakes=STAKES):
    """Validators with ``stakes`` registered; the chain one block into epoch 1."""
    for operator in OPERATORS:
        generate(chain, 1, operator.account)
    connect(chain, [stx.register_validator(op, CHAIN_ID, v.public_key, 1_000, stake, 0,
                                           nonces(op))
                    for op, v, stake in zip(OPERATORS, VOTERS, stakes, strict=True)])  # fmt: skip
    while chain.height < N + 1:
        connect(chain)
    return chain


def param(chain, name: str) -> table.ParamRecord:
    return table.ParamRecord.decode(chain.get_record(NS_PARAM, name.encode()))


def proposal_of(chain, proposal_id: int) -> Proposal:
    return Proposal.decode(chain.get_record(NS_PROPOSAL, proposal_key(proposal_id)))


def governance_of(chain) -> Governance:
    return Governance.decode(chain.get_record(NS_GOVERNANCE, GOVERNANCE_KEY))


def submit(k, nonces, changes, deposit=1 * COIN, title=b"change", fee=0):
    numbered = [(table.BY_NAME[name].number, value) for name, value in changes.items()]
    return gtx.submit(k, CHAIN_ID, numbered, title, bytes(32), deposit, fee, nonces(k))


def vote(k, nonces, validator_id, proposal_id, option, fee=0):
    return gtx.vote(k, CHAIN_ID, validator_id, proposal_id, option, fee, nonces(k))


def advance_to(chain, height: int) -> None:
    while chain.height < height:
        connect(chain)
