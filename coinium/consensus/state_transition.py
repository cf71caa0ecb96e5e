"""Applying a block to the namespaced state, and the undo record that reverses it.

`apply_block` reads records through a narrow `StateView` (`coinium.core.state`) and returns a
`StateDelta`: the new value of every record the block touches and its old value (``None`` for a
record that did not exist), which is the undo record. It writes nothing; the store writes the
delta and the undo record in one transaction. Transactions apply in block order, each seeing the
effects of those before it; each run of consecutive transactions of one kind goes to that kind's
module (`coinium.core.kinds`) in one call, so a block of transfers is one tight loop.
"""

from __future__ import annotations

import struct

from coinium.consensus.errors import BlockError, TransactionError
from coinium.consensus.subsidy import block_subsidy
from coinium.core.block import Block
from coinium.core.codec import DecodeError, Reader
from coinium.core.governance import proposals
from coinium.core.kinds import KINDS, coinbase
from coinium.core.params import NetworkParams
from coinium.core.staking import finality, ledger
from coinium.core.state import (
    MAX_KEY_SIZE,
    BlockContext,
    BlockState,
    RecordKey,
    StateDelta,
    StateView,
)

__all__ = ["StateDelta", "StateView", "apply_block", "decode_undo", "encode_undo"]


def apply_block(block: Block, view: StateView, params: NetworkParams) -> StateDelta:
    """Apply a block whose body already passed `check_block`; raise BlockError if it breaks a
    stateful rule (nonce, balance, overflow, coinbase amount)."""
    header = block.header
    state = BlockState(view, BlockContext(header.height, header.prev_hash, params,
                                           header.timestamp))
    subsidy = block_subsidy(header.height, params)
    # Before the block's transactions: proposals move on (a passed one's parameters take effect
    # here, so every rule of this block reads them), a new epoch's checkpoint, then the staking
    # share of the subsidy to the stake bonded before the block (coinium.core.staking).
    proposals.begin_block(state)
    finality.begin_block(state)
    staking_share = ledger.issue_rewards(state, subsidy) if header.height else 0
    txs = block.transactions
    fees = 0
    start = 1
    while start < len(txs):  # runs of one kind, in block order
        number = txs[start].kind
        end = start + 1
        while end < len(txs) and txs[end].kind == number:
            end += 1
        try:
            fees += KINDS[number].apply(txs[start:end], state)
        except TransactionError as exc:
            raise BlockError(exc.reason, f"tx {exc.txid.hex() if exc.txid else '?'}: "
                             f"{exc.detail}") from None  # fmt: skip
        start = end

    cb = txs[0]
    allowed = subsidy - staking_share + fees
    if cb.amount > allowed:
        raise BlockError("bad-cb-amount", f"coinbase pays {cb.amount}, subsidy + fees is {allowed}"
                         + (f" (the stakers' share {staking_share} excluded)"
                            if staking_share else ""))  # fmt: skip
    coinbase.pay(cb, state)
    return state.delta(fees)


# --- undo records -----------------------------------------------------------------------------
# Version 2 (version 1 knew only accounts): version u8 (2) | count u32, then per record, sorted by
# (namespace, key) so the bytes are deterministic:
#   namespace u8 | key length u8 | key | present u8 (0: the record did not exist) |
#   if present: value length u32 | value
UNDO_VERSION = 2
_HEAD = struct.Struct("<BI")
_VALUE_LENGTH = struct.Struct("<I")


def encode_undo(old: dict[RecordKey, bytes | None]) -> bytes:
    return b"".join([_HEAD.pack(UNDO_VERSION, len(old)),
                     *[_entry(namespace, key, value)
                       for (namespace, key), value in sorted(old.items())]])  # fmt: skip


# One block's undo record holds thousands of entries, nearly all of them 20-byte keys with a
# 16-byte account or none: those are packed in one call each.
_PRESENT_20_16 = struct.Struct("<BB20sBI16s").pack
_ABSENT_20 = struct.Struct("<BB20sB").pack


def _entry(namespace: int, key: bytes, value: bytes | None) -> bytes:
    if len(key) == 20:
        if value is None:
            return _ABSENT_20(namespace, 20, key, 0)
        if len(value) == 16:
            return _PRESENT_20_16(namespace, 20, key, 1, 16, value)
    head = bytes((namespace, len(key))) + key
    if value is None:
        return head + b"\x00"
    return head + b"\x01" + _VALUE_LENGTH.pack(len(value)) + value


def decode_undo(data: bytes) -> dict[RecordKey, bytes | None]:
    r = Reader(data, "undo")
    version = r.u8("version")
    if version != UNDO_VERSION:
        raise DecodeError("undo.version", 0, f"unknown undo record version {version}")
    count = r.u32("count")
    if count > r.remaining() // 3:  # every entry takes at least 3 bytes
        raise DecodeError("undo.count", 1, f"{count} entries cannot fit {r.remaining()} bytes")
    old: dict[RecordKey, bytes | None] = {}
    previous: RecordKey | None = None
    for _ in range(count):
        offset = r.offset
        namespace = r.u8("namespace")
        key_length = r.u8("key_length")
        if not 0 < key_length <= MAX_KEY_SIZE:
            raise r.fail("key_length", offset + 1, "a key is 1 to 255 bytes")
        record = (namespace, r.fixed(key_length, "key"))
        if previous is not None and record <= previous:
            raise r.fail("key", offset, "records out of order or repeated")
        previous = record
        present = r.u8("present")
        if present > 1:
            raise r.fail("present", r.offset - 1, f"flag {present} is not 0 or 1")
        old[record] = r.fixed(r.u32("value_length"), "value") if present else None
    r.finish()
    return old
