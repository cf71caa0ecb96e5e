"""Stake accounting on a block's working state: validators, delegations as shares of a
validator's stake, unbonding, rewards and slashing. Integers only; no rounding creates coins.

Rewards are lazy (the F1 scheme of the Cosmos SDK, simplified): each block adds its staking share
to ``Totals.reward_per_token`` (per bonded unit, scaled by 2**64) and to ``reward_pool``; a
validator's stake earns ``tokens * (per_token - entry) >> 64`` whenever the validator is touched,
keeps its commission of it and adds the rest per delegation share; a delegation is paid its
``shares * (per_share - entry) >> 64`` when touched. Every division rounds down, so the coins paid
never exceed the coins issued: the dust stays in ``reward_pool``. Supply invariant (tested):
balances + bonded + unbonding + commission owed + reward pool + burned = every subsidy issued.

Voting weight is stake *when the epoch began*: before a validator's (or the total's) stake changes
in epoch E, the value at E's start is kept as its snapshot, so a vote's weight and the threshold
never move within an epoch.
"""

from __future__ import annotations

from dataclasses import replace

from coinium.core.account import Account
from coinium.core.errors import BlockError
from coinium.core.governance import proposals, table
from coinium.core.staking.records import (
    ACTIVE,
    EMPTY_TOTALS,
    NO_VOTE,
    SLASHED,
    TOTALS_KEY,
    Delegation,
    Totals,
    Unbonding,
    Validator,
)  # fmt: skip
from coinium.core.state import NS_DELEGATION, NS_STAKING, NS_UNBONDING, NS_VALIDATOR, BlockState
from coinium.core.units import MAX_MONEY

SHIFT = 64
BASIS_POINTS = 10_000


class StakeError(BlockError):
    """A staking transaction that breaks a stateful rule (the reason starts ``bad-stake-``)."""


def epoch_of(height: int, interval: int) -> int:
    """The epoch whose votes a block at ``height`` (>= 1) carries: blocks e*N+1 .. (e+1)*N."""
    return (height - 1) // interval


def current_epoch(state: BlockState) -> int:
    ctx = state.context
    return epoch_of(ctx.height, ctx.params.staking.checkpoint_interval)


# --- records ----------------------------------------------------------------------------------
def validator(state: BlockState, validator_id: bytes) -> Validator | None:
    raw = state.get(NS_VALIDATOR, validator_id)
    return None if raw is None else Validator.decode(raw)


def put_validator(state: BlockState, validator_id: bytes, value: Validator) -> None:
    proposals.before_validator_change(state, validator_id)  # a vote's snapshot of its stake
    state.put(NS_VALIDATOR, validator_id, value.encode())


def totals(state: BlockState) -> Totals:
    raw = state.peek(NS_STAKING, TOTALS_KEY)
    return EMPTY_TOTALS if raw is None else Totals.decode(raw)


def put_totals(state: BlockState, value: Totals) -> None:
    state.put(NS_STAKING, TOTALS_KEY, value.encode())


def put_delegation(state: BlockState, delegator: bytes, validator_id: bytes,
                   value: Delegation | None) -> None:
    proposals.before_delegation_change(state, delegator, validator_id)
    state.put(NS_DELEGATION, delegator + validator_id, None if value is None else value.encode())


def delegation(state: BlockState, delegator: bytes, validator_id: bytes) -> Delegation | None:
    raw = state.get(NS_DELEGATION, delegator + validator_id)
    return None if raw is None else Delegation.decode(raw)


def unbonding(state: BlockState, delegator: bytes, validator_id: bytes) -> Unbonding:
    raw = state.get(NS_UNBONDING, delegator + validator_id)
    return Unbonding(()) if raw is None else Unbonding.decode(raw)


def credit(state: BlockState, account_id: bytes, amount: int) -> None:
    if amount:
        account = state.account(account_id)
        if account.balance + amount > MAX_MONEY:
            raise StakeError("bad-txns-balance-overflow", "balance would exceed MAX_MONEY")
        state.set_account(account_id, Account(account.balance + amount, account.nonce))


# --- snapshots and rewards --------------------------------------------------------------------
def _snapshot_validator(v: Validator, epoch: int) -> Validator:
    if v.snapshot_epoch == epoch:
        return v
    return replace(v, snapshot_epoch=epoch, snapshot_tokens=v.tokens)


def _snapshot_totals(t: Totals, epoch: int) -> Totals:
    if t.snapshot_epoch == epoch:
        return t
    return replace(t, snapshot_epoch=epoch, snapshot_bonded=t.bonded)


