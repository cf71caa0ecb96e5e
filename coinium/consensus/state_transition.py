"""Applying a block to the account state, and the undo record that reverses it.

`apply_block` reads accounts through a narrow `StateView` and returns a `StateDelta`: the new value
of every account the block touches and the old value (``None`` for an account that did not exist),
which is the undo record. It writes nothing; the store writes the delta and the undo record in one
transaction. Transactions apply in block order, each seeing the effects of those before it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from operator import itemgetter
from typing import Protocol

from coinium.consensus.block_rules import check_transaction_sanity
from coinium.consensus.errors import BlockError, TransactionError
from coinium.consensus.subsidy import block_subsidy
from coinium.core.account import EMPTY_ACCOUNT, Account
from coinium.core.block import Block
from coinium.core.codec import DecodeError, Reader
from coinium.core.params import NetworkParams
from coinium.core.transaction import Transaction
from coinium.core.units import MAX_MONEY
from coinium.crypto.address import account_id

MAX_NONCE = (1 << 64) - 1
_by_account = itemgetter(0)


class StateView(Protocol):
    """Read-only access to account state, as of the parent of the block being applied."""

    def get_account(self, account: bytes) -> Account | None: ...


@dataclass(frozen=True, slots=True)
class StateDelta:
    new: dict[bytes, Account]  # every touched account, after the block
    old: dict[bytes, Account | None]  # the same accounts before it: the undo record
    fees: int
    # The account id of each transfer's sender, in block order (the coinbase has none): the
    # address index needs them, and hashing a public key into an id is not free.
    senders: tuple[bytes, ...] = ()

    def encode_undo(self) -> bytes:
        return encode_undo(self.old)


def apply_block(block: Block, view: StateView, params: NetworkParams) -> StateDelta:
    """Apply a block whose body already passed `check_block`; raise BlockError if it breaks a
    stateful rule (nonce, balance, overflow, coinbase amount).

    Transactions apply in block order, each seeing the effects of those before it. ``new`` holds
    every account the block has touched so far, ``old`` its value before the block (``None`` if
    it did not exist): each account is read from the view once, at its first touch, and that
    read is its undo value. Every account read is also written, unless a rule fails (and then
    the whole block is refused), so ``old`` and ``new`` end with the same keys.

    This loop runs once per transaction of every block: it works on local names and plain dicts
    (no helper objects per transaction), which is most of what Python can make fast here.
    """
    read = view.get_account
    new: dict[bytes, Account] = {}
    old: dict[bytes, Account | None] = {}
    senders: list[bytes] = []
    fees = 0
    for tx in block.transactions[1:]:
        try:
            check_transaction_sanity(tx)
        except TransactionError as exc:
            raise _tx_failed(tx, exc.reason, exc.detail) from None
        sender_id = account_id(tx.sender)
        senders.append(sender_id)
        sender = new.get(sender_id)
        if sender is None:
            sender = old[sender_id] = read(sender_id)
            if sender is None:
                sender = EMPTY_ACCOUNT
        nonce = sender.nonce
        if tx.nonce != nonce:
            raise _tx_failed(tx, "bad-txns-nonce", f"nonce {tx.nonce}, account expects {nonce}")
        if nonce >= MAX_NONCE:
            raise _tx_failed(tx, "bad-txns-nonce", "account nonce exhausted")
        amount = tx.amount
        spend = amount + tx.fee
        if sender.balance < spend:
            raise _tx_failed(tx, "bad-txns-in-belowout",
                             f"balance {sender.balance} below amount + fee {spend}")  # fmt: skip
        recipient_id = tx.recipient
        if recipient_id == sender_id:  # a transfer to oneself costs only the fee
            new[sender_id] = Account(sender.balance - spend + amount, nonce + 1)
        else:
            recipient = new.get(recipient_id)
            if recipient is None:
                recipient = old[recipient_id] = read(recipient_id)
                if recipient is None:
                    recipient = EMPTY_ACCOUNT
            if recipient.balance + amount > MAX_MONEY:
                raise _tx_failed(tx, "bad-txns-balance-overflow",
                                 "recipient balance would exceed MAX_MONEY")  # fmt: skip
            new[sender_id] = Account(sender.balance - spend, nonce + 1)
            new[recipient_id] = Account(recipient.balance + amount, recipient.nonce)
        fees += tx.fee

    coinbase = block.transactions[0]
    allowed = block_subsidy(block.header.height, params) + fees
    if coinbase.amount > allowed:
        raise BlockError(
            "bad-cb-amount", f"coinbase pays {coinbase.amount}, subsidy + fees is {allowed}"
        )
    miner_id = coinbase.recipient
    miner = new.get(miner_id)
    if miner is None:
        miner = old[miner_id] = read(miner_id)
        if miner is None:
            miner = EMPTY_ACCOUNT
    if miner.balance + coinbase.amount > MAX_MONEY:
        raise BlockError("bad-cb-amount", "coinbase recipient balance would exceed MAX_MONEY")
    new[miner_id] = Account(miner.balance + coinbase.amount, miner.nonce)
    return StateDelta(new=new, old=old, fees=fees, senders=tuple(senders))


def _tx_failed(tx: Transaction, reason: str, detail: str) -> BlockError:
    """A transaction broke a stateful rule: the block is invalid."""
    return BlockError(reason, f"tx {tx.txid.hex()}: {detail}")


# --- undo records -----------------------------------------------------------------------------
# u32 count, then per account (sorted by id, so the bytes are deterministic):
#   account id 20 | present u8 (0: the account did not exist) | balance u64 | nonce u64
_UNDO_ENTRY = struct.Struct("<20sB16s")
_UNDO_ENTRY_FIELDS = struct.Struct("<20sBQQ")  # the same bytes, balance and nonce as integers


def encode_undo(old: dict[bytes, Account | None]) -> bytes:
    pack = _UNDO_ENTRY_FIELDS.pack
    parts = [struct.pack("<I", len(old))]
    parts += [pack(account, 0, 0, 0) if value is None else pack(account, 1, *value)
              for account, value in sorted(old.items(), key=_by_account)]  # fmt: skip
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
