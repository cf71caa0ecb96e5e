"""apply_block / undo as pure functions over a dict-backed state view of namespaced records."""

from __future__ import annotations

import pytest
from helpers import key
from hypothesis import given, settings
from hypothesis import strategies as st

from coinium.consensus.errors import BlockError
from coinium.consensus.state_transition import apply_block, decode_undo, encode_undo
from coinium.consensus.subsidy import block_subsidy
from coinium.core.account import Account
from coinium.core.block import Block
from coinium.core.codec import DecodeError
from coinium.core.header import Header
from coinium.core.params import MAIN, REGTEST
from coinium.core.state import NS_ACCOUNT
from coinium.core.transaction import Transaction, sign_transfer
from coinium.core.units import COIN, MAX_MONEY

KEYS = [key(n) for n in range(1, 5)]
MINER = key(99)


def rec(account: bytes) -> tuple[int, bytes]:
    return (NS_ACCOUNT, account)


class DictView:
    """Accounts given as {account id: Account}, stored as records {(0x01, id): bytes}."""

    def __init__(self, accounts):
        self.records = {rec(a): v.encode() for a, v in accounts.items()}

    @property
    def accounts(self):
        return {key: Account.decode(v) for (ns, key), v in self.records.items()
                if ns == NS_ACCOUNT}  # fmt: skip

    def get(self, namespace, key):
        return self.records.get((namespace, key))

    def apply(self, delta):
        for record, value in delta.new.items():
            if value is None:
                self.records.pop(record, None)
            else:
                self.records[record] = value

    def undo(self, old):
        for record, value in old.items():
            if value is None:
                self.records.pop(record, None)
            else:
                self.records[record] = value


def block_of(txs, height=1, coinbase_amount=None):
    fees = sum(tx.fee for tx in txs)
    amount = block_subsidy(height, REGTEST) + fees if coinbase_amount is None else coinbase_amount
    cb = Transaction.coinbase(height, MINER.account, amount)
    header = Header(2, height, bytes(32), bytes(32), bytes(32), 0, REGTEST.genesis_bits, 0)
    return Block(header, (cb, *txs))


transfers = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 30 * COIN), st.integers(0, 10)),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(transfers)
def test_apply_then_undo_restores_the_state_exactly(moves):
    start = {k.account: Account(20 * COIN, 0) for k in KEYS}
    view = DictView(start)
    nonces = {k.account: 0 for k in KEYS}
    balances = {k.account: 20 * COIN for k in KEYS}
    txs = []
    for sender, recipient, amount, fee in moves:
        s = KEYS[sender]
        if balances[s.account] < amount + fee:
            continue  # keep the block valid
        txs.append(sign_transfer(s, REGTEST.chain_id, KEYS[recipient].account, amount, fee,
                                 nonces[s.account]))  # fmt: skip
        nonces[s.account] += 1
        balances[s.account] -= amount + fee
        balances[KEYS[recipient].account] += amount
    block = block_of(txs)
    delta = apply_block(block, view, REGTEST)
    view.apply(delta)
    for k in KEYS:
        assert view.accounts[k.account] == Account(balances[k.account], nonces[k.account])
    total = sum(a.balance for a in view.accounts.values())
    assert total == 4 * 20 * COIN + block_subsidy(1, REGTEST)  # fees moved, not created
    # The undo record survives its encoding and restores the state exactly.
    undo = decode_undo(encode_undo(delta.old))
    assert undo == delta.old
    view.undo(undo)
    assert view.accounts == start
    # Deterministic: applying the same block again gives the same bytes.
    again = apply_block(block, DictView(start), REGTEST)
    assert encode_undo(again.old) == encode_undo(delta.old)


def test_transactions_see_the_effects_of_earlier_ones():
    a, b = KEYS[0], KEYS[1]
    view = DictView({a.account: Account(10, 0)})
    first = sign_transfer(a, REGTEST.chain_id, b.account, 10, 0, 0)
    back = sign_transfer(b, REGTEST.chain_id, a.account, 4, 1, 0)
    delta = apply_block(block_of([first, back]), view, REGTEST)
    assert delta.accounts()[a.account] == Account(4, 1)
    assert delta.accounts()[b.account] == Account(5, 1)
    assert delta.old == {rec(a.account): Account(10, 0).encode(), rec(b.account): None,
                         rec(MINER.account): None}  # fmt: skip


def test_transfer_to_self_costs_only_the_fee():
    a = KEYS[0]
    view = DictView({a.account: Account(100, 3)})
    tx = sign_transfer(a, REGTEST.chain_id, a.account, 60, 7, 3)
    assert apply_block(block_of([tx]), view, REGTEST).accounts()[a.account] == Account(93, 4)


