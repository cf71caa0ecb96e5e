"""Building and signing the staking transactions (the wallet and the validator client use these).

Each takes the signer (a `coinium.crypto.keys.PrivateKey`), the chain id, the account nonce and
the fee, and returns a signed `Transaction` of its kind.
"""

from __future__ import annotations

import struct

from coinium.core.kinds import bond as bond_kind
from coinium.core.kinds import delegate as delegate_kind
from coinium.core.kinds import slash as slash_kind
from coinium.core.kinds import unbond as unbond_kind
from coinium.core.kinds import validator_register, vote
from coinium.core.kinds import withdraw as withdraw_kind
from coinium.core.staking.records import Checkpoint
from coinium.core.transaction import Transaction, TxKind, signing_hash

SIGNATURE_SIZE = 64


def sign_kind(key, chain_id: int, kind: int, validator_id: bytes, amount: int, fee: int,
              nonce: int, data: bytes = b"") -> Transaction:  # fmt: skip
    unsigned = Transaction(TxKind(kind), validator_id, amount, nonce, fee, key.public_key, data,
                           bytes(SIGNATURE_SIZE))  # fmt: skip
    return unsigned.with_signature(key.sign(signing_hash(unsigned, chain_id)))


def register_validator(key, chain_id: int, voting_key: bytes, commission_bp: int, amount: int,
                       fee: int, nonce: int) -> Transaction:  # fmt: skip
    data = validator_register.DATA.pack(voting_key, commission_bp)
    return sign_kind(key, chain_id, validator_register.NUMBER, bytes(20), amount, fee, nonce, data)


def bond(key, chain_id: int, amount: int, fee: int, nonce: int) -> Transaction:
    return sign_kind(key, chain_id, bond_kind.NUMBER, key.account, amount, fee, nonce)


def delegate(key, chain_id: int, validator_id: bytes, amount: int, fee: int,
             nonce: int) -> Transaction:  # fmt: skip
    return sign_kind(key, chain_id, delegate_kind.NUMBER, validator_id, amount, fee, nonce)


def unbond(key, chain_id: int, validator_id: bytes, tokens: int, fee: int,
           nonce: int) -> Transaction:  # fmt: skip
    return sign_kind(key, chain_id, unbond_kind.NUMBER, validator_id, 0, fee, nonce,
                     struct.pack("<Q", tokens))  # fmt: skip


def withdraw(key, chain_id: int, validator_id: bytes, fee: int, nonce: int) -> Transaction:
    return sign_kind(key, chain_id, withdraw_kind.NUMBER, validator_id, 0, fee, nonce)


def sign_vote(voting_key, chain_id: int, validator_id: bytes, source: Checkpoint,
              target: Checkpoint, fee: int, nonce: int) -> Transaction:  # fmt: skip
    return sign_kind(voting_key, chain_id, vote.NUMBER, validator_id, 0, fee, nonce,
                     vote.encode_data(source, target))  # fmt: skip


def slash_evidence(key, chain_id: int, first: Transaction, second: Transaction, fee: int,
                   nonce: int) -> Transaction:  # fmt: skip
    return sign_kind(key, chain_id, slash_kind.NUMBER, first.recipient, 0, fee, nonce,
                     slash_kind.encode_evidence(first, second))  # fmt: skip
