"""VOTE (kind 21): a Casper FFG vote (source checkpoint, target checkpoint) of one validator.

Kind data, 72 bytes: source epoch u32 | source hash 32 | target epoch u32 | target hash 32.
The sender is the validator's voting key (the fee and nonce are that key's account's); the
validator field names the validator. The transaction's signature is the vote's signature, checked
with every other signature of the block in `kernels.verify_batch`.

A vote that does not count (stale epoch, wrong source, a repeat, a non-validator) is still a valid
transaction that pays its fee: see `coinium.core.staking.finality` for when it counts.
"""

from __future__ import annotations

import struct

from coinium.core.errors import TransactionError
from coinium.core.kinds.staked import make_kind
from coinium.core.staking import finality
from coinium.core.staking.records import Checkpoint

NUMBER = 21
DATA = struct.Struct("<I32sI32s")


def checkpoints(data: bytes) -> tuple[Checkpoint, Checkpoint]:
    source_epoch, source_hash, target_epoch, target_hash = DATA.unpack(data)
    return Checkpoint(source_epoch, source_hash), Checkpoint(target_epoch, target_hash)


def encode_data(source: Checkpoint, target: Checkpoint) -> bytes:
    return DATA.pack(source.epoch, source.hash, target.epoch, target.hash)


def _check(tx) -> None:
    source, target = checkpoints(tx.payload)
    if source.epoch >= target.epoch:
        raise TransactionError("bad-vote-epochs", "a vote's source precedes its target",
                               txid=tx.txid)  # fmt: skip


def _effect(tx, sender_id: bytes, state) -> None:
    source, target = checkpoints(tx.payload)
    finality.count_vote(state, tx.recipient, tx.sender, source, target)


def _json(data: bytes) -> dict:
    source, target = checkpoints(data)
    return {"source": {"epoch": source.epoch, "hash": source.hash.hex()},
            "target": {"epoch": target.epoch, "hash": target.hash.hex()}}  # fmt: skip


KIND = make_kind(number=NUMBER, name="vote", data_size=DATA.size, effect=_effect,
                 check_data=_check, data_json=_json)
