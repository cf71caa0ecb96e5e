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
from coinium.core.kinds import Fields, Kind
from coinium.core.kinds.signed import (
    ACCOUNT_BODY,
    MAX_NONCE,
    SIGNATURE_SIZE,
    block_failure,
    check_signed_fields,
    check_total,
    read_account_body,
)
from coinium.core.state import NS_ACCOUNT, BlockState, RecordKey
from coinium.core.units import MAX_MONEY
from coinium.crypto.address import account_id

if TYPE_CHECKING:
    from coinium.core.transaction import Transaction

NUMBER = 1
MAX_MEMO_SIZE = 256


def read(r: Reader) -> Fields:
    sender, nonce, fee, recipient, amount = read_account_body(r)
    memo = r.var_bytes("memo", MAX_MEMO_SIZE)
    signature = r.fixed(SIGNATURE_SIZE, "signature")
    return recipient, amount, nonce, fee, sender, memo, signature


def encode(tx: Transaction) -> bytes:
    return ACCOUNT_BODY.pack(tx.sender, tx.nonce, tx.fee, tx.recipient, tx.amount) \
        + struct.pack("<H", len(tx.payload)) + tx.payload


def check_fields(tx: Transaction) -> None:
    check_signed_fields(tx)
    if len(tx.payload) > MAX_MEMO_SIZE:
        raise ValueError(f"memo longer than {MAX_MEMO_SIZE} bytes")


check = check_total


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
            raise block_failure(tx, "bad-txns-txouttotal-toolarge",
                                "amount + fee exceed MAX_MONEY")
        sender_id = account_id(tx.sender)
        senders.append(sender_id)
        sender = accounts.get(sender_id)
        if sender is None:
            sender = load(sender_id)
        nonce = sender.nonce
        if tx.nonce != nonce:
            raise block_failure(tx, "bad-txns-nonce", f"nonce {tx.nonce}, account expects {nonce}")
        if nonce >= MAX_NONCE:
            raise block_failure(tx, "bad-txns-nonce", "account nonce exhausted")
        amount = tx.amount
        spend = amount + tx.fee
        if sender.balance < spend:
            raise block_failure(tx, "bad-txns-in-belowout",
                                f"balance {sender.balance} below amount + fee {spend}")  # fmt: skip
        recipient_id = tx.recipient
        if recipient_id == sender_id:  # a transfer to oneself costs only the fee
            accounts[sender_id] = Account(sender.balance - spend + amount, nonce + 1)
        else:
            recipient = accounts.get(recipient_id)
            if recipient is None:
                recipient = load(recipient_id)
            if recipient.balance + amount > MAX_MONEY:
                raise block_failure(tx, "bad-txns-balance-overflow",
                                    "recipient balance would exceed MAX_MONEY")  # fmt: skip
            accounts[sender_id] = Account(sender.balance - spend, nonce + 1)
            accounts[recipient_id] = Account(recipient.balance + amount, recipient.nonce)
        fees += tx.fee
    return fees


def to_json(tx: Transaction, show: Callable[[bytes], str]) -> dict[str, Any]:
    return {"to": show(tx.recipient), "amount_units": tx.amount, "memo": tx.payload.hex()}


KIND = Kind(
    number=NUMBER, name="transfer", signed=True, coinbase=False,
    max_size=2 + ACCOUNT_BODY.size + 2 + MAX_MEMO_SIZE + SIGNATURE_SIZE,
    read=read, encode=encode, check_fields=check_fields, check=check, touches=touches,
    apply=apply, to_json=to_json,
)  # fmt: skip
