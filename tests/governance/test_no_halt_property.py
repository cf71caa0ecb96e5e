"""No parameter combination inside the bounds halts the chain.

Two properties on real regtest chains (LMDB in temporary directories):
- random proposals inside the bounds and steps pass, activate at their height, and the chain then
  keeps mining and validating blocks full of staking, finality and governance transactions;
- a chain whose whole table starts anywhere inside the bounds (corners included) does the same:
  transactions go through admission (`coinium.chain.admission.state_check`, as the mempool
  does) and every block a miner builds from what was admitted connects. Replaying from genesis
  gives the same records and the supply is kept.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from gov_helpers import CHAIN_ID, OPERATORS, VOTERS, Nonces, param, proposal_of, staked_chain
from helpers import key, replay_records
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from staking.staking_helpers import assert_supply_kept, block_with

from coinium.chain.admission import state_check
from coinium.chain.builder import generate
from coinium.chain.chainstate import AcceptStatus, ChainState
from coinium.consensus.errors import ConsensusError
from coinium.core.governance import table
from coinium.core.governance import transactions as gtx
from coinium.core.governance.records import EXECUTED, PASSED, VOTING, YES
from coinium.core.params import REGTEST
from coinium.core.staking import transactions as stx
from coinium.core.units import COIN
from coinium.crypto.address import account_id

# The suite's run; a long run: COINIUM_GOVERNANCE_EXAMPLES=1000 (the table test takes half).
EXAMPLES = int(os.environ.get("COINIUM_GOVERNANCE_EXAMPLES", "60"))
DELEGATOR = key(70)
NEWCOMER = key(71)


def next_nonce(chain, k) -> int:
    return chain.get_account(k.account).nonce


def offered(chain) -> list:
    """One transaction per sender of every kind a real network sends, built on the tip."""
    txs = []
    height = chain.height + 1
    f = chain.finality()
    for i, (op, voter) in enumerate(zip(OPERATORS, VOTERS, strict=True)):
        if f is not None:
            txs.append(stx.sign_vote(voter, CHAIN_ID, op.account, f.source, f.current, 0,
                                     next_nonce(chain, voter)))  # fmt: skip
        which = (height + i) % 3
        if which == 0:
            txs.append(stx.withdraw(op, CHAIN_ID, op.account, 0, next_nonce(chain, op)))
        elif which == 1:
            txs.append(stx.bond(op, CHAIN_ID, COIN // 10, 0, next_nonce(chain, op)))
        else:
            open_votes = [pid for pid in range(1, 4) if _status(chain, pid) == VOTING]
            if open_votes:
                txs.append(gtx.vote(op, CHAIN_ID, op.account, open_votes[0], YES, 0,
                                    next_nonce(chain, op)))  # fmt: skip
    target = OPERATORS[height % 3].account
    if height % 2:
        txs.append(stx.delegate(DELEGATOR, CHAIN_ID, target, COIN, 0, next_nonce(chain, DELEGATOR)))
    else:
        txs.append(stx.unbond(DELEGATOR, CHAIN_ID, target, COIN // 2, 0,
                              next_nonce(chain, DELEGATOR)))  # fmt: skip
    if height % 7 == 0:
        txs.append(stx.register_validator(NEWCOMER, CHAIN_ID, key(72).public_key, 100, 2 * COIN,
                                          0, next_nonce(chain, NEWCOMER)))  # fmt: skip
    return txs


def _status(chain, pid):
    try:
        return proposal_of(chain, pid).status
    except TypeError:  # no such proposal
        return None


def mine_admitted(chain, txs=None) -> int:
    """Mine a block of what admission accepts (as a miner's template); it must connect.
    Returns how many transactions it carried."""
    admitted = []
    check = state_check(chain)
    for tx in offered(chain) if txs is None else txs:
        if chain.get_account(account_id(tx.sender)).balance < tx.amount + tx.fee:
            continue  # the mempool's own balance check
        try:  # after the sender's admitted ones, as the mempool checks it
            check(tx, [each for each in admitted if each.sender == tx.sender])
        except ConsensusError:
            continue
        admitted.append(tx)
    result = block_with(chain, admitted)
    assert result.status is AcceptStatus.NEW_TIP, result.error
    return len(admitted)


def keeps_going(chain, blocks: int) -> None:
    carried = sum(mine_admitted(chain) for _ in range(blocks))
    assert carried > 0
    assert replay_records(chain) == dict(chain.iter_records())
    assert_supply_kept(chain)


@pytest.fixture(scope="module")
def base_datadir(tmp_path_factory) -> Path:
    """A staked regtest chain (three validators and a funded delegator), built once."""
    place = tmp_path_factory.mktemp("governance-base")
    chain = ChainState(place / "datadir", REGTEST)
    try:
        staked_chain(chain, Nonces())
        generate(chain, 2, DELEGATOR.account)
        generate(chain, 1, NEWCOMER.account)
    finally:
        chain.close()
    return place / "datadir"


def in_step(spec: table.ParamSpec, current: int):
    r = table.ParamRecord(spec.type, spec.min, spec.max, spec.step_bp, spec.min_step, current, ())
    step = r.max_step()
    return st.integers(max(spec.min, current - step), min(spec.max, current + step))


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(data=st.data())
def test_random_in_bound_proposals_pass_activate_and_the_chain_goes_on(base_datadir, data):
    with tempfile.TemporaryDirectory() as place:
        shutil.copytree(base_datadir, Path(place) / "datadir")
        chain = ChainState(Path(place) / "datadir", REGTEST)
        try:
            specs = data.draw(st.lists(st.sampled_from(table.SPECS), min_size=1, max_size=5,
                                       unique_by=lambda s: s.number))  # fmt: skip
            changes = {s.name: data.draw(in_step(s, param(chain, s.name).value), label=s.name)
                       for s in specs}  # fmt: skip
            numbered = [(table.BY_NAME[n].number, v) for n, v in changes.items()]
            mine_admitted(chain, [gtx.submit(OPERATORS[0], CHAIN_ID, numbered, b"random",
                                             bytes(32), COIN, 0,
                                             next_nonce(chain, OPERATORS[0]))])  # fmt: skip
            mine_admitted(chain, [])
            assert proposal_of(chain, 1).status == VOTING
            mine_admitted(chain, [gtx.vote(op, CHAIN_ID, op.account, 1, YES, 0,
                                           next_nonce(chain, op)) for op in OPERATORS])
            while proposal_of(chain, 1).status == VOTING:
                mine_admitted(chain)
            p = proposal_of(chain, 1)
            assert p.status == PASSED
            while chain.height < p.activation:
                mine_admitted(chain)
            assert proposal_of(chain, 1).status == EXECUTED
            for name, value in changes.items():
                record = param(chain, name)
                assert record.value == value and record.history[-1] == (p.activation, value)
            keeps_going(chain, 3 * REGTEST.staking.checkpoint_interval)
        finally:
            chain.close()


def anywhere_in_bounds(spec: table.ParamSpec):
    return st.one_of(st.sampled_from([spec.min, spec.max]), st.integers(spec.min, spec.max))


TABLE = st.fixed_dictionaries({s.name: anywhere_in_bounds(s) for s in table.SPECS})


def network_with(values: dict[str, int]):
    """Regtest with another starting table (genesis is the same block: the table is state)."""
    staking = {k: v for k, v in values.items()
               if k in {f.name for f in dataclasses.fields(REGTEST.staking)}}  # fmt: skip
    governance = {k[4:]: v for k, v in values.items() if k.startswith("gov_")}
    contracts = {k[9:]: v for k, v in values.items() if k.startswith("contract_")}
    return dataclasses.replace(REGTEST,
                               staking=dataclasses.replace(REGTEST.staking, **staking),
                               governance=dataclasses.replace(REGTEST.governance, **governance),
                               contracts=dataclasses.replace(REGTEST.contracts, **contracts))


@settings(max_examples=max(EXAMPLES * 2 // 3, 1), deadline=None)
@given(values=TABLE)
def test_any_table_inside_the_bounds_keeps_the_chain_going(values):
    params = network_with(values)
    with tempfile.TemporaryDirectory() as place:
        chain = ChainState(Path(place) / "datadir", params)
        try:
            assert {s.name: param(chain, s.name).value for s in table.SPECS} == values
            for k in (*OPERATORS, DELEGATOR, NEWCOMER):
                generate(chain, 1, k.account)
            bond = max(values["min_validator_bond"], COIN)
            mine_admitted(chain, [stx.register_validator(op, CHAIN_ID, v.public_key, 500,
                                                         min(bond, 40 * COIN), 0, 0)
                                  for op, v in zip(OPERATORS, VOTERS, strict=True)])
            mine_admitted(chain, [gtx.submit(OPERATORS[0], CHAIN_ID,
                                             [(table.BY_NAME["inactivity_epochs"].number,
                                               values["inactivity_epochs"])],
                                             b"no change", bytes(32),
                                             max(values["gov_min_deposit"] // 10, 1), 0,
                                             next_nonce(chain, OPERATORS[0]))])  # fmt: skip
            for _ in range(4 * REGTEST.staking.checkpoint_interval):
                mine_admitted(chain)
            assert replay_records(chain) == dict(chain.iter_records())
            assert_supply_kept(chain)
        finally:
            chain.close()
