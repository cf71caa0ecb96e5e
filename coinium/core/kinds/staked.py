"""The shape every staking kind (16-22) shares, so each kind's module holds only its own rule.

Payload (after ``version u8 | kind u8``):
    sender public key 32 | nonce u64 | fee u64 | validator account id 20 | amount u64 |
    kind data (fixed size per kind; the slashing evidence's is ``length u16 | bytes``) |
    signature 64

``amount`` is what the sender's balance gives up besides the fee (a bond or delegation; 0 for
the others). The sender's nonce must match and goes up by one; the sender pays fee + amount,
then the kind's ``effect(tx, sender_id, state)`` applies its rule (`coinium.core.staking`).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from coinium.core.codec import Reader
from coinium.core.errors import ConsensusError, TransactionError
from coinium.core.kinds import Fields, Kind
from coinium.core.kinds.signed import (
    ACCOUNT_BODY,
    SIGNATURE_SIZE,
    block_failure,
    check_signed_fields,
    check_total,
    debit_sender,
    read_account_body,
)
from coinium.core.state import NS_ACCOUNT, BlockState, RecordKey

if TYPE_CHECKING:
    from coinium.core.transaction import Transaction

Effect = Callable[["Transaction", bytes, BlockState], None]


def make_kind(*, number: int, name: str, data_size: int, variable: bool = False,
              effect: Effect, check_data: Callable[[Transaction], None] | None = None,
              data_json: Callable[[bytes], dict[str, Any]] | None = None,
              spends_amount: bool = False) -> Kind:  # fmt: skip
    """A signed staking kind; ``data_size`` is the kind data's size (its maximum when
    ``variable``); ``spends_amount`` says whether ``amount`` may be non-zero."""

    def read(r: Reader) -> Fields:
        sender, nonce, fee, recipient, amount = read_account_body(r)
        if variable:
            data = r.var_bytes("data", data_size)
        else:
            data = r.fixed(data_size, "data")
        return recipient, amount, nonce, fee, sender, data, r.fixed(SIGNATURE_SIZE, "signature")

    def encode(tx: Transaction) -> bytes:
        head = ACCOUNT_BODY.pack(tx.sender, tx.nonce, tx.fee, tx.recipient, tx.amount)
        if variable:
            return head + struct.pack("<H", len(tx.payload)) + tx.payload
        return head + tx.payload

    def check_fields(tx: Transaction) -> None:
        check_signed_fields(tx)
        if variable and len(tx.payload) > data_size:
            raise ValueError(f"{name} data longer than {data_size} bytes")
        if not variable and len(tx.payload) != data_size:
            raise ValueError(f"{name} data is {data_size} bytes")

    def check(tx: Transaction) -> None:
        check_total(tx)
        if tx.amount and not spends_amount:
            raise TransactionError("bad-stake-amount", f"a {name} carries no amount",
                                   txid=tx.txid)  # fmt: skip
        if check_data is not None:
            check_data(tx)

    def touches(tx: Transaction, sender_id: bytes) -> Sequence[RecordKey]:
        return [(NS_ACCOUNT, sender_id)]

    def apply(txs: Sequence[Transaction], state: BlockState) -> int:
        fees = 0
        for tx in txs:
            sender_id = debit_sender(tx, state, partial(block_failure, tx))
            try:
                effect(tx, sender_id, state)
            except ConsensusError as exc:
                raise block_failure(tx, exc.reason, exc.detail) from None
            fees += tx.fee
        return fees

    def to_json(tx: Transaction, show: Callable[[bytes], str]) -> dict[str, Any]:
        fields: dict[str, Any] = {"validator": show(tx.recipient), "amount_units": tx.amount}
        if data_json is not None:
            fields.update(data_json(tx.payload))
        return fields

    return Kind(
        number=number, name=name, signed=True, coinbase=False,
        max_size=2 + ACCOUNT_BODY.size + (2 if variable else 0) + data_size + SIGNATURE_SIZE,
        read=read, encode=encode, check_fields=check_fields, check=check, touches=touches,
        apply=apply, to_json=to_json,
    )  # fmt: skip
