"""PROPOSAL_DEPOSIT (kind 49): add to a proposal's deposit during its deposit period.

The staking payload shape: the validator field is zero, ``amount`` is the deposit. Kind data,
4 bytes: proposal id u32.
"""

from __future__ import annotations

import struct

from coinium.core.errors import TransactionError
from coinium.core.governance import proposals
from coinium.core.kinds.staked import make_kind

NUMBER = 49
DATA = struct.Struct("<I")


def _check(tx) -> None:
    if tx.recipient != bytes(20):
        raise TransactionError("bad-gov-field", "a deposit names no validator", txid=tx.txid)
    if tx.amount == 0:
        raise TransactionError("bad-gov-deposit-low", "a deposit of 0", txid=tx.txid)


def _effect(tx, sender_id: bytes, state) -> None:
    proposals.add_deposit(state, sender_id, DATA.unpack(tx.payload)[0], tx.amount)


KIND = make_kind(number=NUMBER, name="proposal_deposit", data_size=DATA.size, effect=_effect,
                 check_data=_check, data_json=lambda d: {"proposal": DATA.unpack(d)[0]},
                 spends_amount=True)  # fmt: skip
