"""Slashing protection: the votes this datadir has signed, per voting key, in LMDB.

Before a vote is signed it must pass `check`, and it is written (and synced) before it leaves
the process, so a crash between signing and sending can never lead to a second, conflicting vote.
The rule is the minimal one of EIP-3076: a new vote's target epoch must be above every target
signed before (no double vote) and its source epoch at least every source signed before (no
surround vote, neither surrounding nor surrounded). Record per key (namespace-free LMDB file
``validator.lmdb``): max source epoch u32 | max target epoch u32 | count u32, and each signed
vote's txid under ``key || target epoch`` for the doppelganger check.
"""

from __future__ import annotations

import struct
from pathlib import Path

import lmdb

_HEAD = struct.Struct("<III")
_NONE = 0xFFFFFFFF


class ProtectionError(Exception):
    """Signing this vote could make it conflict with one signed before."""


class SlashingProtection:
    def __init__(self, datadir: Path):
        self.env = lmdb.open(str(datadir / "validator.lmdb"), map_size=64 << 20, max_dbs=2,
                             sync=True, subdir=True)  # fmt: skip
        self.heads = self.env.open_db(b"heads")
        self.votes = self.env.open_db(b"votes")

    def close(self) -> None:
        self.env.close()

    def last(self, voting_key: bytes) -> tuple[int, int] | None:
        """(max source epoch, max target epoch) signed with this key, or None."""
        with self.env.begin(db=self.heads) as txn:
            raw = txn.get(voting_key)
        if raw is None:
            return None
        source, target, _ = _HEAD.unpack(raw)
        return source, target

    def signed(self, voting_key: bytes, target_epoch: int) -> bytes | None:
        """The txid of the vote this datadir signed for that target epoch, if any."""
        with self.env.begin(db=self.votes) as txn:
            raw = txn.get(voting_key + struct.pack(">I", target_epoch))
        return None if raw is None else bytes(raw)

    def check(self, voting_key: bytes, source_epoch: int, target_epoch: int) -> None:
        last = self.last(voting_key)
        if last is None:
            return
        max_source, max_target = last
        if target_epoch <= max_target:
            raise ProtectionError(f"a vote for target epoch {max_target} was signed already "
                                  f"(this one targets {target_epoch})")  # fmt: skip
        if source_epoch < max_source:
            raise ProtectionError(f"source epoch {source_epoch} is older than {max_source}, "
                                  "signed before (a surround vote)")  # fmt: skip

    def record(self, voting_key: bytes, source_epoch: int, target_epoch: int,
               txid: bytes) -> None:  # fmt: skip
        """Check, then record a vote about to be signed (durable before this returns)."""
        with self.env.begin(write=True) as txn:
            raw = txn.get(voting_key, db=self.heads)
            if raw is not None:
                max_source, max_target, count = _HEAD.unpack(raw)
                if target_epoch <= max_target or source_epoch < max_source:
                    raise ProtectionError("conflicts with a vote signed before")
            else:
                max_source, max_target, count = 0, 0, 0
            txn.put(voting_key, _HEAD.pack(max(max_source, source_epoch),
                                           max(max_target, target_epoch), count + 1),
                    db=self.heads)  # fmt: skip
            txn.put(voting_key + struct.pack(">I", target_epoch), txid, db=self.votes)
