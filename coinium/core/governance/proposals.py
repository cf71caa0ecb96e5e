"""Proposals on a block's working state: submission, deposits, stake-weighted votes, the tally
and the execution of passed changes at a fixed height. Integers only.

Lifecycle (each step at the *start* of a block, before its transactions, in proposal id order):
a proposal in its deposit period goes to a vote at the first block after its deposits reach
``gov_min_deposit`` (its weights are the bonded stake at that block's start), or expires at
``deposit_end`` (deposits burned); a vote is tallied at ``voting_end``; a passed proposal's
changes apply at ``activation``, the start of a block at a checkpoint height at least
``gov_timelock_checkpoints`` checkpoints after the one following the tally, so a reorg across that
height undoes them with the block.

Voting power is stake when the vote began. Nothing iterates over all validators: the first time
a validator or a delegation changes during a vote (`before_validator_change`,
`before_delegation_change`, called by the staking ledger) its value from before the change -
unchanged since the vote began - is kept as that proposal's snapshot; until then the record
itself holds it. Stake bonded later has a zero snapshot, hence no weight.

Tally (kept live): a validator's vote counts its snapshot stake less the stake of its delegators
who voted themselves; a delegator's vote counts its own snapshot stake with that validator. A
later vote of the same voter replaces the earlier one (as in the Cosmos SDK).
"""

from __future__ import annotations

import struct
from dataclasses import replace

from coinium.core.account import Account
from coinium.core.errors import BlockError
from coinium.core.governance import table
from coinium.core.governance.records import (
    ABSTAIN,
    DEPOSIT,
    EMPTY_GOVERNANCE,
    EXECUTED,
    EXPIRED,
    GOVERNANCE_KEY,
    MAX_DEPOSITORS,
    MAX_OPEN,
    NO,
    PASSED,
    REJECTED,
    VETO,
    VETOED,
    VOTE,
    VOTING,
    YES,
    Governance,
    Proposal,
    ValidatorSnapshot,
    proposal_key,
)  # fmt: skip
from coinium.core.staking.records import ACTIVE, TOTALS_KEY, Delegation, Totals, Validator
from coinium.core.state import (
    NS_DELEGATION,
    NS_GOV_DELEGATION_SNAPSHOT,
    NS_GOV_VALIDATOR_SNAPSHOT,
    NS_GOV_VOTE,
    NS_GOVERNANCE,
    NS_PROPOSAL,
    NS_STAKING,
    NS_VALIDATOR,
    BlockState,
)  # fmt: skip
from coinium.core.units import MAX_MONEY

BP = 10_000
_SHARES = struct.Struct("<Q")


class GovError(BlockError):
    """A governance transaction that breaks a stateful rule (the reason starts ``bad-gov-``)."""


# --- records ----------------------------------------------------------------------------------
def governance(state: BlockState) -> Governance:
    raw = state.peek(NS_GOVERNANCE, GOVERNANCE_KEY)
    return EMPTY_GOVERNANCE if raw is None else Governance.decode(raw)


def put_governance(state: BlockState, value: Governance) -> None:
    state.put(NS_GOVERNANCE, GOVERNANCE_KEY, value.encode())


def proposal(state: BlockState, proposal_id: int) -> Proposal | None:
    raw = state.peek(NS_PROPOSAL, proposal_key(proposal_id))
    return None if raw is None else Proposal.decode(raw)


def put_proposal(state: BlockState, proposal_id: int, value: Proposal) -> None:
    state.put(NS_PROPOSAL, proposal_key(proposal_id), value.encode())


def _voting(state: BlockState) -> list[int]:
    raw = state.peek(NS_GOVERNANCE, GOVERNANCE_KEY)
    if raw is None:
        return []
    return list(Governance.decode(raw).voting)


# --- snapshots (the staking ledger calls these before it changes a record) ---------------------
def before_validator_change(state: BlockState, validator_id: bytes) -> None:
    for pid in _voting(state):
        key = proposal_key(pid) + validator_id
        if state.peek(NS_GOV_VALIDATOR_SNAPSHOT, key) is None:
            state.put(NS_GOV_VALIDATOR_SNAPSHOT, key,
                      _current_validator(state, validator_id).encode())  # fmt: skip


