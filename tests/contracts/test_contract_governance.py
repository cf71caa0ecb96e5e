"""The contract gas schedule is governed: a passed proposal changes a host-call price and the
minimum gas price at its activation height, the block before still uses the old ones, and a
second node connecting the same blocks reaches the identical state."""

from __future__ import annotations

import dataclasses

from contract_helpers import FEE, GAS, wat
from governance.gov_helpers import (
    CHAIN_ID,
    OPERATORS,
    Nonces,
    advance_to,
    connect,
    param,
    proposal_of,
    staked_chain,
    submit,
    vote,
)  # fmt: skip
from staking.staking_helpers import block_with

from coinium.chain.chainstate import AcceptStatus, ChainState
from coinium.contracts import builders, governed, limits, query
from coinium.contracts.records import Receipt, code_hash, contract_id
from coinium.core.governance.records import PASSED, VOTING, YES
from coinium.core.params import REGTEST
from coinium.core.state import NS_CONTRACT_RECEIPT, BlockContext, BlockState

# execute: three `balance` calls, nothing else priced: gas = fuel + instantiate + 3 host calls.
THREE_CALLS = wat("""(module
  (import "env" "balance" (func $balance (param i32) (result i64)))
  (memory (export "memory") 1)
  (func (export "instantiate") (result i32) (i32.const 0))
  (func (export "execute") (result i32)
    (drop (call $balance (i32.const 0))) (drop (call $balance (i32.const 0)))
    (drop (call $balance (i32.const 0))) (i32.const 0)))""")
NEW_HOST_CALL = 60_000  # from 50,000: within one proposal's step (50%)


def receipt(chain, tx) -> Receipt:
    return Receipt.decode(chain.get_record(NS_CONTRACT_RECEIPT, tx.txid))


def test_a_price_change_takes_effect_at_its_activation_height_on_every_node(chain, tmp_path):
    nonces = Nonces()
    staked_chain(chain, nonces)
    user = OPERATORS[0]
    upload = builders.upload(user, CHAIN_ID, THREE_CALLS, gas=1_000_000_000, fee=1_000_000,
                             nonce=nonces(user))  # fmt: skip
    n = nonces(user)
    create = builders.instantiate(user, CHAIN_ID, code_hash(THREE_CALLS), gas=GAS, fee=FEE,
                                  nonce=n)  # fmt: skip
    contract = contract_id(user.account, n)
    connect(chain, [upload, create])
    assert receipt(chain, create).ok

    connect(chain, [submit(user, nonces, {"contract_host_call": NEW_HOST_CALL,
                                          "contract_min_gas_price_milli": 2})])  # fmt: skip
    connect(chain)
    p = proposal_of(chain, 1)
    assert p.status == VOTING
    connect(chain, [vote(OPERATORS[i], nonces, OPERATORS[i].account, 1, YES) for i in (1, 2)])
    advance_to(chain, p.voting_end)
    p = proposal_of(chain, 1)
    assert p.status == PASSED

    def execute(fee: int, nonce: int):
        return builders.execute(user, CHAIN_ID, contract, gas=GAS, fee=fee, nonce=nonce)

    # The block before activation: old prices, and the old minimum gas price is enough.
    advance_to(chain, p.activation - 2)
    old_floor = limits.min_fee(GAS, 1)
    before = execute(old_floor, nonces(user))
    connect(chain, [before])
    assert chain.height == p.activation - 1 and receipt(chain, before).ok
    # The activation block: a fee at the old floor makes it invalid ...
    n = nonces(user)
    refused = block_with(chain, [execute(old_floor, n)])
    assert refused.status is AcceptStatus.INVALID and refused.reason == "bad-txns-gas-fee"
    # ... and its contract calls pay the new host-call price.
    after = execute(limits.min_fee(GAS, 2), n)
    connect(chain, [after])
    assert chain.height == p.activation
    assert receipt(chain, after).ok
    assert receipt(chain, after).gas_used - receipt(chain, before).gas_used == \
        3 * (NEW_HOST_CALL - limits.SCHEDULE.host_call)
    assert param(chain, "contract_host_call").history == ((0, 50_000),
                                                           (p.activation, NEW_HOST_CALL))
    # estimategas on the new tip uses the new schedule too
    estimate = chain.with_tip_state(lambda view, height, time: query.estimate(
        view, height, time, "execute", user.account, contract, b"", 0))
    assert estimate.gas_used == receipt(chain, after).gas_used

    # Every node agrees: another node connecting the same blocks reaches the same state.
    other = ChainState(tmp_path / "other", REGTEST)
    try:
        for height in range(1, chain.height + 1):
            block = chain.get_block(chain.hash_at_height(height))
            assert other.accept_block(block).status is AcceptStatus.NEW_TIP
        assert other.tip.hash == chain.tip.hash
        assert dict(other.iter_records()) == dict(chain.iter_records())
    finally:
        other.close()


class EmptyView:
    def get(self, namespace: int, key: bytes) -> None:
        return None


def test_a_state_without_the_table_reads_the_genesis_schedule(chain):
    # a throwaway state without network parameters (queries): the default schedule
    assert governed.schedule(BlockState(EmptyView(), None)) == limits.SCHEDULE
    # a network whose genesis schedule differs, before its table exists: its own values
    network = dataclasses.replace(REGTEST, contracts=dataclasses.replace(limits.SCHEDULE,
                                                                         host_call=70_000))
    state = BlockState(EmptyView(), BlockContext(1, bytes(32), network, 0))
    assert governed.schedule(state).host_call == 70_000
    # a chain's genesis seeded every value of the schedule into the table
    for name in ("host_call", "max_block_gas", "min_gas_price_milli"):
        assert param(chain, f"contract_{name}").value == getattr(limits.SCHEDULE, name)
