"""TRANSFER (kind 1): move coins from the sender's account to a recipient account.

Payload, 142 bytes + memo (after ``version u8 | kind u8``):
    sender public key 32 | nonce u64 | fee u64 | recipient account id 20 | amount u64 |
    memo length u16 | memo (<= 256) | signature 64

State: namespace 0x01 (accounts) only, the sender's and the recipient's records. The sender's
nonce must equal the transaction's and goes up by one; the sender pays amount + fee, the recipient
gets amount (a transfer to oneself costs only the fee).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from coinium.core.account import Account
from coinium.core.codec import Reader
from coinium.core.errors import BlockError, TransactionError
from coinium.core.kinds import Fields, Kind
from coinium.core.state import NS_ACCOUNT, BlockState, RecordKey
from coinium.core.units import MAX_MONEY
from coinium.crypto.address import account_id

if TYPE_CHECKING:
    from coinium.core.transaction import Transaction

NUMBER = 1
MAX_MEMO_SIZE = 256
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
MAX_NONCE = (1 << 64) - 1
BODY = struct.Struct("<32sQQ20sQ")  # before the memo


def read(r: Reader) -> Fields:
    body_offset = r.offset
    sender, nonce, fee, recipient, amount = BODY.unpack(r.fixed(BODY.size, "body"))
    for what, offset, value in (("fee", 40, fee), ("amount", 68, amount)):
        if value > MAX_MONEY:
            raise r.fail(what, body_offset + offset,
                         f"{value} exceeds the money supply {MAX_MONEY}")  # fmt: skip
    memo = r.var_bytes("memo", MAX_MEMO_SIZE)
    signature = r.fixed(SIGNATURE_SIZE, "signature")
    return recipient, amount, nonce, fee, sender, memo, signature


def encode(tx: Transaction) -> bytes:
    return BODY.pack(tx.sender, tx.nonce, tx.fee, tx.recipient, tx.amount) \
        + struct.pack("<H", len(tx.payload)) + tx.payload


def check_fields(tx: Transaction) -> None:
    if len(tx.sender) != PUBLIC_KEY_SIZE:
        raise ValueError("sender must be a 32-byte public key")
    if len(tx.signature) != SIGNATURE_SIZE:
        raise ValueError("signature must be 64 bytes")
    if not 0 <= tx.fee <= MAX_MONEY:
        raise ValueError(f"fee {tx.fee} outside 0 .. MAX_MONEY")
    if not 0 <= tx.nonce <= MAX_NONCE:
        raise ValueError("nonce outside u64")
    if len(tx.payload) > MAX_MEMO_SIZE:
        raise ValueError(f"memo longer than {MAX_MEMO_SIZE} bytes")


def check(tx: Transaction) -> None:
    if tx.amount + tx.fee > MAX_MONEY:
        raise TransactionError("bad-txns-txouttotal-toolarge", "amount + fee exceed MAX_MONEY",
                               txid=tx.txid)  # fmt: skip


def touches(tx: Transaction, sender_id: bytes) -> Sequence[RecordKey]:
    return [(NS_ACCOUNT, sender_id), (NS_ACCOUNT, tx.recipient)]


def apply(txs: Sequence[Transaction], state: BlockState) -> int:
    """Apply consecutive transfers in order; returns their fees. Raises BlockError on the first
    that breaks a stateful rule (nonce, balance, overflow): the whole block is then refused.

    This loop runs once per transfer of every block: it works on local names and the state's
    plain account dict (no helper calls per transfer), which is most of what Python can make
    fast here. Every account read is also written, so the undo values and new values match."""
    accounts, load, senders = state.accounts, state.load_account, state.senders
    fees = 0
    for tx in txs:
        if tx.amount + tx.fee > MAX_MONEY:
            raise _failed(tx, "bad-txns-txouttotal-toolarge", "amount + fee exceed MAX_MONEY")
        sender_id = account_id(tx.sender)
        senders.append(sender_id)
        sender = accounts.get(sender_id)
        if sender is None:
            sender = load(sender_id)
        nonce = sender.nonce
        if tx.nonce != nonce:
            raise _failed(tx, "bad-txns-nonce", f"nonce {tx.nonce}, account expects {nonce}")
        if nonce >= MAX_NONCE:
            raise _failed(tx, "bad-txns-nonce", "account nonce exhausted")
        amount = tx.amount
        spend = amount + tx.fee
        if sender.balance < spend:
            raise _failed(tx, "bad-txns-in-belowout",
                          f"balance {sender.balance} below amount + fee {spend}")  # fmt: skip
        recipient_id = tx.recipient
        if recipient_id == sender_id:  # a transfer to oneself costs only the fee
            accounts[sender_id] = Account(sender.balance - spend + amount, nonce + 1)
        else:
            recipient = accounts.get(recipient_id)
            if recipient is None:
                recipient = load(recipient_id)
            if recipient.balance + amount > MAX_MONEY:
                raise _failed(tx, "bad-txns-balance-overflow",
                              "recipient balance would exceed MAX_MONEY")  # fmt: skip
            accounts[sender_id] = Account(sender.balance - spend, nonce + 1)
            accounts[recipient_id] = Account(recipient.balance + amount, recipient.nonce)
        fees += tx.fee
    return fees


def _failed(tx: Transaction, reason: str, detail: str) -> BlockError:
    return BlockError(reason, f"tx {tx.txid.hex()}: {detail}")


def to_json(tx: Transaction, show: Callable[[bytes], str]) -> dict[str, Any]:
    return {"to": show(tx.recipient), "amount_units": tx.amount, "memo": tx.payload.hex()}


KIND = Kind(
    number=NUMBER, name="transfer", signed=True, coinbase=False,
    max_size=2 + BODY.size + 2 + MAX_MEMO_SIZE + SIGNATURE_SIZE,
    read=read, encode=encode, check_fields=check_fields, check=check, touches=touches,
    apply=apply, to_json=to_json,
)  # fmt: skip
