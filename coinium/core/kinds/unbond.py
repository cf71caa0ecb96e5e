"""UNBOND (kind 19): start unbonding some of the sender's stake with a validator.

Kind data, 8 bytes: tokens u64 (base units of stake). The stake stops voting and earning at once,
stays slashable for ``unbonding_period`` blocks, then `withdraw` pays it out.
"""

from __future__ import annotations

import struct

from coinium.core.errors import TransactionError
from coinium.core.kinds.staked import make_kind
from coinium.core.staking import ledger

NUMBER = 19
DATA = struct.Struct("<Q")


def _check(tx) -> None:
    (tokens,) = DATA.unpack(tx.payload)
    if tokens == 0:
        raise TransactionError("bad-stake-amount", "unbond of 0", txid=tx.txid)


def _effect(tx, sender_id: bytes, state) -> None:
    ledger.unbond(state, sender_id, tx.recipient, DATA.unpack(tx.payload)[0])


def _json(data: bytes) -> dict:
    return {"tokens_units": DATA.unpack(data)[0]}


KIND = make_kind(number=NUMBER, name="unbond", data_size=DATA.size, effect=_effect,
                 check_data=_check, data_json=_json)
