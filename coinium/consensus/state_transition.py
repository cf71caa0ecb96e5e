"""Applying a block to the account state, and the undo record that reverses it.

`apply_block` reads accounts through a narrow `StateView` and returns a `StateDelta`: the new value
of every account the block touches and the old value (``None`` for an account that did not exist),
which is the undo record. It writes nothing; the store writes the delta and the undo record in one
transaction. Transactions apply in block order, each seeing the effects of those before it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Protocol

from coinium.consensus.block_rules import check_transaction_sanity
from coinium.consensus.errors import BlockError, TransactionError
from coinium.consensus.subsidy import block_subsidy
from coinium.core.account import ACCOUNT_SIZE, Account
from coinium.core.block import Block
from coinium.core.codec import DecodeError, Reader
from coinium.core.params import NetworkParams
from coinium.core.transaction import Transaction
from coinium.core.units import MAX_MONEY
from coinium.crypto.address import account_id

MAX_NONCE = (1 << 64) - 1


class StateView(Protocol):
    """Read-only access to account state, as of the parent of the block being applied."""

    def get_account(self, account: bytes) -> Account | None: ...


@dataclass(frozen=True, slots=True)
class StateDelta:
    new: dict[bytes, Account]  # every touched account, after the block
    old: dict[bytes, Account | None]  # the same accounts before it: the undo record
    fees: int

    def encode_undo(self) -> bytes:
        return encode_undo(self.old)


class _Overlay:
    """The state as the block's transactions have left it so far. Each account is read from the
    view at most once: that first read is also its undo value."""

    __slots__ = ("view", "new", "old")

    def __init__(self, view: StateView):
        self.view = view
        self.new: dict[bytes, Account] = {}
        self.old: dict[bytes, Account | None] = {}

    def get(self, account: bytes) -> Account | None:
        if account in self.new:
            return self.new[account]
        if account not in self.old:
            self.old[account] = self.view.get_account(account)
        return self.old[account]

    def set(self, account: bytes, value: Account) -> None:
        if account not in self.old:
            self.old[account] = self.view.get_account(account)
        self.new[account] = value

    def undo_record(self) -> dict[bytes, Account | None]:
        # Accounts that were only read (a failed check reads without writing) need no undo.
        return {account: self.old[account] for account in self.new}


def apply_transaction(tx: Transaction, state: _Overlay) -> int:
    """Apply one transfer; return its fee. Raises TransactionError, leaving ``state`` unchanged."""
    check_transaction_sanity(tx)
    sender_id = account_id(tx.sender)
    sender = state.get(sender_id) or Account(0, 0)
    if tx.nonce != sender.nonce:
        raise TransactionError(
            "bad-txns-nonce", f"nonce {tx.nonce}, account expects {sender.nonce}", txid=tx.txid,
            permanent=tx.nonce < sender.nonce,
        )
    if sender.nonce >= MAX_NONCE:
        raise TransactionError("bad-txns-nonce", "account nonce exhausted", txid=tx.txid)
    spend = tx.amount + tx.fee
    if sender.balance < spend:
        raise TransactionError(
            "bad-txns-in-belowout",
            f"balance {sender.balance} below amount + fee {spend}",
            txid=tx.txid,
            permanent=False,
        )
    sender = Account(sender.balance - spend, sender.nonce + 1)
    if tx.recipient == sender_id:
        recipient = Account(sender.balance + tx.amount, sender.nonce)
        state.set(sender_id, recipient)
        return tx.fee
    recipient = state.get(tx.recipient) or Account(0, 0)
    if recipient.balance + tx.amount > MAX_MONEY:
        raise TransactionError("bad-txns-balance-overflow", "recipient balance would exceed "
                               "MAX_MONEY", txid=tx.txid)  # fmt: skip
    state.set(sender_id, sender)
    state.set(tx.recipient, Account(recipient.balance + tx.amount, recipient.nonce))
    return tx.fee


def apply_block(block: Block, view: StateView, params: NetworkParams) -> StateDelta:
    """Apply a block whose body already passed `check_block`; raise BlockError if it breaks a
    stateful rule (nonce, balance, overflow, coinbase amount)."""
    state = _Overlay(view)
    fees = 0
    for tx in block.transactions[1:]:
        try:
            fees += apply_transaction(tx, state)
        except TransactionError as exc:
            raise BlockError(exc.reason, f"tx {tx.txid.hex()}: {exc.detail}") from None
    coinbase = block.transactions[0]
    allowed = block_subsidy(block.header.height, params) + fees
    if coinbase.amount > allowed:
        raise BlockError(
            "bad-cb-amount", f"coinbase pays {coinbase.amount}, subsidy + fees is {allowed}"
        )
    miner = state.get(coinbase.recipient) or Account(0, 0)
    if miner.balance + coinbase.amount > MAX_MONEY:
        raise BlockError("bad-cb-amount", "coinbase recipient balance would exceed MAX_MONEY")
    state.set(coinbase.recipient, Account(miner.balance + coinbase.amount, miner.nonce))
    return StateDelta(new=state.new, old=state.undo_record(), fees=fees)


# --- undo records -----------------------------------------------------------------------------
# u32 count, then per account (sorted by id, so the bytes are deterministic):
#   account id 20 | present u8 (0: the account did not exist) | balance u64 | nonce u64
_UNDO_ENTRY = struct.Struct("<20sB16s")


def encode_undo(old: dict[bytes, Account | None]) -> bytes:
    parts = [struct.pack("<I", len(old))]
    for account in sorted(old):
        value = old[account]
        parts.append(_UNDO_ENTRY.pack(account, value is not None,
                                      value.encode() if value else bytes(ACCOUNT_SIZE)))
    return b"".join(parts)


def decode_undo(data: bytes) -> dict[bytes, Account | None]:
    r = Reader(data, "undo")
    count = r.u32("count")
    if count * _UNDO_ENTRY.size != r.remaining():
        raise DecodeError("undo", 4, f"{count} entries do not fill {r.remaining()} bytes")
    old: dict[bytes, Account | None] = {}
    for _ in range(count):
        account, present, value = _UNDO_ENTRY.unpack(r.fixed(_UNDO_ENTRY.size, "entry"))
        old[account] = Account.decode(value) if present else None
    r.finish()
    return old
