"""Templates, the miner's coinbase, extra-nonces, time rolling: blocks a real chain accepts."""

from __future__ import annotations

import pytest
from helpers import key

from coinium import kernels
from coinium.chain.builder import build_block
from coinium.chain.builder import generate as generate_blocks
from coinium.chain.chainstate import AcceptStatus
from coinium.core.params import GENESIS_RECIPIENT, REGTEST
from coinium.core.transaction import MAX_COINBASE_EXTRA_SIZE, sign_transfer
from coinium.core.units import COIN
from coinium.kernels import python_backend
from coinium.mining.work import (
    ExtraNonce,
    Template,
    TemplateError,
    make_unit,
    meets,
    nonce_ranges,
)

MINER = key(77)


def chain_template(chain, transactions=()) -> Template:
    """What the node would offer: its own block on the tip, as the in-node miner gets it."""
    block = build_block(chain, list(transactions), GENESIS_RECIPIENT)
    return Template.from_block(block, chain.median_time_past() + 1)


def rpc_reply(template: Template) -> dict:
    """The template in getblocktemplate's shape (see its help text)."""
    return {
        "version": template.version,
        "previousblockhash": template.prev_hash.hex(),
        "stateroot": template.state_root.hex(),
        "height": template.height,
        "transactions": [{"data": tx.raw.hex(), "txid": tx.txid.hex(), "hash": tx.txid.hex(),
                          "depends": [], "fee": tx.fee, "size": tx.size}
                         for tx in template.transactions],  # fmt: skip
        "coinbasevalue": template.coinbase_value,
        "target": f"{template.target:064x}",
        "bits": f"{template.bits:08x}",
        "mintime": template.mintime,
        "curtime": template.curtime,
        "mutable": ["time", "transactions", "prevblock"],
        "noncerange": "0000000000000000ffffffffffffffff",
        "longpollid": "x",
    }


def mine_unit(unit):
    nonce, _ = kernels.pow_search(unit.header_bytes, unit.template.target, 0, 1 << 20)
    assert nonce is not None
    return unit.block(nonce)


def test_a_unit_makes_a_block_the_chain_accepts_paying_the_miner(chain):
    template = chain_template(chain)
    unit = make_unit(template, MINER.account, b"extra-nonce-1")
    block = mine_unit(unit)
    coinbase = block.transactions[0]
    assert coinbase.is_coinbase and coinbase.recipient == MINER.account
    assert coinbase.amount == template.coinbase_value and coinbase.payload == b"extra-nonce-1"
    assert block.header.merkle_root == python_backend.merkle_root(block.txids())
    assert chain.accept_block(block).status == AcceptStatus.NEW_TIP
    assert chain.get_account(MINER.account).balance == 50 * COIN


def test_mempool_transactions_and_fees_go_into_the_block(chain, alice, bob):
    generate_blocks(chain, 1, alice.account)
    txs = [sign_transfer(alice, REGTEST.chain_id, bob.account, COIN, 1000 + n, n)
           for n in range(3)]  # fmt: skip
    template = Template.from_rpc(rpc_reply(chain_template(chain, txs)))
    assert template.transactions == tuple(txs)
    assert template.coinbase_value == 50 * COIN + 3000 + 3
    block = mine_unit(make_unit(template, MINER.account, ExtraNonce().next()))
    assert block.transactions[1:] == tuple(txs)
    assert block.header.merkle_root == python_backend.merkle_root(block.txids())
    assert chain.accept_block(block).status == AcceptStatus.NEW_TIP
    assert chain.get_account(bob.account).balance == 3 * COIN
    assert chain.get_account(MINER.account).balance == 50 * COIN + 3003


def test_the_rpc_shape_round_trips(chain):
    template = chain_template(chain)
    parsed = Template.from_rpc(rpc_reply(template), fetched_at=template.fetched_at)
    assert parsed == template


