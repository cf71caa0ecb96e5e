"""PROPOSAL_SUBMIT (kind 48): propose changes to governed consensus parameters.

The staking payload shape (`coinium.core.kinds.staked`): the validator field is zero, ``amount``
is the initial deposit (held until the proposal ends). Kind data, at most 246 bytes
(``length u16`` first): description hash 32 | title length u8 (1-140) | title (UTF-8) |
count u8 (1-8) | (parameter number u8 | new value u64) x count, parameters distinct and known,
each value inside the parameter's hard bounds; the step from the current value is checked
against the state (`coinium.core.governance`).
"""

from __future__ import annotations

import struct

from coinium.core.codec import DecodeError, Reader
from coinium.core.errors import TransactionError
from coinium.core.governance import proposals, table
from coinium.core.governance.records import MAX_CHANGES, MAX_TITLE
from coinium.core.kinds.staked import make_kind

NUMBER = 48
CHANGE = struct.Struct("<BQ")
MAX_DATA = 32 + 1 + MAX_TITLE + 1 + MAX_CHANGES * CHANGE.size


def encode_data(description_hash: bytes, title: bytes, changes) -> bytes:
    return b"".join((description_hash, bytes((len(title),)), title, bytes((len(changes),)),
                     *(CHANGE.pack(n, v) for n, v in changes)))  # fmt: skip


def parse(data: bytes, txid: bytes | None = None):
    """(description hash, title, changes) of valid kind data; TransactionError otherwise."""
    try:
        r = Reader(data, "proposal")
        description_hash = r.fixed(32, "description_hash")
        title = r.fixed(r.u8("title_length"), "title")
        changes = tuple(CHANGE.unpack(r.fixed(CHANGE.size, "change"))
                        for _ in range(r.u8("count")))  # fmt: skip
        r.finish()
    except DecodeError as exc:
        raise TransactionError("bad-gov-payload", str(exc), txid=txid) from None
    if not 0 < len(title) <= MAX_TITLE:
        raise TransactionError("bad-gov-title", f"a title is 1 to {MAX_TITLE} bytes", txid=txid)
    try:
        title.decode("utf-8")
    except UnicodeDecodeError:
        raise TransactionError("bad-gov-title", "the title is not UTF-8", txid=txid) from None
    if not 0 < len(changes) <= MAX_CHANGES:
        raise TransactionError("bad-gov-changes", f"1 to {MAX_CHANGES} changes", txid=txid)
    if len({n for n, _ in changes}) != len(changes):
        raise TransactionError("bad-gov-changes", "a parameter named twice", txid=txid)
    for number, value in changes:
        spec = table.BY_NUMBER.get(number)
        if spec is None:
            raise TransactionError("bad-gov-param-unknown", f"no parameter {number}", txid=txid)
        if not spec.min <= value <= spec.max:
            raise TransactionError("bad-gov-param-bounds", f"{spec.name} = {value} outside "
                                   f"[{spec.min}, {spec.max}]", txid=txid)  # fmt: skip
    return description_hash, title, changes


def _check(tx) -> None:
    if tx.recipient != bytes(20):
        raise TransactionError("bad-gov-field", "a proposal names no validator", txid=tx.txid)
    parse(tx.payload, tx.txid)


def _effect(tx, sender_id: bytes, state) -> None:
    description_hash, title, changes = parse(tx.payload, tx.txid)
    proposals.submit(state, sender_id, tx.amount, title, description_hash, changes)


def _json(data: bytes) -> dict:
    try:
        description_hash, title, changes = parse(data)
    except TransactionError:
        return {"data": data.hex()}
    return {"title": title.decode(), "description_hash": description_hash.hex(),
            "changes": {table.BY_NUMBER[n].name: v for n, v in changes}}  # fmt: skip


KIND = make_kind(number=NUMBER, name="proposal_submit", data_size=MAX_DATA, variable=True,
                 effect=_effect, check_data=_check, data_json=_json, spends_amount=True)