def settle_validator(v: Validator, t: Totals) -> Validator:
    """Bring a validator's rewards up to ``t.reward_per_token``: commission kept, the rest per
    share. Only ACTIVE stake earns."""
    earned = 0
    if v.status == ACTIVE:
        earned = v.tokens * (t.reward_per_token - v.reward_entry) >> SHIFT
    commission = earned * v.commission_bp // BASIS_POINTS
    per_share = v.reward_per_share
    if v.shares:
        per_share += ((earned - commission) << SHIFT) // v.shares
    else:
        commission = earned  # no delegation shares (cannot happen with tokens): the operator's
    return replace(v, reward_entry=t.reward_per_token, reward_per_share=per_share,
                   commission=v.commission + commission)  # fmt: skip


def settle_delegation(state: BlockState, delegator: bytes, v: Validator,
                      d: Delegation | None, t: Totals) -> tuple[Delegation | None, Totals, int]:
    """Pay a delegation its rewards (from the pool to the delegator's balance)."""
    if d is None:
        return None, t, 0
    owed = d.shares * (v.reward_per_share - d.reward_entry) >> SHIFT
    credit(state, delegator, owed)
    return replace(d, reward_entry=v.reward_per_share), replace(t, reward_pool=t.reward_pool -
                                                                 owed), owed  # fmt: skip


def issue_rewards(state: BlockState, subsidy: int) -> int:
    """At the start of a block: the staking share of its subsidy goes to the stake bonded
    before it. Returns the share (the coinbase may claim only the rest); 0 while nothing is
    bonded, so a chain without validators pays its miners the whole subsidy."""
    t = totals(state)
    if t.bonded == 0:
        return 0
    share = subsidy * table.value(state, "reward_share_bp") // BASIS_POINTS
    if share == 0:
        return 0
    put_totals(state, replace(t, reward_per_token=t.reward_per_token
                              + (share << SHIFT) // t.bonded,
                              reward_pool=t.reward_pool + share))  # fmt: skip
    return share


def staking_share(bonded: int, subsidy: int, reward_share_bp: int) -> int:
    """What `issue_rewards` takes, from the totals before the block (for block templates)."""
    return subsidy * reward_share_bp // BASIS_POINTS if bonded else 0


# --- the staking operations -------------------------------------------------------------------
def register(state: BlockState, operator: bytes, voting_key: bytes, commission_bp: int,
             amount: int) -> None:
    least = table.value(state, "min_validator_bond")
    if validator(state, operator) is not None:
        raise StakeError("bad-stake-registered", "this account is a validator already")
    if amount < least:
        raise StakeError("bad-stake-bond-low", f"bond {amount} below the minimum {least}")
    t = totals(state)
    epoch = current_epoch(state)
    # A new validator votes from the next epoch on: its weight in this one is 0.
    v = Validator(voting_key, commission_bp, ACTIVE, 0, 0, t.reward_per_token, 0, 0, 0, 0,
                  epoch, 0, NO_VOTE, state.context.height)  # fmt: skip
    put_validator(state, operator, v)
    bond(state, operator, operator, amount)


def bond(state: BlockState, delegator: bytes, validator_id: bytes, amount: int) -> None:
    """Add ``amount`` (already taken from the delegator's balance) to a validator's stake."""
    v = validator(state, validator_id)
    if v is None:
        raise StakeError("bad-stake-novalidator", f"no validator {validator_id.hex()}")
    if v.status != ACTIVE:
        raise StakeError("bad-stake-inactive", "the validator is not active")
    if amount <= 0:
        raise StakeError("bad-stake-amount", "nothing to bond")
    epoch = current_epoch(state)
    t = totals(state)
    v = _snapshot_validator(settle_validator(v, t), epoch)
    d, t, _ = settle_delegation(state, delegator, v, delegation(state, delegator, validator_id),
                                t)  # fmt: skip
    new_shares = amount if v.shares == 0 else amount * v.shares // v.tokens
    if new_shares == 0:
        raise StakeError("bad-stake-amount", "amount buys no share of the validator's stake")
    if v.tokens + amount > MAX_MONEY:
        raise StakeError("bad-stake-amount", "stake would exceed MAX_MONEY")
    put_validator(state, validator_id, replace(v, tokens=v.tokens + amount,
                                               shares=v.shares + new_shares))  # fmt: skip
    t = _snapshot_totals(t, epoch)
    put_totals(state, replace(t, bonded=t.bonded + amount))
    held = 0 if d is None else d.shares
    put_delegation(state, delegator, validator_id,
                   Delegation(held + new_shares, v.reward_per_share))