def before_delegation_change(state: BlockState, delegator: bytes, validator_id: bytes) -> None:
    for pid in _voting(state):
        key = proposal_key(pid) + delegator + validator_id
        if state.peek(NS_GOV_DELEGATION_SNAPSHOT, key) is None:
            raw = state.peek(NS_DELEGATION, delegator + validator_id)
            shares = 0 if raw is None else Delegation.decode(raw).shares
            state.put(NS_GOV_DELEGATION_SNAPSHOT, key, _SHARES.pack(shares))


def _current_validator(state: BlockState, validator_id: bytes) -> ValidatorSnapshot:
    raw = state.peek(NS_VALIDATOR, validator_id)
    if raw is None:
        return ValidatorSnapshot(0, 0, 0, 0)
    v = Validator.decode(raw)
    return ValidatorSnapshot(int(v.status == ACTIVE), v.tokens, v.shares, 0)


def validator_snapshot(state: BlockState, proposal_id: int, validator_id: bytes
                       ) -> ValidatorSnapshot:  # fmt: skip
    raw = state.peek(NS_GOV_VALIDATOR_SNAPSHOT, proposal_key(proposal_id) + validator_id)
    return _current_validator(state, validator_id) if raw is None \
        else ValidatorSnapshot.decode(raw)


def delegation_shares(state: BlockState, proposal_id: int, delegator: bytes,
                      validator_id: bytes) -> int | None:  # fmt: skip
    """The delegation's shares when the vote began (None: it has never existed since)."""
    raw = state.peek(NS_GOV_DELEGATION_SNAPSHOT,
                     proposal_key(proposal_id) + delegator + validator_id)  # fmt: skip
    if raw is not None:
        return _SHARES.unpack(raw)[0]
    raw = state.peek(NS_DELEGATION, delegator + validator_id)
    return None if raw is None else Delegation.decode(raw).shares


