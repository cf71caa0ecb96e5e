"""The estimatesmartfee estimator (coinium.mempool.fee_estimate): recent blocks and the mempool,
integers only, never below the floor."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from coinium.core.block import Block
from coinium.core.params import REGTEST
from coinium.core.transaction import Transaction, sign_transfer
from coinium.crypto.keys import PrivateKey
from coinium.mempool import fee_estimate

KEY = PrivateKey((9).to_bytes(32, "big"))
FLOOR = 1_000


def block_with(fee_rates: list[int]) -> Block:
    txs = [Transaction.coinbase(1, bytes(20), 50)]
    for nonce, rate in enumerate(fee_rates):
        probe = sign_transfer(KEY, REGTEST.chain_id, bytes(20), 1, 0, nonce)
        fee = rate * probe.size // 1000 + 1
        txs.append(sign_transfer(KEY, REGTEST.chain_id, bytes(20), 1, fee, nonce))
    return Block(REGTEST.genesis.header, tuple(txs))


def test_a_block_with_room_asked_only_the_floor_and_a_full_one_its_lowest_rate():
    block = block_with([5_000, 20_000])
    assert fee_estimate.block_needed_rate(block, FLOOR) == FLOOR
    full = fee_estimate.block_needed_rate(block, FLOOR, max_size=block.size)
    assert 5_000 <= full < 5_100  # the lowest included rate (rounded fees)
    assert fee_estimate.block_needed_rate(block_with([]), FLOOR) is None


def test_the_mempool_must_be_beaten_where_it_overflows():
    pending = [(9_000, 400), (7_000, 400), (3_000, 400)]
    assert fee_estimate.mempool_needed_rate(pending, 1, max_size=1_000) == 3_001
    assert fee_estimate.mempool_needed_rate(pending, 1, max_size=600) == 7_001
    assert fee_estimate.mempool_needed_rate(pending, 2, max_size=1_000) is None


def test_modes_and_no_data():
    blocks = [block_with([rate]) for rate in (2_000, 3_000, 4_000, 50_000)]
    sizes = max(b.size for b in blocks)
    economical = fee_estimate.estimate(blocks, [], FLOOR, 3, "economical", max_size=sizes)
    conservative = fee_estimate.estimate(blocks, [], FLOOR, 3, "conservative", max_size=sizes)
    assert economical.rate < conservative.rate
    assert fee_estimate.estimate([], [], FLOOR, 3, "economical").rate is None
    assert fee_estimate.estimate([block_with([])], [], FLOOR, 3, "unset").rate is None
    assert fee_estimate.estimate([], [(500, 100)], FLOOR, 3, "unset").rate == FLOOR


@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(1, 10**6)), max_size=50),
       st.integers(1, 1008), st.integers(0, 10**6),
       st.sampled_from(fee_estimate.MODES))  # fmt: skip
def test_never_below_the_floor_and_independent_of_order(pending, target, floor, mode):
    found = fee_estimate.estimate([], pending, floor, target, mode, max_size=10**6)
    again = fee_estimate.estimate([], list(reversed(pending)), floor, target, mode, 10**6)
    assert found == again
    if pending:
        assert isinstance(found.rate, int) and found.rate >= floor
