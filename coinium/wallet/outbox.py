"""Sends the node accepted but no block holds yet, kept beside the wallet and sent again.

The node saves its mempool only at a clean shutdown (as bitcoind), so a transaction whose txid
``send`` printed was gone after a SIGKILL, and the wallet kept no record of it. Each accepted send
is now written to ``<name>.outbox`` next to the wallet file (owner-only JSON: txid, sender, nonce,
raw transaction; all of it public once relayed, so it is not encrypted) *before* the txid is
printed. Every later ``send``, ``balance`` and ``rebroadcast`` hands each entry to the node again
(bitcoind's wallet ``ResubmitWalletTransactions``) until a block holds its nonce; ``send`` does it
first, so a new send never reuses the nonce of a lost one. Entries older than the mempool's
expiry (two weeks) are dropped, and the file holds at most ``MAX_ENTRIES``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coinium.core.transaction import Transaction
from coinium.wallet.rpc_client import RpcError

SUFFIX = ".outbox"
MAX_ENTRIES = 1000
MAX_AGE_S = 14 * 24 * 3600
MAX_FILE_BYTES = 4 << 20


@dataclass(frozen=True, slots=True)
class Sent:
    txid: str
    sender: str  # address
    nonce: int
    raw: str  # hex
    sent_at: int


@dataclass(frozen=True, slots=True)
class Resubmitted:
    resent: int  # handed to the node again (or already in its mempool)
    confirmed: int  # a block holds their nonce: dropped from the outbox
    refused: list[str]  # "<txid>: <reason>" the node refused (kept, for a later try)


def outbox_path(wallet_path: Path) -> Path:
    return wallet_path.with_suffix(SUFFIX)


def load(path: Path) -> list[Sent]:
    """The entries; a missing, unreadable or malformed file is an empty outbox."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return []
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError, RecursionError):
        return []
    entries = []
    for item in doc if isinstance(doc, list) else []:
        try:
            entry = Sent(str(item["txid"]), str(item["sender"]), int(item["nonce"]),
                         str(item["raw"]), int(item["sent_at"]))  # fmt: skip
        except (KeyError, TypeError, ValueError):
            continue
        entries.append(entry)
    return entries


def save(path: Path, entries: list[Sent]) -> None:
    now = int(time.time())
    kept = [e for e in entries if now - e.sent_at < MAX_AGE_S][-MAX_ENTRIES:]
    data = json.dumps([{"txid": e.txid, "sender": e.sender, "nonce": e.nonce, "raw": e.raw,
                        "sent_at": e.sent_at} for e in kept], indent=1).encode()  # fmt: skip
    tmp = path.with_suffix(SUFFIX + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def record(path: Path, sender: str, tx: Transaction) -> None:
    """Keep an accepted send until a block holds it."""
    entries = [e for e in load(path) if e.txid != tx.txid.hex()]
    entries.append(Sent(tx.txid.hex(), sender, tx.nonce, tx.encode().hex(), int(time.time())))
    save(path, entries)


def resubmit(path: Path, call: Callable[..., Any]) -> Resubmitted:
    """Hand every kept send to the node again; drop those whose nonce a block has used.
    ``call(method, *params)`` is the node's RPC; its errors other than a refusal propagate."""
    entries = load(path)
    if not entries:
        return Resubmitted(0, 0, [])
    kept: list[Sent] = []
    resent = confirmed = 0
    refused: list[str] = []
    nonces: dict[str, int] = {}
    for entry in sorted(entries, key=lambda e: (e.sender, e.nonce)):
        if entry.sender not in nonces:
            nonces[entry.sender] = int(call("getaccount", entry.sender)["nonce"])
        if entry.nonce < nonces[entry.sender]:
            confirmed += 1  # this send, or one that replaced it, is in a block
            continue
        kept.append(entry)
        try:
            call("sendrawtransaction", entry.raw)
            resent += 1
        except RpcError as exc:  # the node's refusal: kept for a later try
            if "already" in str(exc):
                resent += 1
            else:
                refused.append(f"{entry.txid}: {exc}")
    if confirmed or len(kept) != len(entries):
        save(path, kept)
    return Resubmitted(resent, confirmed, refused)
