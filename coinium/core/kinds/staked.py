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
from typing import TYPE_CHECKING, Any

from coinium.core.account import Account
from coinium.core.codec import Reader
from coinium.core.errors import BlockError, ConsensusError, TransactionError
from coinium.core.kinds import Fields, Kind
from coinium.core.state import NS_ACCOUNT, BlockState, RecordKey
from coinium.core.units import MAX_MONEY
from coinium.crypto.address import account_id

if TYPE_CHECKING:
    from coinium.core.transaction import Transaction

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
MAX_NONCE = (1 << 64) - 1
BODY = struct.Struct("<32sQQ20sQ")
Effect = Callable[["Transaction", bytes, BlockState], None]


def make_kind(*, number: int, name: str, data_size: int, variable: bool = False,
              effect: Effect, check_data: Callable[[Transaction], None] | None = None,
              data_json: Callable[[bytes], dict[str, Any]] | None = None,
              spends_amount: bool = False) -> Kind:  # fmt: skip
    """A signed staking kind; ``data_size`` is the kind data's size (its maximum when
    ``variable``); ``spends_amount`` says whether ``amount`` may be non-zero."""

    def read(r: Reader) -> Fields:
        body_offset = r.offset
        sender, nonce, fee, recipient, amount = BODY.unpack(r.fixed(BODY.size, "body"))
        for what, offset, value in (("fee", 40, fee), ("amount", 68, amount)):
            if value > MAX_MONEY:
                raise r.fail(what, body_offset + offset,
                             f"{value} exceeds the money supply {MAX_MONEY}")  # fmt: skip
        if variable:
            data = r.var_bytes("data", data_size)
        else:
            data = r.fixed(data_size, "data")
        return recipient, amount, nonce, fee, sender, data, r.fixed(SIGNATURE_SIZE, "signature")

    def encode(tx: Transaction) -> bytes:
        head = BODY.pack(tx.sender, tx.nonce, tx.fee, tx.recipient, tx.amount)
        if variable:
            return head + struct.pack("<H", len(tx.payload)) + tx.payload
        return head + tx.payload

    def check_fields(tx: Transaction) -> None:
        if len(tx.sender) != PUBLIC_KEY_SIZE:
            raise ValueError("sender must be a 32-byte public key")
        if len(tx.signature) != SIGNATURE_SIZE:
            raise ValueError("signature must be 64 bytes")
        if not 0 <= tx.fee <= MAX_MONEY:
            raise ValueError(f"fee {tx.fee} outside 0 .. MAX_MONEY")
        if not 0 <= tx.nonce <= MAX_NONCE:
            raise ValueError("nonce outside u64")
        if variable and len(tx.payload) > data_size:
            raise ValueError(f"{name} data longer than {data_size} bytes")
        if not variable and len(tx.payload) != data_size:
            raise ValueError(f"{name} data is {data_size} bytes")

    def check(tx: Transaction) -> None:
        if tx.amount + tx.fee > MAX_MONEY:
            raise TransactionError("bad-txns-txouttotal-toolarge", "amount + fee exceed MAX_MONEY",
                                   txid=tx.txid)  # fmt: skip
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
            sender_id = account_id(tx.sender)
            state.senders.append(sender_id)
            sender = state.account(sender_id)
            if tx.nonce != sender.nonce:
                raise _failed(tx, "bad-txns-nonce",
                              f"nonce {tx.nonce}, account expects {sender.nonce}")
            if sender.nonce >= MAX_NONCE:
                raise _failed(tx, "bad-txns-nonce", "account nonce exhausted")
            spend = tx.amount + tx.fee
            if sender.balance < spend:
                raise _failed(tx, "bad-txns-in-belowout",
                              f"balance {sender.balance} below amount + fee {spend}")
            state.set_account(sender_id, Account(sender.balance - spend, sender.nonce + 1))
            try:
                effect(tx, sender_id, state)
            except ConsensusError as exc:
                raise _failed(tx, exc.reason, exc.detail) from None
            fees += tx.fee
        return fees

    def to_json(tx: Transaction, show: Callable[[bytes], str]) -> dict[str, Any]:
        fields: dict[str, Any] = {"validator": show(tx.recipient), "amount_units": tx.amount}
        if data_json is not None:
            fields.update(data_json(tx.payload))
        return fields

    return Kind(
        number=number, name=name, signed=True, coinbase=False,
        max_size=2 + BODY.size + (2 if variable else 0) + data_size + SIGNATURE_SIZE,
        read=read, encode=encode, check_fields=check_fields, check=check, touches=touches,
        apply=apply, to_json=to_json,
    )  # fmt: skip


def _failed(tx: Transaction, reason: str, detail: str) -> BlockError:
    return BlockError(reason, f"tx {tx.txid.hex()}: {detail}")
