"""Staking and finality: validators, delegations, an account's stakes and rewards, the finality
checkpoints (the Cosmos SDK's staking queries, shaped as bitcoind-style methods)."""

from __future__ import annotations

from typing import Any

from coinium.chain.chainstate import ChainState
from coinium.core.staking.ledger import SHIFT, settle_validator
from coinium.core.staking.records import (
    ACTIVE,
    SLASHED,
    TOTALS_KEY,
    Delegation,
    Totals,
    Unbonding,
    Validator,
)  # fmt: skip
from coinium.core.state import NS_DELEGATION, NS_STAKING, NS_UNBONDING, NS_VALIDATOR
from coinium.rpc.args import parse_address
from coinium.rpc.encoding import Amount
from coinium.rpc.errors import RPC_INVALID_ADDRESS_OR_KEY, RpcError
from coinium.rpc.registry import Method, Param
from coinium.rpc.server import RpcContext
from coinium.rpc.shapes import address

_STATUS = {ACTIVE: "active", SLASHED: "slashed"}


def _totals(chain: ChainState) -> Totals:
    raw = chain.get_record(NS_STAKING, TOTALS_KEY)
    return Totals(0, 0, 0, 0, 0, 0) if raw is None else Totals.decode(raw)


def _validator_json(chain: ChainState, validator_id: bytes, v: Validator) -> dict[str, Any]:
    settled = settle_validator(v, _totals(chain))  # rewards earned up to the tip
    return {
        "address": address(validator_id, chain.params),
        "votingkey": v.voting_key.hex(),
        "status": _STATUS.get(v.status, "inactive"),
        "commission_bp": v.commission_bp,
        "stake": Amount(v.tokens), "stake_units": v.tokens,
        "unbonding": Amount(v.unbonding_tokens), "unbonding_units": v.unbonding_tokens,
        "commission_owed": Amount(settled.commission), "commission_owed_units": settled.commission,
        "shares": v.shares,
        "lastvoteepoch": None if v.last_vote_epoch == 0xFFFFFFFF else v.last_vote_epoch,
        "registeredheight": v.registered_height,
    }  # fmt: skip


def _list(chain: ChainState) -> list[dict[str, Any]]:
    return [_validator_json(chain, key, Validator.decode(value))
            for key, value in chain.records_with_prefix(NS_VALIDATOR)]  # fmt: skip


def _validator_of(chain: ChainState, text: str) -> tuple[bytes, Validator]:
    validator_id = parse_address(text, chain.params)
    raw = chain.get_record(NS_VALIDATOR, validator_id)
    if raw is None:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Not a validator")
    return validator_id, Validator.decode(raw)


def _delegation_json(chain: ChainState, delegator: bytes, validator_id: bytes,
                     d: Delegation) -> dict[str, Any]:  # fmt: skip
    v = settle_validator(Validator.decode(chain.get_record(NS_VALIDATOR, validator_id)),
                         _totals(chain))  # fmt: skip
    stake = d.shares * v.tokens // v.shares if v.shares else 0
    rewards = d.shares * (v.reward_per_share - d.reward_entry) >> SHIFT
    return {"delegator": address(delegator, chain.params),
            "validator": address(validator_id, chain.params),
            "shares": d.shares, "stake": Amount(stake), "stake_units": stake,
            "rewards": Amount(rewards), "rewards_units": rewards}  # fmt: skip


def _show(chain: ChainState, text: str) -> dict[str, Any]:
    validator_id, v = _validator_of(chain, text)
    out = _validator_json(chain, validator_id, v)
    out["delegations"] = [
        _delegation_json(chain, key[:20], validator_id, Delegation.decode(value))
        for key, value in chain.records_with_prefix(NS_DELEGATION) if key[20:] == validator_id
    ]  # fmt: skip
    return out


