"""A transaction kind that exists only in tests, added the way a real one is (one module), to
show that every layer that dispatches on the registry carries a new kind and its namespace.

"note" (kind 0x7e, namespace 0x7e): an unsigned kind that stores a text under a 20-byte key, or
deletes it (an empty text). Payload: key 20 | serial u64 (in the amount field; unsigned notes have
no nonce, so a serial keeps txids apart) | text length u16 | text (<= 32).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from coinium.core import kinds as kinds_module
from coinium.core import state as state_module
from coinium.core.codec import Reader
from coinium.core.kinds import Kind
from coinium.core.transaction import Transaction

NOTE, NS_NOTE = 0x7E, 0x7E
_BODY = struct.Struct("<20sQ")


def _read(r: Reader):
    key, amount = _BODY.unpack(r.fixed(_BODY.size, "body"))
    return key, amount, 0, 0, b"", r.var_bytes("text", 32), b""


def _encode(tx: Transaction) -> bytes:
    return _BODY.pack(tx.recipient, tx.amount) + struct.pack("<H", len(tx.payload)) + tx.payload


def _apply(txs, state) -> int:
    for tx in txs:
        state.put(NS_NOTE, tx.recipient, tx.payload or None)  # an empty text deletes the note
    return 0


def _to_json(tx: Transaction, show) -> dict[str, Any]:
    return {"key": tx.recipient.hex(), "text": tx.payload.hex()}


NOTE_KIND = Kind(number=NOTE, name="note", signed=False, coinbase=False,
                 max_size=2 + _BODY.size + 2 + 32, read=_read, encode=_encode,
                 check_fields=lambda tx: None, check=lambda tx: None,
                 touches=lambda tx, sender: [(NS_NOTE, tx.recipient)], apply=_apply,
                 to_json=_to_json)  # fmt: skip


@contextmanager
def note_kind_registered() -> Iterator[None]:
    """The registry and the namespace table with "note" added, for the duration."""
    with mock.patch.dict(kinds_module.KINDS, {NOTE: NOTE_KIND}), \
            mock.patch.dict(state_module.NAMESPACES, {NS_NOTE: "note"}):
        yield


def note(key: bytes, text: bytes, serial: int = 0) -> Transaction:
    return Transaction(NOTE, key, serial, payload=text)
