"""The contract listings the dashboard reads (`coinium.chain.contract_queries`) on a real chain:
codes and contracts paged in key order with their balances, and a contract's events newest
first, paged backwards, never mixed with another contract's."""

from __future__ import annotations

import tempfile

import pytest
from contract_helpers import Chain, example, u64

from coinium.chain import contract_queries
from coinium.contracts.records import code_hash, decode_event


@pytest.fixture
def chain():
    with tempfile.TemporaryDirectory() as datadir:
        c = Chain(datadir)
        yield c
        c.close()


def test_codes_contracts_and_newest_events(chain):
    alice, bob = chain.keys[0], chain.keys[1]
    code = example("token")
    first = chain.deploy(alice, code, u64(1000))
    tx, second = chain.instantiate(alice, code, u64(5), coins=7)
    chain.block([tx])
    for _ in range(3):  # two transfers a block: six events of the first contract
        chain.block([chain.execute(alice, first, b"\x01" + bob.account + u64(n))
                     for n in (1, 2)])  # fmt: skip
    state = chain.state

    [only] = contract_queries.codes(state)
    assert (only.code_hash, only.size) == (code_hash(code), len(code))
    assert contract_queries.codes(state, only.code_hash) == []

    rows = contract_queries.contracts(state, limit=1)
    rows += contract_queries.contracts(state, rows[0].contract, 1)
    assert sorted([first, second]) == [r.contract for r in rows]
    assert contract_queries.contracts(state, rows[1].contract) == []
    by_id = {r.contract: r for r in rows}
    assert by_id[second].balance == 7 and by_id[first].balance == 0
    assert by_id[first].instance.creator == alice.account

    page = contract_queries.newest_events(state, first, limit=4)
    page += contract_queries.newest_events(state, first, page[-1][0], 4)
    events = [decode_event(k, v) for k, v in page]
    assert len(events) == 6 and {e["contract"] for e in events} == {first}
    order = [(e["height"], e["sequence"]) for e in events]
    assert order == sorted(order, reverse=True) and len(set(order)) == 6
    amounts = [int.from_bytes(e["data"][40:48], "little") for e in events]
    assert amounts == [2, 1] * 3  # newest first within a block too
    assert contract_queries.newest_events(state, first, page[-1][0]) == []
    # The other contract emitted nothing: its listing holds none of the first one's events,
    # whichever side of it its id sorts on.
    assert contract_queries.newest_events(state, second) == []