def _stakes(chain: ChainState, text: str) -> dict[str, Any]:
    account = parse_address(text, chain.params)
    delegations = [_delegation_json(chain, account, key[20:], Delegation.decode(value))
                   for key, value in chain.records_with_prefix(NS_DELEGATION, account)]
    unbonding = []
    for key, value in chain.records_with_prefix(NS_UNBONDING, account):
        v = Validator.decode(chain.get_record(NS_VALIDATOR, key[20:]))
        for release, shares in Unbonding.decode(value).entries:
            tokens = shares * v.unbonding_tokens // v.unbonding_shares if v.unbonding_shares else 0
            unbonding.append({"validator": address(key[20:], chain.params),
                              "releaseheight": release, "amount": Amount(tokens),
                              "amount_units": tokens})  # fmt: skip
    rewards = sum(d["rewards_units"] for d in delegations)
    return {"address": text, "delegations": delegations, "unbonding": unbonding,
            "rewards": Amount(rewards), "rewards_units": rewards}  # fmt: skip


def finality_fields(chain: ChainState) -> dict[str, Any]:
    """getblockchaininfo's justified and finalized checkpoints (genesis until stake is bonded)."""
    f = chain.finality()
    interval = chain.params.staking.checkpoint_interval
    genesis = chain.main_chain[0]
    justified = (0, genesis) if f is None else (f.justified.epoch * interval, f.justified.hash)
    finalized = chain.finalized_block()
    return {"justifiedheight": justified[0], "justifiedhash": justified[1].hex(),
            "finalizedheight": finalized[0], "finalizedhash": finalized[1].hex()}  # fmt: skip


async def listvalidators(ctx: RpcContext) -> list[dict[str, Any]]:
    return await ctx.on_chain(_list)


async def getvalidator(ctx: RpcContext, address: str) -> dict[str, Any]:
    return await ctx.on_chain(_show, address)


async def getstakes(ctx: RpcContext, address: str) -> dict[str, Any]:
    return await ctx.on_chain(_stakes, address)


async def getfinality(ctx: RpcContext) -> dict[str, Any]:
    def read(chain: ChainState) -> dict[str, Any]:
        out = finality_fields(chain)
        f = chain.finality()
        totals = _totals(chain)
        out.update({"checkpointinterval": chain.params.staking.checkpoint_interval,
                    "bonded": Amount(totals.bonded), "bonded_units": totals.bonded,
                    "burned_units": totals.burned})  # fmt: skip
        if f is not None:
            out.update({"epoch": f.current.epoch, "target": f.current.hash.hex(),
                        "source": f.source.hash.hex(), "sourceepoch": f.source.epoch,
                        "tally_units": f.tally, "idleepochs": f.idle_epochs})  # fmt: skip
        return out

    return await ctx.on_chain(read)


async def getvalidatorclient(ctx: RpcContext) -> dict[str, Any] | None:
    client = getattr(ctx.node, "validator", None)
    return None if client is None else client.status()


_ADDRESS = Param("address", "string", "the account's address")
METHODS = [
    Method("listvalidators", "staking", listvalidators,
           "Every registered validator: its stake, status, commission and voting key.",
           '[ { "address", "votingkey", "status", "commission_bp", "stake", "unbonding", '
           '"commission_owed", "shares", "lastvoteepoch", "registeredheight" }, ... ]'),
    Method("getvalidator", "staking", getvalidator,
           "One validator with its delegations (stake and unpaid rewards of each).",
           'the listvalidators object plus "delegations" : [ { "delegator", "validator", '
           '"shares", "stake", "rewards" }, ... ]', (_ADDRESS,)),
    Method("getstakes", "staking", getstakes,
           "An account's delegations, pending unbondings and unpaid rewards.",
           '{ "address", "delegations" : [...], "unbonding" : [ { "validator", '
           '"releaseheight", "amount" } ], "rewards" }', (_ADDRESS,)),
    Method("getfinality", "staking", getfinality,
           "The Casper FFG state after the tip: justified and finalized checkpoints, the "
           "current epoch's target, source and tally, the bonded and burned stake.",
           '{ "justifiedheight", "justifiedhash", "finalizedheight", "finalizedhash", '
           '"checkpointinterval", "bonded", "epoch", "target", "source", "tally_units", ... }'),
    Method("getvalidatorclient", "staking", getvalidatorclient,
           "The validator client of `coinium node --validator` (null without one): its "
           "validator, voting key, votes sent, the last vote it signed, and why it stopped "
           "voting if it did (another node using its key).",
           '{ "validator", "votingkey", "votes_sent", "stopped", "last_error", "last_signed" }',
           needs_chain=False),
]
