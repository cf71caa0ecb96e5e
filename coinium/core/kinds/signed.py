"""What every signed account kind shares: the sender key, nonce, fee and signature, the checks on
them, and the sender's debit. Transfer, the staking kinds and the NFT kinds use these, so one
rule cannot drift between them (the contract kinds keep their own, in `coinium.contracts`).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from coinium.core.account import Account
from coinium.core.codec import Reader
from coinium.core.errors import BlockError, ConsensusError, TransactionError
from coinium.core.units import MAX_MONEY
from coinium.crypto.address import account_id

if TYPE_CHECKING:
    from coinium.core.state import BlockState
    from coinium.core.transaction import Transaction

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
MAX_NONCE = (1 << 64) - 1
# The body of a transfer and of every staking kind, before its own data:
# sender public key 32 | nonce u64 | fee u64 | recipient (or validator) account id 20 | amount u64
ACCOUNT_BODY = struct.Struct("<32sQQ20sQ")

Fail = Callable[[str, str], ConsensusError]  # (reason, detail) -> the error to raise


def read_account_body(r: Reader) -> tuple[bytes, int, int, bytes, int]:
    """(sender, nonce, fee, recipient, amount); a fee or amount above MAX_MONEY is a decode
    error at its own offset."""
    body_offset = r.offset
    sender, nonce, fee, recipient, amount = ACCOUNT_BODY.unpack(r.fixed(ACCOUNT_BODY.size, "body"))
    for what, offset, value in (("fee", 40, fee), ("amount", 68, amount)):
        if value > MAX_MONEY:
            raise r.fail(what, body_offset + offset,
                         f"{value} exceeds the money supply {MAX_MONEY}")  # fmt: skip
    return sender, nonce, fee, recipient, amount


def check_signed_fields(tx: Transaction) -> None:
    """ValueError for a sender key, signature, fee or nonce that has no encoding."""
    if len(tx.sender) != PUBLIC_KEY_SIZE:
        raise ValueError("sender must be a 32-byte public key")
    if len(tx.signature) != SIGNATURE_SIZE:
        raise ValueError("signature must be 64 bytes")
    if not 0 <= tx.fee <= MAX_MONEY:
        raise ValueError(f"fee {tx.fee} outside 0 .. MAX_MONEY")
    if not 0 <= tx.nonce <= MAX_NONCE:
        raise ValueError("nonce outside u64")


def check_total(tx: Transaction) -> None:
    """Stateless rule: amount + fee within the money supply."""
    if tx.amount + tx.fee > MAX_MONEY:
        raise TransactionError("bad-txns-txouttotal-toolarge", "amount + fee exceed MAX_MONEY",
                               txid=tx.txid)  # fmt: skip


def block_failure(tx: Transaction, reason: str, detail: str) -> BlockError:
    """The BlockError that refuses a block for this transaction."""
    return BlockError(reason, f"tx {tx.txid.hex()}: {detail}")


def debit_sender(tx: Transaction, state: BlockState, fail: Fail) -> bytes:
    """Check the sender's nonce and balance, take amount + fee and count the nonce up; returns
    the sender's account id. (Transfer's apply inlines the same steps for speed.)"""
    sender_id = account_id(tx.sender)
    state.senders.append(sender_id)
    sender = state.account(sender_id)
    if tx.nonce != sender.nonce:
        raise fail("bad-txns-nonce", f"nonce {tx.nonce}, account expects {sender.nonce}")
    if sender.nonce >= MAX_NONCE:
        raise fail("bad-txns-nonce", "account nonce exhausted")
    spend = tx.amount + tx.fee
    if sender.balance < spend:
        raise fail("bad-txns-in-belowout", f"balance {sender.balance} below amount + fee {spend}")
    state.set_account(sender_id, Account(sender.balance - spend, sender.nonce + 1))
    return sender_id
