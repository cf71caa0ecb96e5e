"""DELEGATE (kind 18): stake ``amount`` with a validator, for a share of its rewards (after its
commission) and of its risk (slashing). No kind data."""

from __future__ import annotations

from coinium.core.kinds.staked import make_kind
from coinium.core.staking import ledger

NUMBER = 18


def _effect(tx, sender_id: bytes, state) -> None:
    ledger.bond(state, sender_id, tx.recipient, tx.amount)


KIND = make_kind(number=NUMBER, name="delegate", data_size=0, effect=_effect, spends_amount=True)