def unbond(state: BlockState, delegator: bytes, validator_id: bytes, amount: int) -> None:
    """Move ``amount`` of the delegator's stake to the validator's unbonding pool, withdrawable
    after the unbonding period (and slashable until then)."""
    v = validator(state, validator_id)
    d = delegation(state, delegator, validator_id)
    if v is None or d is None:
        raise StakeError("bad-stake-nodelegation", "no stake with this validator")
    epoch = current_epoch(state)
    t = totals(state)
    v = _snapshot_validator(settle_validator(v, t), epoch)
    d, t, _ = settle_delegation(state, delegator, v, d, t)
    assert d is not None
    owned = d.shares * v.tokens // v.shares if v.shares else 0
    if not 0 < amount <= owned:
        raise StakeError("bad-stake-amount", f"unbond {amount}, the stake is {owned}")
    shares = -(-amount * v.shares // v.tokens)  # rounded up: the remaining shares lose nothing
    pending = unbonding(state, delegator, validator_id)
    most = table.value(state, "max_unbonding_entries")
    if len(pending.entries) >= most:
        raise StakeError("bad-stake-unbond-entries", f"{most} unbondings pending already")
    pool_shares = amount if v.unbonding_shares == 0 or v.unbonding_tokens == 0 \
        else amount * v.unbonding_shares // v.unbonding_tokens
    release = state.context.height + table.value(state, "unbonding_period")
    v = replace(v, tokens=v.tokens - amount, shares=v.shares - shares,
                unbonding_tokens=v.unbonding_tokens + amount,
                unbonding_shares=v.unbonding_shares + pool_shares)  # fmt: skip
    put_validator(state, validator_id, v)
    if v.status == ACTIVE:
        t = _snapshot_totals(t, epoch)
        t = replace(t, bonded=t.bonded - amount)
    put_totals(state, t)
    left = d.shares - shares
    put_delegation(state, delegator, validator_id, replace(d, shares=left) if left else None)
    state.put(NS_UNBONDING, delegator + validator_id,
              Unbonding((*pending.entries, (release, pool_shares))).encode())


def withdraw(state: BlockState, delegator: bytes, validator_id: bytes) -> int:
    """Pay the delegator its rewards, the operator its commission and every matured unbonding;
    returns what was paid. Refused when there is nothing at all to withdraw."""
    v = validator(state, validator_id)
    if v is None:
        raise StakeError("bad-stake-novalidator", f"no validator {validator_id.hex()}")
    t = totals(state)
    v = settle_validator(v, t)
    d, t, paid = settle_delegation(state, delegator, v, delegation(state, delegator,
                                                                   validator_id), t)
    found = d is not None
    if d is not None:
        put_delegation(state, delegator, validator_id, d)
    if delegator == validator_id and v.commission:
        credit(state, delegator, v.commission)
        t = replace(t, reward_pool=t.reward_pool - v.commission)
        paid += v.commission
        found = True
        v = replace(v, commission=0)
    pending = unbonding(state, delegator, validator_id)
    height = state.context.height
    matured = [e for e in pending.entries if e[0] <= height]
    for _, pool_shares in matured:
        tokens = pool_shares * v.unbonding_tokens // v.unbonding_shares
        v = replace(v, unbonding_tokens=v.unbonding_tokens - tokens,
                    unbonding_shares=v.unbonding_shares - pool_shares)  # fmt: skip
        credit(state, delegator, tokens)
        paid += tokens
    if matured:
        found = True
        left = tuple(e for e in pending.entries if e[0] > height)
        state.put(NS_UNBONDING, delegator + validator_id,
                  Unbonding(left).encode() if left else None)
    if not found:
        raise StakeError("bad-stake-nothing", "nothing to withdraw from this validator")
    put_validator(state, validator_id, v)
    put_totals(state, t)
    return paid


def slash(state: BlockState, validator_id: bytes, fraction_bp: int, reporter: bytes) -> int:
    """Burn ``fraction_bp`` of a validator's bonded and unbonding stake (its delegators' with
    it: they hold shares of both), pay the reporter its share of the burn, eject the validator.
    Returns the amount taken from the stake."""
    v = validator(state, validator_id)
    if v is None:
        raise StakeError("bad-slash-novalidator", f"no validator {validator_id.hex()}")
    if v.status == SLASHED:
        raise StakeError("bad-slash-duplicate", "this validator was slashed already")
    epoch = current_epoch(state)
    t = totals(state)
    v = _snapshot_validator(settle_validator(v, t), epoch)
    from_bonded = v.tokens * fraction_bp // BASIS_POINTS
    from_unbonding = v.unbonding_tokens * fraction_bp // BASIS_POINTS
    taken = from_bonded + from_unbonding
    reward = taken * table.value(state, "reporter_reward_bp") // BASIS_POINTS
    if v.status == ACTIVE:  # ejected: its stake leaves the bonded total
        t = _snapshot_totals(t, epoch)
        t = replace(t, bonded=t.bonded - v.tokens)
    put_totals(state, replace(t, burned=t.burned + taken - reward))
    put_validator(state, validator_id, replace(
        v, status=SLASHED, tokens=v.tokens - from_bonded,
        unbonding_tokens=v.unbonding_tokens - from_unbonding))  # fmt: skip
    credit(state, reporter, reward)
    return taken
