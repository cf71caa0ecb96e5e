"""The staking and finality records (namespaces 0x10-0x13) and their canonical encodings.

All integers little-endian except the reward accumulators, which are 256-bit unsigned integers
written big-endian in 32 bytes (they are amounts scaled by 2**64 and only ever grow).

    validator  0x10 | validator id 20 -> Validator
    delegation 0x11 | delegator id 20 | validator id 20 -> Delegation
    unbonding  0x12 | delegator id 20 | validator id 20 -> Unbonding (pending entries)
    staking    0x13 | b"totals" -> Totals ; 0x13 | b"finality" -> Finality
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from coinium.core.codec import DecodeError, Reader

__all__ = ["ACTIVE", "SLASHED", "INACTIVE", "Checkpoint", "Delegation", "Finality", "Totals",
           "Unbonding", "Validator", "replace"]  # fmt: skip

ACTIVE, SLASHED, INACTIVE = 0, 1, 2  # a validator's status: only ACTIVE stake votes and earns
TOTALS_KEY = b"totals"
FINALITY_KEY = b"finality"
NO_VOTE = 0xFFFFFFFF  # last_vote_epoch before the first counted vote


def _u256(r: Reader, what: str) -> int:
    return int.from_bytes(r.fixed(32, what), "big")


def _b256(value: int) -> bytes:
    return value.to_bytes(32, "big")


@dataclass(frozen=True, slots=True)
class Validator:
    voting_key: bytes  # Ed25519 public key that signs its votes
    commission_bp: int  # share of its stake's rewards it keeps before its delegators'
    status: int
    tokens: int  # bonded stake (its own and its delegators'), what its shares are worth
    shares: int  # delegation shares outstanding
    reward_entry: int  # Totals.reward_per_token when its rewards were last settled
    reward_per_share: int  # accumulated delegator rewards per share (scaled by 2**64)
    commission: int  # commission earned, not yet paid to the operator
    unbonding_tokens: int  # stake unbonding from it, still slashable
    unbonding_shares: int
    snapshot_epoch: int  # epoch whose starting stake `snapshot_tokens` holds
    snapshot_tokens: int
    last_vote_epoch: int  # target epoch of its last counted vote (NO_VOTE before any)
    registered_height: int

    _HEAD = struct.Struct("<32sHBQQ")
    _TAIL = struct.Struct("<QQQIQII")
    _ALL = struct.Struct("<32sHBQQ32s32sQQQIQII")  # the whole record, for decoding in one call

    def weight(self, epoch: int) -> int:
        """Its voting weight in ``epoch``: its bonded stake when the epoch began."""
        if self.status != ACTIVE:
            return 0
        return self.snapshot_tokens if self.snapshot_epoch == epoch else self.tokens

    def encode(self) -> bytes:
        return b"".join((
            self._HEAD.pack(self.voting_key, self.commission_bp, self.status, self.tokens,
                            self.shares),
            _b256(self.reward_entry), _b256(self.reward_per_share),
            self._TAIL.pack(self.commission, self.unbonding_tokens, self.unbonding_shares,
                            self.snapshot_epoch, self.snapshot_tokens, self.last_vote_epoch,
                            self.registered_height),
        ))  # fmt: skip

    @classmethod
    def decode(cls, data: bytes) -> Validator:
        if len(data) != cls._ALL.size:
            raise DecodeError("validator", 0, f"{len(data)} bytes, a validator is "
                              f"{cls._ALL.size}")  # fmt: skip
        (key, commission, status, tokens, shares, entry, per_share, *tail) = cls._ALL.unpack(data)
        return cls(key, commission, status, tokens, shares, int.from_bytes(entry, "big"),
                   int.from_bytes(per_share, "big"), *tail)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Delegation:
    shares: int
    reward_entry: int  # the validator's reward_per_share when last settled

    _HEAD = struct.Struct("<Q")

    def encode(self) -> bytes:
        return self._HEAD.pack(self.shares) + _b256(self.reward_entry)

    @classmethod
    def decode(cls, data: bytes) -> Delegation:
        r = Reader(data, "delegation")
        shares = r.u64("shares")
        entry = _u256(r, "reward_entry")
        r.finish()
        return cls(shares, entry)


@dataclass(frozen=True, slots=True)
class Unbonding:
    """Pending unbondings of one delegator from one validator: (release height, shares of the
    validator's unbonding pool), oldest first."""

    entries: tuple[tuple[int, int], ...]

    _ENTRY = struct.Struct("<IQ")

    def encode(self) -> bytes:
        return bytes((len(self.entries),)) + b"".join(self._ENTRY.pack(*e) for e in self.entries)

    @classmethod
    def decode(cls, data: bytes) -> Unbonding:
        r = Reader(data, "unbonding")
        count = r.u8("count")
        entries = tuple(cls._ENTRY.unpack(r.fixed(cls._ENTRY.size, "entry"))
                        for _ in range(count))  # fmt: skip
        r.finish()
        return cls(entries)


@dataclass(frozen=True, slots=True)
class Totals:
    bonded: int  # stake of ACTIVE validators: what votes are measured against
    snapshot_epoch: int
    snapshot_bonded: int  # `bonded` when `snapshot_epoch` began
    reward_per_token: int  # rewards paid per bonded unit since the start (scaled by 2**64)
    reward_pool: int  # rewards issued and not yet paid out (rounding dust stays here)
    burned: int  # stake destroyed by slashing, in total

    _HEAD = struct.Struct("<QIQ")
    _TAIL = struct.Struct("<QQ")

    def weight(self, epoch: int) -> int:
        return self.snapshot_bonded if self.snapshot_epoch == epoch else self.bonded

    def encode(self) -> bytes:
        return self._HEAD.pack(self.bonded, self.snapshot_epoch, self.snapshot_bonded) \
            + _b256(self.reward_per_token) + self._TAIL.pack(self.reward_pool, self.burned)

    _ALL = struct.Struct("<QIQ32sQQ")

    @classmethod
    def decode(cls, data: bytes) -> Totals:
        if len(data) != cls._ALL.size:
            raise DecodeError("totals", 0, f"{len(data)} bytes, the record is {cls._ALL.size}")
        bonded, epoch, at_start, per_token, pool, burned = cls._ALL.unpack(data)
        return cls(bonded, epoch, at_start, int.from_bytes(per_token, "big"), pool, burned)


EMPTY_TOTALS = Totals(0, 0, 0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    epoch: int
    hash: bytes

    def encode(self) -> bytes:
        return struct.pack("<I", self.epoch) + self.hash


@dataclass(frozen=True, slots=True)
class Finality:
    """Casper FFG state after a block: the current epoch's checkpoint (the target of its votes),
    the source every vote of this epoch must name (the last justified checkpoint when the epoch
    began), the last justified and finalized checkpoints, and the current epoch's tally."""

    current: Checkpoint
    source: Checkpoint
    justified: Checkpoint
    finalized: Checkpoint
    tally: int  # stake (epoch weights) of the counted votes for `current`
    last_tally: int  # the previous epoch's final tally (the inactivity rule's denominator)
    idle_epochs: int  # consecutive epochs whose votes fell short of 2/3 of all bonded stake

    _LAYOUT = struct.Struct("<I32sI32sI32sI32sQQI")

    def encode(self) -> bytes:
        c, s, j, f = self.current, self.source, self.justified, self.finalized
        return self._LAYOUT.pack(c.epoch, c.hash, s.epoch, s.hash, j.epoch, j.hash, f.epoch,
                                 f.hash, self.tally, self.last_tally, self.idle_epochs)

    @classmethod
    def decode(cls, data: bytes) -> Finality:
        if len(data) != cls._LAYOUT.size:
            raise DecodeError("finality", 0, f"{len(data)} bytes, the record is "
                              f"{cls._LAYOUT.size}")  # fmt: skip
        v = cls._LAYOUT.unpack(data)
        return cls(Checkpoint(v[0], v[1]), Checkpoint(v[2], v[3]), Checkpoint(v[4], v[5]),
                   Checkpoint(v[6], v[7]), v[8], v[9], v[10])

