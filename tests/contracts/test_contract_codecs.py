"""Property tests of the contract codecs: every contract kind's transaction, instance records and
receipts round-trip; a truncated or extended transaction is a DecodeError naming its kind."""

from __future__ import annotations

import pytest
from helpers import key
from hypothesis import given, settings
from hypothesis import strategies as st

from coinium.contracts import builders
from coinium.contracts.records import Instance, Receipt
from coinium.core.codec import DecodeError
from coinium.core.params import REGTEST
from coinium.core.transaction import Transaction

SIGNER = key(7)
ids = st.binary(min_size=20, max_size=20)
hashes = st.binary(min_size=32, max_size=32)
gas = st.integers(0, 2**64 - 1)
money = st.integers(0, 2_100_000_000_000_000)


@st.composite
def contract_txs(draw):
    kind = draw(st.sampled_from(["upload", "instantiate", "execute", "migrate"]))
    common = {"gas": draw(gas), "fee": draw(money), "nonce": draw(st.integers(0, 2**64 - 1))}
    message = draw(st.binary(max_size=200))
    if kind == "upload":
        return builders.upload(SIGNER, REGTEST.chain_id, message, **common)
    if kind == "instantiate":
        return builders.instantiate(SIGNER, REGTEST.chain_id, draw(hashes), message,
                                    coins=draw(money), admin=draw(st.none() | ids), **common)
    if kind == "execute":
        return builders.execute(SIGNER, REGTEST.chain_id, draw(ids), message,
                                coins=draw(money), **common)  # fmt: skip
    return builders.migrate(SIGNER, REGTEST.chain_id, draw(ids), draw(hashes), message, **common)


@settings(max_examples=200, deadline=None)
@given(contract_txs())
def test_contract_transactions_round_trip(tx):
    again = Transaction.decode(tx.raw)
    assert again == tx and again.raw == tx.raw and again.txid == tx.txid


@settings(max_examples=200, deadline=None)
@given(contract_txs(), st.data())
def test_a_cut_or_extended_contract_transaction_is_a_decode_error_naming_its_kind(tx, data):
    cut = data.draw(st.integers(2, len(tx.raw) - 1))  # past the kind byte
    for broken in (tx.raw[:cut], tx.raw + b"\x00"):
        with pytest.raises(DecodeError) as err:
            Transaction.decode(broken)
        # truncation names the kind's field; a trailing byte is the reader's "tx" finish check
        assert err.value.what.startswith("tx.contract_") or err.value.what == "tx"


@given(hashes, st.none() | ids, ids, st.integers(0, 2**64 - 1))
def test_instances_round_trip(code, admin, creator, height):
    instance = Instance(code, admin, creator, height)
    assert Instance.decode(instance.encode()) == instance


@given(st.booleans(), st.integers(0, 2**64 - 1), ids, st.text(max_size=60),
       st.binary(max_size=100), st.lists(st.binary(min_size=32, max_size=32), max_size=20))
def test_receipts_round_trip(ok, gas_used, contract, reason, result, events):
    receipt = Receipt(ok, gas_used, contract, reason, result, tuple(events))
    assert Receipt.decode(receipt.encode()) == receipt