@pytest.mark.parametrize(
    "accounts, tx_args, reason",
    [
        ({}, (KEYS[1].account, 1, 0, 0), "bad-txns-in-belowout"),
        ({KEYS[0].account: Account(5, 2)}, (KEYS[1].account, 1, 0, 1), "bad-txns-nonce"),
        ({KEYS[0].account: Account(5, 2)}, (KEYS[1].account, 1, 0, 3), "bad-txns-nonce"),
        ({KEYS[0].account: Account(5, 0)}, (KEYS[1].account, 5, 1, 0), "bad-txns-in-belowout"),
        ({KEYS[0].account: Account(5, 0), KEYS[1].account: Account(MAX_MONEY, 0)},
         (KEYS[1].account, 1, 0, 0), "bad-txns-balance-overflow"),
        ({KEYS[0].account: Account(5, 2**64 - 1)}, (KEYS[1].account, 1, 0, 2**64 - 1),
         "bad-txns-nonce"),
    ],
)
def test_stateful_rules(accounts, tx_args, reason):
    view = DictView(accounts)
    tx = sign_transfer(KEYS[0], REGTEST.chain_id, *tx_args)
    with pytest.raises(BlockError) as err:
        apply_block(block_of([tx]), view, REGTEST)
    assert err.value.reason == reason
    assert view.accounts == accounts  # nothing written


def test_coinbase_may_claim_subsidy_plus_fees_but_not_more():
    a = KEYS[0]
    view = DictView({a.account: Account(100, 0)})
    tx = sign_transfer(a, REGTEST.chain_id, KEYS[1].account, 10, 7, 0)
    full = block_subsidy(1, REGTEST) + 7
    assert apply_block(block_of([tx], coinbase_amount=full), view, REGTEST).fees == 7
    assert apply_block(block_of([tx], coinbase_amount=full - 5), view, REGTEST)  # may burn
    with pytest.raises(BlockError, match="bad-cb-amount"):
        apply_block(block_of([tx], coinbase_amount=full + 1), view, REGTEST)


def test_subsidy_halves_and_supply_stays_below_max_money():
    assert block_subsidy(0, REGTEST) == 50 * COIN
    assert block_subsidy(149, REGTEST) == 50 * COIN
    assert block_subsidy(150, REGTEST) == 25 * COIN
    assert block_subsidy(150 * 64, REGTEST) == 0
    supply = sum(block_subsidy(i * MAIN.halving_interval, MAIN) * MAIN.halving_interval
                 for i in range(64))  # fmt: skip
    assert 20_999_000 * COIN < supply <= MAX_MONEY


@pytest.mark.parametrize("data", [
    b"",
    b"\x01\x00\x00\x00\x00",  # version 1: the old account-only format
    b"\x02\x01\x00\x00\x00",  # one entry announced, none there
    b"\x02\x01\x00\x00\x00\x01\x00\x00",  # a zero-length key
    b"\x02\x01\x00\x00\x00\x01\x01\xaa\x02",  # present flag 2
    b"\x02\x01\x00\x00\x00\x01\x01\xaa\x01\x05\x00\x00\x00ab",  # value truncated
    b"\x02\x00\x00\x00\x00\x00",  # trailing byte
    # two entries out of order
    b"\x02\x02\x00\x00\x00\x01\x01\xbb\x00\x01\x01\xaa\x00",
])  # fmt: skip
def test_malformed_undo_record(data):
    with pytest.raises(DecodeError):
        decode_undo(data)


def test_undo_record_golden_bytes_and_any_namespace():
    """Version 2 covers records of any namespace; entries sorted by (namespace, key)."""
    old = {(0x07, b"zz"): b"\x01\x02", rec(bytes([2]) * 20): None,
           rec(bytes([1]) * 20): Account(3, 4).encode()}  # fmt: skip
    raw = encode_undo(old)
    assert raw == (
        b"\x02" + (3).to_bytes(4, "little")
        + b"\x01\x14" + bytes([1]) * 20 + b"\x01" + (16).to_bytes(4, "little")
        + Account(3, 4).encode()
        + b"\x01\x14" + bytes([2]) * 20 + b"\x00"
        + b"\x07\x02zz\x01" + (2).to_bytes(4, "little") + b"\x01\x02"
    )
    assert decode_undo(raw) == old


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(
    st.tuples(st.integers(0, 255), st.binary(min_size=1, max_size=255)),
    st.none() | st.binary(max_size=64), max_size=8,
))  # fmt: skip
def test_undo_round_trip(old):
    assert decode_undo(encode_undo(old)) == old
