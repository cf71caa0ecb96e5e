"""VALIDATOR_REGISTER (kind 16): make the sender's account a validator and bond its first stake.

Kind data, 34 bytes: voting public key 32 | commission u16 (basis points, at most 10,000).
``amount`` is the self-bond (at least ``min_validator_bond``); the validator field is zero.
The validator's id is the sender's account id; its votes are signed by the voting key.
"""

from __future__ import annotations

import struct

from coinium.core.errors import TransactionError
from coinium.core.kinds.staked import make_kind
from coinium.core.staking import ledger

NUMBER = 16
DATA = struct.Struct("<32sH")


def _check(tx) -> None:
    _, commission = DATA.unpack(tx.payload)
    if commission > ledger.BASIS_POINTS:
        raise TransactionError("bad-stake-commission", f"commission {commission} above 10000 bp",
                               txid=tx.txid)  # fmt: skip
    if tx.recipient != bytes(20):
        raise TransactionError("bad-stake-validator", "the validator field of a registration "
                               "is zero", txid=tx.txid)  # fmt: skip


def _effect(tx, sender_id: bytes, state) -> None:
    voting_key, commission = DATA.unpack(tx.payload)
    ledger.register(state, sender_id, voting_key, commission, tx.amount)


def _json(data: bytes) -> dict:
    voting_key, commission = DATA.unpack(data)
    return {"votingkey": voting_key.hex(), "commission_bp": commission}


KIND = make_kind(number=NUMBER, name="validator_register", data_size=DATA.size,
                 effect=_effect, check_data=_check, data_json=_json, spends_amount=True)
