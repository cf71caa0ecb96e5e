"""The governance records (namespaces 0x31-0x35) and their canonical encodings (integers
little-endian; proposal ids big-endian in keys so they sort in order).

    proposal           0x31 | id u32 BE -> Proposal
    vote               0x32 | id u32 BE | voter 20 | validator 20 -> option u8 | weight u64
    validator snapshot 0x33 | id u32 BE | validator 20 -> active u8 | tokens u64 | shares u64 |
                                                         overridden u64
    delegation snapshot 0x34 | id u32 BE | delegator 20 | validator 20 -> shares u64
    governance         0x35 | b"governance" -> next id u32 | held u64 | burned u64 |
                              count u8 | open ids u32 x count | count u8 | voting ids u32 x count
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from coinium.core.codec import Reader

GOVERNANCE_KEY = b"governance"
DEPOSIT, VOTING, PASSED, EXECUTED, REJECTED, VETOED, EXPIRED = range(7)
STATUS_NAMES = ("deposit", "voting", "passed", "executed", "rejected", "vetoed", "expired")
YES, NO, ABSTAIN, VETO = range(4)
OPTION_NAMES = ("yes", "no", "abstain", "veto")
MAX_OPEN = 16  # proposals in their deposit, voting or timelock period at once
MAX_DEPOSITORS = 32
MAX_CHANGES = 8
MAX_TITLE = 140


def proposal_key(proposal_id: int) -> bytes:
    return struct.pack(">I", proposal_id)


@dataclass(frozen=True, slots=True)
class Proposal:
    proposer: bytes  # account id
    status: int
    submit_height: int
    deposit_end: int  # the height at whose start an under-funded proposal expires
    voting_start: int  # 0 until the vote begins
    voting_end: int  # the height at whose start the vote is tallied
    activation: int  # the height at whose start a passed proposal's changes apply
    bonded_at_start: int  # all bonded stake when the vote began (the quorum's denominator)
    tally: tuple[int, int, int, int]  # yes, no, abstain, veto (stake)
    description_hash: bytes
    title: bytes
    changes: tuple[tuple[int, int], ...]  # (parameter number, new value)
    deposits: tuple[tuple[bytes, int], ...]  # (depositor account id, amount)

    _HEAD = struct.Struct("<20sBIIIIIQQQQQ32s")
    _CHANGE = struct.Struct("<BQ")
    _DEPOSIT = struct.Struct("<20sQ")

    @property
    def deposit(self) -> int:
        return sum(amount for _, amount in self.deposits)

    def encode(self) -> bytes:
        return b"".join((
            self._HEAD.pack(self.proposer, self.status, self.submit_height, self.deposit_end,
                            self.voting_start, self.voting_end, self.activation,
                            self.bonded_at_start, *self.tally, self.description_hash),
            bytes((len(self.title),)), self.title,
            bytes((len(self.changes),)), *(self._CHANGE.pack(*c) for c in self.changes),
            bytes((len(self.deposits),)), *(self._DEPOSIT.pack(*d) for d in self.deposits),
        ))  # fmt: skip

    @classmethod
    def decode(cls, data: bytes) -> Proposal:
        r = Reader(bytes(data), "proposal")
        head = cls._HEAD.unpack(r.fixed(cls._HEAD.size, "head"))
        title = r.fixed(r.u8("title_length"), "title")
        changes = tuple(cls._CHANGE.unpack(r.fixed(cls._CHANGE.size, "change"))
                        for _ in range(r.u8("changes")))  # fmt: skip
        deposits = tuple(cls._DEPOSIT.unpack(r.fixed(cls._DEPOSIT.size, "deposit"))
                         for _ in range(r.u8("deposits")))  # fmt: skip
        r.finish()
        return cls(*head[:8], tuple(head[8:12]), head[12], title, changes, deposits)


@dataclass(frozen=True, slots=True)
class Governance:
    next_id: int
    escrow: int  # deposits held for open proposals
    burned: int  # deposits burned, in total
    open: tuple[int, ...]  # ids of proposals not yet executed, rejected, vetoed or expired
    # ids of those in their vote: what the staking ledger checks on every stake change, so it
    # reads this one record, not each proposal
    voting: tuple[int, ...] = ()

    _HEAD = struct.Struct("<IQQ")

    def encode(self) -> bytes:
        return b"".join((self._HEAD.pack(self.next_id, self.escrow, self.burned),
                         *(bytes((len(ids),)) + b"".join(struct.pack("<I", i) for i in ids)
                           for ids in (self.open, self.voting))))  # fmt: skip

    @classmethod
    def decode(cls, data: bytes) -> Governance:
        r = Reader(bytes(data), "governance")
        head = cls._HEAD.unpack(r.fixed(cls._HEAD.size, "head"))
        ids = tuple(r.u32("id") for _ in range(r.u8("open")))
        voting = tuple(r.u32("id") for _ in range(r.u8("voting")))
        r.finish()
        return cls(*head, ids, voting)


EMPTY_GOVERNANCE = Governance(1, 0, 0, (), ())


@dataclass(frozen=True, slots=True)
class ValidatorSnapshot:
    active: int
    tokens: int
    shares: int
    overridden: int  # stake of its delegators who voted themselves (taken off its own vote)

    _FORMAT = struct.Struct("<BQQQ")

    def weight(self) -> int:
        return self.tokens if self.active else 0

    def encode(self) -> bytes:
        return self._FORMAT.pack(self.active, self.tokens, self.shares, self.overridden)

    @classmethod
    def decode(cls, data: bytes) -> ValidatorSnapshot:
        r = Reader(bytes(data), "validator_snapshot")
        fields = cls._FORMAT.unpack(r.fixed(cls._FORMAT.size, "fields"))
        r.finish()
        return cls(*fields)


VOTE = struct.Struct("<BQ")  # option, weight counted (a delegator's; a validator's is derived)
