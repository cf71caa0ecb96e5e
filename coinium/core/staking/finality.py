"""Casper FFG on the chain's state: checkpoints, the vote tally, justification and finality.

Checkpoint e is the block at height ``e * N`` (N = ``checkpoint_interval``; genesis is checkpoint
0, justified and finalized from the start). Its votes are carried by blocks ``e*N + 1`` to
``(e+1)*N`` (epoch e); the first of them records checkpoint e (its parent) as the epoch's target.

A vote (source, target) *counts* when its validator is ACTIVE, it is signed by that validator's
voting key, the target is the epoch's checkpoint, the source is the last checkpoint justified
when the epoch began, and the validator has not voted in this epoch yet. Its weight is the
validator's stake when the epoch began. When the counted weight reaches 2/3 of all bonded stake
at the epoch's start, the target is justified; when the source is the checkpoint of the epoch
just before, the source is finalized too.

Inactivity rule: after ``inactivity_epochs`` epochs in a row whose counted votes fell short of 2/3
of all bonded stake (more than 1/3 of the stake offline), the threshold becomes 2/3 of the stake
that voted in the previous epoch, so the online validators justify and finalize again. It returns
to all bonded stake after the first epoch whose votes reach 2/3 of all of it (the offline stake is
back). Safety then rests on the online stake alone, as with Ethereum's inactivity leak.
"""

from __future__ import annotations

from coinium.core.governance import table
from coinium.core.staking import ledger
from coinium.core.staking.records import (
    ACTIVE,
    FINALITY_KEY,
    NO_VOTE,
    Checkpoint,
    Finality,
    Validator,
)  # fmt: skip
from coinium.core.state import NS_STAKING, BlockState


def finality(state: BlockState) -> Finality | None:
    raw = state.peek(NS_STAKING, FINALITY_KEY)
    return None if raw is None else Finality.decode(raw)


def begin_block(state: BlockState) -> None:
    """At the first block of each epoch: the new target, the source its votes must name."""
    ctx = state.context
    interval = ctx.params.staking.checkpoint_interval
    height = ctx.height
    if height == 0 or (height - 1) % interval:
        return
    epoch = ledger.epoch_of(height, interval)
    target = Checkpoint(epoch, ctx.prev_hash)
    f = finality(state)
    if f is None:
        # Finality starts at the first epoch with bonded stake; until then genesis is the
        # justified and finalized checkpoint, and a chain without validators is pure work.
        if ledger.totals(state).bonded == 0:
            return
        genesis = Checkpoint(0, ctx.params.genesis_hash)
        f = Finality(target, genesis, genesis, genesis, 0, 0, 0)
    else:
        bonded = ledger.totals(state).weight(f.current.epoch)
        idle = 0 if bonded and 3 * f.tally >= 2 * bonded else f.idle_epochs + 1
        f = Finality(target, f.justified, f.justified, f.finalized, 0, f.tally, idle)
    state.put(NS_STAKING, FINALITY_KEY, f.encode())


def threshold_base(f: Finality, bonded_at_start: int, inactivity_epochs: int) -> int:
    """The stake a tally is measured against (see the inactivity rule above)."""
    if f.idle_epochs >= inactivity_epochs and f.last_tally:
        return min(f.last_tally, bonded_at_start)
    return bonded_at_start


def vote_problem(state: BlockState, validator_id: bytes, voting_key: bytes,
                 source: Checkpoint, target: Checkpoint) -> tuple[str, str] | None:
    """Why a vote would not count on this state, as (reason, detail), or None: what the mempool
    and the P2P vote intake refuse (a vote that cannot count only wastes space)."""
    v = ledger.validator(state, validator_id)
    if v is None or v.status != ACTIVE:
        return "bad-vote-validator", "no active validator by that id"
    if v.voting_key != voting_key:
        return "bad-vote-validator", "not signed by the validator's voting key"
    f = finality(state)
    if f is None or target.epoch > f.current.epoch:
        return "bad-vote-future", "the target checkpoint is not known yet"
    if target != f.current:
        return "bad-vote-checkpoint", f"the target is not epoch {f.current.epoch}'s checkpoint"
    if source != f.source:
        return "bad-vote-source", "the source is not the last justified checkpoint"
    if v.last_vote_epoch != NO_VOTE and v.last_vote_epoch >= target.epoch:
        return "bad-vote-duplicate", "the validator has voted in this epoch already"
    if v.weight(target.epoch) == 0:
        return "bad-vote-validator", "the validator has no stake in this epoch"
    return None


def count_vote(state: BlockState, validator_id: bytes, voting_key: bytes,
               source: Checkpoint, target: Checkpoint) -> bool:
    """Count one vote carried by the block; False (and no change) when it does not count."""
    f = finality(state)
    if f is None or target != f.current or source != f.source:
        return False
    v = ledger.validator(state, validator_id)
    if v is None or v.status != ACTIVE or v.voting_key != voting_key:
        return False
    epoch = target.epoch
    if v.last_vote_epoch != NO_VOTE and v.last_vote_epoch >= epoch:
        return False
    weight = v.weight(epoch)
    if weight == 0:
        return False
    ledger.put_validator(state, validator_id, Validator(
        v.voting_key, v.commission_bp, v.status, v.tokens, v.shares, v.reward_entry,
        v.reward_per_share, v.commission, v.unbonding_tokens, v.unbonding_shares,
        v.snapshot_epoch, v.snapshot_tokens, epoch, v.registered_height))  # fmt: skip
    tally = f.tally + weight
    justified, finalized = f.justified, f.finalized
    base = threshold_base(f, ledger.totals(state).weight(epoch),
                          table.value(state, "inactivity_epochs"))
    if justified != target and base and 3 * tally >= 2 * base:
        justified = target
        if source.epoch + 1 == target.epoch:
            finalized = source
    state.put(NS_STAKING, FINALITY_KEY, Finality(f.current, f.source, justified, finalized, tally,
                                                 f.last_tally, f.idle_epochs).encode())
    return True