@pytest.mark.parametrize("change, problem", [
    (lambda r: r.pop("bits"), "malformed"),
    (lambda r: r.update(previousblockhash="ab"), "32 bytes"),
    (lambda r: r.update(stateroot="ab"), "32 bytes"),
    (lambda r: r.pop("stateroot"), "malformed"),
    (lambda r: r.update(target="00" * 32), "target does not match"),
    (lambda r: r.update(bits="zz"), "malformed"),
    (lambda r: r["transactions"].append({"data": "0001"}), "malformed"),
])  # fmt: skip
def test_malformed_templates_are_refused_with_a_reason(chain, change, problem):
    reply = rpc_reply(chain_template(chain))
    change(reply)
    with pytest.raises(TemplateError, match=problem):
        Template.from_rpc(reply)


def test_a_template_transaction_must_match_its_txid_and_not_be_a_coinbase(chain, alice, bob):
    generate_blocks(chain, 1, alice.account)
    tx = sign_transfer(alice, REGTEST.chain_id, bob.account, COIN, 1000, 0)
    reply = rpc_reply(chain_template(chain, [tx]))
    reply["transactions"][0]["txid"] = "00" * 32
    with pytest.raises(TemplateError, match="txid does not match"):
        Template.from_rpc(reply)
    reply = rpc_reply(chain_template(chain))
    coinbase = chain.get_block(chain.tip.hash).transactions[0]
    reply["transactions"] = [{"data": coinbase.raw.hex()}]
    with pytest.raises(TemplateError, match="coinbase"):
        Template.from_rpc(reply)


def test_time_rolls_with_the_clock_and_never_goes_below_mintime(chain):
    template = chain_template(chain)
    start = template.fetched_at
    assert template.timestamp(start) == max(template.curtime, template.mintime)
    assert template.timestamp(start + 61.9) == template.curtime + 61
    early = Template.from_block(build_block(chain, [], GENESIS_RECIPIENT),
                                mintime=template.curtime + 100, fetched_at=start)  # fmt: skip
    assert early.timestamp(start) == template.curtime + 100
    unit = make_unit(template, MINER.account, b"", timestamp=template.curtime + 30)
    assert unit.header.timestamp == template.curtime + 30
    # A rolled timestamp still makes a block the chain accepts (within its future limit).
    assert chain.accept_block(mine_unit(unit)).status == AcceptStatus.NEW_TIP


def test_extra_nonces_never_repeat_and_differ_between_miners(chain):
    first, second = ExtraNonce(), ExtraNonce()
    assert first.tag != second.tag
    values = [first.next() for _ in range(1000)] + [second.next() for _ in range(1000)]
    assert len(set(values)) == len(values)
    assert all(len(v) == 16 <= MAX_COINBASE_EXTRA_SIZE for v in values)
    assert ExtraNonce(b"t" * 8, start=5).next() == b"t" * 8 + (5).to_bytes(8, "little")
    # Different extra-nonces give different headers: the whole nonce space is new again.
    template = chain_template(chain)
    headers = {make_unit(template, MINER.account, v, template.curtime).header_bytes
               for v in values[:50]}  # fmt: skip
    assert len(headers) == 50
    with pytest.raises(ValueError):
        ExtraNonce(b"x" * 93)


def test_nonce_ranges_are_disjoint_and_cover_the_span():
    for workers, span in ((1, 1 << 64), (2, 1 << 64), (3, 10), (16, 1 << 64), (5, 5)):
        ranges = nonce_ranges(workers, span)
        assert len(ranges) == workers and ranges[0][0] == 0
        assert sum(c for _, c in ranges) == span
        assert all(s1 + c1 == s2 for (s1, c1), (s2, _) in zip(ranges, ranges[1:], strict=False))
    with pytest.raises(ValueError):
        nonce_ranges(4, 3)
    with pytest.raises(ValueError):
        nonce_ranges(1, (1 << 64) + 1)


def test_meets_is_the_consensus_comparison():
    assert meets(bytes(32), 0)
    assert meets((5).to_bytes(32, "big"), 5) and not meets((6).to_bytes(32, "big"), 5)