# --- transactions -----------------------------------------------------------------------------
def min_single_deposit(state: BlockState) -> int:
    """The least one deposit (a submission's or a later one) may add: a tenth of the minimum."""
    return max(table.value(state, "gov_min_deposit") // 10, 1)


def submit(state: BlockState, proposer: bytes, deposit: int, title: bytes,
           description_hash: bytes, changes: tuple[tuple[int, int], ...]) -> int:
    g = governance(state)
    if len(g.open) >= MAX_OPEN:
        raise GovError("bad-gov-full", f"{MAX_OPEN} proposals are open already")
    least = min_single_deposit(state)
    if deposit < least:
        raise GovError("bad-gov-deposit-low", f"deposit {deposit} below {least}")
    for number, new in changes:
        spec = table.BY_NUMBER[number]
        problem = table.record(state, spec.name).allows(new)
        if problem is not None:
            reason = "bad-gov-param-bounds" if "bounds" in problem else "bad-gov-param-step"
            raise GovError(reason, f"{spec.name} = {new}: {problem}")
    height = state.context.height
    p = Proposal(proposer, DEPOSIT, height, height + table.value(state, "gov_deposit_period"),
                 0, 0, 0, 0, (0, 0, 0, 0), description_hash, title, changes,
                 ((proposer, deposit),))  # fmt: skip
    put_proposal(state, g.next_id, p)
    put_governance(state, replace(g, next_id=g.next_id + 1, escrow=g.escrow + deposit,
                                  open=(*g.open, g.next_id)))  # fmt: skip
    return g.next_id


def add_deposit(state: BlockState, depositor: bytes, proposal_id: int, amount: int) -> None:
    p = proposal(state, proposal_id)
    if p is None:
        raise GovError("bad-gov-noproposal", f"no proposal {proposal_id}")
    if p.status != DEPOSIT:
        raise GovError("bad-gov-deposit-closed", f"proposal {proposal_id} is past its deposits")
    least = min_single_deposit(state)
    if amount < least:
        raise GovError("bad-gov-deposit-low", f"deposit {amount} below {least}")
    deposits = dict(p.deposits)
    if depositor not in deposits and len(deposits) >= MAX_DEPOSITORS:
        raise GovError("bad-gov-deposit-full", f"{MAX_DEPOSITORS} depositors already")
    if deposits.get(depositor, 0) + amount > MAX_MONEY:
        raise GovError("bad-gov-deposit-low", "deposit exceeds MAX_MONEY")
    deposits[depositor] = deposits.get(depositor, 0) + amount
    put_proposal(state, proposal_id, replace(p, deposits=tuple(deposits.items())))
    g = governance(state)
    put_governance(state, replace(g, escrow=g.escrow + amount))


def vote(state: BlockState, voter: bytes, validator_id: bytes, proposal_id: int,
         option: int) -> int:  # fmt: skip
    """Record ``voter``'s vote (a validator's when voter = validator, else a delegator's
    overriding its validator for its own stake); returns the stake it counts."""
    p = proposal(state, proposal_id)
    if p is None:
        raise GovError("bad-gov-noproposal", f"no proposal {proposal_id}")
    if p.status != VOTING:
        raise GovError("bad-gov-not-voting", f"proposal {proposal_id} is not in its vote")
    pk = proposal_key(proposal_id)
    snap_key = pk + validator_id
    snap = validator_snapshot(state, proposal_id, validator_id)
    if state.peek(NS_VALIDATOR, validator_id) is None and not snap.tokens:
        raise GovError("bad-gov-novalidator", f"no validator {validator_id.hex()}")
    tally = list(p.tally)
    own_key = pk + validator_id + validator_id
    if voter == validator_id:
        weight = snap.weight() - snap.overridden if snap.active else 0
        old = state.peek(NS_GOV_VOTE, own_key)
        if old is not None:
            tally[VOTE.unpack(old)[0]] -= weight
    else:
        shares = delegation_shares(state, proposal_id, voter, validator_id)
        if shares is None:
            raise GovError("bad-gov-nostake", "the voter has no stake with this validator")
        weight = shares * snap.tokens // snap.shares if snap.active and snap.shares else 0
        old = state.peek(NS_GOV_VOTE, pk + voter + validator_id)
        if old is not None:
            old_option, old_weight = VOTE.unpack(old)
            tally[old_option] -= old_weight
        else:  # the first override: its stake leaves the validator's own vote
            own = state.peek(NS_GOV_VOTE, own_key)
            if own is not None:
                tally[VOTE.unpack(own)[0]] -= weight
            state.put(NS_GOV_VALIDATOR_SNAPSHOT, snap_key,
                      replace(snap, overridden=snap.overridden + weight).encode())  # fmt: skip
    tally[option] += weight
    state.put(NS_GOV_VOTE, pk + voter + validator_id, VOTE.pack(option, weight))
    put_proposal(state, proposal_id, replace(p, tally=tuple(tally)))
    return weight


def value_at(get, height: int, name: str) -> int | None:
    """A governed value as the block at ``height`` will read it, from the records its parent
    left (``get(namespace, key)``): the table's value, or a passed proposal's that takes effect
    at ``height``. None when the state has no table. For block templates."""
    raw = get(table.NS_PARAM, name.encode())
    if raw is None:
        return None
    result = table.ParamRecord.decode(raw).value
    meta = get(NS_GOVERNANCE, GOVERNANCE_KEY)
    number = table.BY_NAME[name].number
    for pid in () if meta is None else Governance.decode(meta).open:
        p = Proposal.decode(get(NS_PROPOSAL, proposal_key(pid)))
        if p.status == PASSED and p.activation == height:
            result = dict(p.changes).get(number, result)
    return result


def statuses(get, also=()) -> dict[int, int]:
    """{id: status} of the open proposals and of the ids in ``also`` (those that exist), read
    with ``get(namespace, key)`` (for the ``proposal`` ZMQ topic)."""
    meta = get(NS_GOVERNANCE, GOVERNANCE_KEY)
    ids = set(also) | set(() if meta is None else Governance.decode(meta).open)
    result = {}
    for pid in sorted(ids):
        raw = get(NS_PROPOSAL, proposal_key(pid))
        if raw is not None:
            result[pid] = Proposal.decode(raw).status
    return result


# --- the lifecycle, at the start of each block ------------------------------------------------
def begin_block(state: BlockState) -> list[tuple[int, int]]:
    """Seed the table at genesis; move open proposals along. Returns (id, new status) of each
    proposal whose status changed (for notifications)."""
    height = state.context.height
    if height == 0:
        table.seed(state)
        return []
    raw = state.peek(NS_GOVERNANCE, GOVERNANCE_KEY)
    if raw is None:
        return []
    changed = []
    for pid in Governance.decode(raw).open:
        p = proposal(state, pid)
        assert p is not None
        status = _step(state, pid, p, height)
        if status != p.status:
            changed.append((pid, status))
    return changed


def _step(state: BlockState, pid: int, p: Proposal, height: int) -> int:
    if p.status == DEPOSIT:
        if p.deposit >= table.value(state, "gov_min_deposit"):
            raw = state.peek(NS_STAKING, TOTALS_KEY)
            bonded = 0 if raw is None else Totals.decode(raw).bonded
            p = replace(p, status=VOTING, voting_start=height, bonded_at_start=bonded,
                        voting_end=height + table.value(state, "gov_voting_period"))  # fmt: skip
            g = governance(state)
            put_governance(state, replace(g, voting=(*g.voting, pid)))
        elif height >= p.deposit_end:
            p = _close(state, pid, replace(p, status=EXPIRED), refund=False)
    elif p.status == VOTING:
        if height >= p.voting_end:
            g = governance(state)
            put_governance(state, replace(g, voting=tuple(i for i in g.voting if i != pid)))
            status = outcome(state, p)
            if status == PASSED:
                interval = state.context.params.staking.checkpoint_interval
                timelock = table.value(state, "gov_timelock_checkpoints")
                p = replace(p, status=PASSED,
                            activation=(height // interval + 1 + timelock) * interval)
                p = _settle_deposits(state, p, refund=True)
            else:
                p = _close(state, pid, replace(p, status=status), refund=status != VETOED)
    elif p.status == PASSED and height >= p.activation:
        for number, new in p.changes:
            name = table.BY_NUMBER[number].name
            state.put(table.NS_PARAM, name.encode(),
                      table.record(state, name).set(height, new).encode())  # fmt: skip
        p = _close(state, pid, replace(p, status=EXECUTED), refund=True)
    put_proposal(state, pid, p)
    return p.status


def outcome(state: BlockState, p: Proposal) -> int:
    """PASSED, REJECTED or VETOED by the tally (the Cosmos SDK's rule: a quorum of the bonded
    stake must vote; veto above its share of the votes rejects and burns; yes must exceed the
    threshold of the votes that are not abstentions)."""
    yes, no, abstain, veto = p.tally
    voted = yes + no + abstain + veto
    if p.bonded_at_start == 0 or voted * BP < table.value(state, "gov_quorum_bp") \
            * p.bonded_at_start:
        return REJECTED
    if voted == abstain:
        return REJECTED
    if veto * BP > table.value(state, "gov_veto_bp") * voted:
        return VETOED
    if yes * BP > table.value(state, "gov_threshold_bp") * (voted - abstain):
        return PASSED
    return REJECTED


def _settle_deposits(state: BlockState, p: Proposal, refund: bool) -> Proposal:
    """Refund (or burn) the deposits held for ``p``: they leave the escrow."""
    g = governance(state)
    burned = 0
    for depositor, amount in p.deposits:
        account = state.account(depositor)
        if refund and account.balance + amount <= MAX_MONEY:
            state.set_account(depositor, Account(account.balance + amount, account.nonce))
        else:  # burned (a refund that would overflow the balance is burned, never a halt)
            burned += amount
    put_governance(state, replace(g, escrow=g.escrow - p.deposit, burned=g.burned + burned))
    return p


def _close(state: BlockState, pid: int, p: Proposal, refund: bool) -> Proposal:
    if p.status != EXECUTED:  # an executed proposal's deposits went back when it passed
        p = _settle_deposits(state, p, refund)
    g = governance(state)
    put_governance(state, replace(g, open=tuple(i for i in g.open if i != pid)))
    return p


__all__ = ["ABSTAIN", "NO", "VETO", "YES", "GovError", "begin_block", "submit", "vote"]
