"""WITHDRAW (kind 20): collect from one validator the sender's rewards, its matured unbondings
and, for the validator's operator, its commission. Refused when there is nothing to collect."""

from __future__ import annotations

from coinium.core.kinds.staked import make_kind
from coinium.core.staking import ledger

NUMBER = 20


def _effect(tx, sender_id: bytes, state) -> None:
    ledger.withdraw(state, sender_id, tx.recipient)


KIND = make_kind(number=NUMBER, name="withdraw", data_size=0, effect=_effect)
