"""The signing hash commits to the chain id and every field but the signature."""

from __future__ import annotations

import dataclasses

from coinium import kernels
from coinium.core.params import MAIN, REGTEST
from coinium.core.transaction import Transaction, sign_transfer, signing_hash
from coinium.crypto.keys import PrivateKey

KEY = PrivateKey(bytes(range(32)))


def verifies(tx: Transaction, chain_id: int) -> bool:
    return kernels.verify_batch([tx.sender], [signing_hash(tx, chain_id)], [tx.signature])[0]


def test_signature_verifies_on_its_own_network_only():
    tx = sign_transfer(KEY, REGTEST.chain_id, bytes(20), 5, 1, 0)
    assert verifies(tx, REGTEST.chain_id)
    assert not verifies(tx, MAIN.chain_id)


def test_every_field_is_committed():
    tx = sign_transfer(KEY, REGTEST.chain_id, bytes(20), 5, 1, 0, memo=b"m")
    changes = {"recipient": bytes([1]) * 20, "amount": 6, "fee": 2, "nonce": 1, "payload": b"n",
               "sender": PrivateKey(bytes(32)).public_key}  # fmt: skip
    for field, value in changes.items():
        altered = dataclasses.replace(tx, **{field: value})
        assert signing_hash(altered, REGTEST.chain_id) != signing_hash(tx, REGTEST.chain_id)
        assert not verifies(altered, REGTEST.chain_id), field


def test_signature_is_not_part_of_the_signing_hash_but_is_of_the_txid():
    tx = sign_transfer(KEY, REGTEST.chain_id, bytes(20), 5, 1, 0)
    other = tx.with_signature(bytes(64))
    assert signing_hash(other, REGTEST.chain_id) == signing_hash(tx, REGTEST.chain_id)
    assert other.txid != tx.txid
