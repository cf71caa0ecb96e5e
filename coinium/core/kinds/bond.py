"""BOND (kind 17): a validator's operator adds ``amount`` of its own coins to its stake.

No kind data; the validator field must be the sender's own account id (else use delegate).
"""

from __future__ import annotations

from coinium.core.errors import TransactionError
from coinium.core.kinds.staked import make_kind
from coinium.core.staking import ledger

NUMBER = 17


def _effect(tx, sender_id: bytes, state) -> None:
    if tx.recipient != sender_id:
        raise TransactionError("bad-stake-validator", "bond names the sender's own validator")
    ledger.bond(state, sender_id, sender_id, tx.amount)


KIND = make_kind(number=NUMBER, name="bond", data_size=0, effect=_effect, spends_amount=True)
