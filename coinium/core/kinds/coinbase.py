"""COINBASE (kind 0): a block's first transaction, paying its miner the subsidy and the fees.

Payload, 34 bytes + extra (after ``version u8 | kind u8``):
    height u32 | recipient account id 20 | amount u64 | extra length u16 | extra (<= 100)

It carries its block's height (every coinbase has a distinct txid, as BIP34) and an ``extra``
field that miners use as an extra-nonce. Unsigned: no sender, fee or nonce. How much it may pay
is a block rule (subsidy + fees, `coinium.consensus.state_transition`); `pay` credits it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from coinium.core.codec import Reader
from coinium.core.errors import BlockError, TransactionError
from coinium.core.kinds import Fields, Kind
from coinium.core.state import NS_ACCOUNT, BlockState, RecordKey
from coinium.core.units import MAX_MONEY

if TYPE_CHECKING:
    from coinium.core.transaction import Transaction

NUMBER = 0
MAX_EXTRA_SIZE = 100
ACCOUNT_ID_SIZE = 20
MAX_U32 = (1 << 32) - 1
BODY = struct.Struct("<I20sQ")


def read(r: Reader) -> Fields:
    body_offset = r.offset
    height, recipient, amount = BODY.unpack(r.fixed(BODY.size, "body"))
    if amount > MAX_MONEY:
        raise r.fail("amount", body_offset + 24, f"{amount} exceeds the money supply {MAX_MONEY}")
    extra = r.var_bytes("extra", MAX_EXTRA_SIZE)
    return recipient, amount, height, 0, b"", extra, b""


def encode(tx: Transaction) -> bytes:
    return BODY.pack(tx.nonce, tx.recipient, tx.amount) + struct.pack("<H", len(tx.payload)) \
        + tx.payload


def check_fields(tx: Transaction) -> None:
    if tx.sender or tx.signature or tx.fee:
        raise ValueError("a coinbase has no sender, fee or signature")
    if not 0 <= tx.nonce <= MAX_U32:
        raise ValueError("coinbase height outside u32")
    if len(tx.payload) > MAX_EXTRA_SIZE:
        raise ValueError(f"coinbase extra longer than {MAX_EXTRA_SIZE} bytes")


def check(tx: Transaction) -> None:
    raise TransactionError("bad-txns-kind", "a coinbase is only a block's first transaction",
                           txid=tx.txid)  # fmt: skip


def touches(tx: Transaction, sender_id: bytes) -> Sequence[RecordKey]:
    return [(NS_ACCOUNT, tx.recipient)]


def apply(txs: Sequence[Transaction], state: BlockState) -> int:
    raise BlockError("bad-cb-multiple", "a coinbase applies only as the block's first transaction")


def pay(tx: Transaction, state: BlockState) -> None:
    """Credit the coinbase (its amount already checked against subsidy + fees)."""
    miner = state.account(tx.recipient)
    if miner.balance + tx.amount > MAX_MONEY:
        raise BlockError("bad-cb-amount", "coinbase recipient balance would exceed MAX_MONEY")
    state.set_account(tx.recipient, miner._replace(balance=miner.balance + tx.amount))


def to_json(tx: Transaction, show: Callable[[bytes], str]) -> dict[str, Any]:
    return {"height": tx.nonce, "to": show(tx.recipient), "amount_units": tx.amount,
            "extra": tx.payload.hex()}  # fmt: skip


KIND = Kind(
    number=NUMBER, name="coinbase", signed=False, coinbase=True,
    max_size=2 + BODY.size + 2 + MAX_EXTRA_SIZE,
    read=read, encode=encode, check_fields=check_fields, check=check, touches=touches,
    apply=apply, to_json=to_json,
)  # fmt: skip
