"""Governance: proposals with their live tallies, and the parameter table with each value's
history (the Cosmos SDK's gov queries, shaped as bitcoind-style methods)."""

from __future__ import annotations

from typing import Any

from coinium.chain.chainstate import ChainState
from coinium.core.governance import table
from coinium.core.governance.proposals import outcome
from coinium.core.governance.records import (
    OPTION_NAMES,
    STATUS_NAMES,
    VOTE,
    VOTING,
    Proposal,
    proposal_key,
)  # fmt: skip
from coinium.core.state import NS_GOV_VOTE, NS_PARAM, NS_PROPOSAL, BlockContext, BlockState
from coinium.rpc.encoding import Amount
from coinium.rpc.errors import RPC_INVALID_PARAMETER, RpcError
from coinium.rpc.registry import Method, Param
from coinium.rpc.server import RpcContext
from coinium.rpc.shapes import address


class _TipView:
    def __init__(self, chain: ChainState):
        self.chain = chain

    def get(self, namespace: int, key: bytes) -> bytes | None:
        return self.chain.get_record(namespace, key)


def _proposal_json(chain: ChainState, proposal_id: int, p: Proposal) -> dict[str, Any]:
    yes, no, abstain, veto = p.tally
    voted = sum(p.tally)
    out: dict[str, Any] = {
        "id": proposal_id, "title": p.title.decode("utf-8", "replace"),
        "description_hash": p.description_hash.hex(), "proposer": address(p.proposer, chain.params),
        "status": STATUS_NAMES[p.status], "submitheight": p.submit_height,
        "depositend": p.deposit_end, "votingstart": p.voting_start or None,
        "votingend": p.voting_end or None, "activationheight": p.activation or None,
        "deposit": Amount(p.deposit), "deposit_units": p.deposit,
        "deposits": [{"depositor": address(d, chain.params), "amount_units": a}
                     for d, a in p.deposits],
        "changes": [{"parameter": table.BY_NUMBER[n].name, "value": v} for n, v in p.changes],
        "tally": {"yes_units": yes, "no_units": no, "abstain_units": abstain,
                  "veto_units": veto, "voted_units": voted,
                  "bonded_at_start_units": p.bonded_at_start,
                  "turnout_bp": voted * 10_000 // p.bonded_at_start if p.bonded_at_start else 0},
    }  # fmt: skip
    if p.status == VOTING:  # what the tally would say if the vote ended now
        state = BlockState(_TipView(chain), BlockContext(chain.height + 1, chain.tip.hash,
                                                         chain.params,
                                                         chain.tip.header.timestamp))  # fmt: skip
        out["tally"]["outcome_now"] = STATUS_NAMES[outcome(state, p)]
    return out


def _list(chain: ChainState, status: str | None) -> list[dict[str, Any]]:
    out = []
    for key, value in chain.records_with_prefix(NS_PROPOSAL):
        p = Proposal.decode(value)
        if status is None or STATUS_NAMES[p.status] == status:
            out.append(_proposal_json(chain, int.from_bytes(key, "big"), p))
    return out


def _show(chain: ChainState, proposal_id: int) -> dict[str, Any]:
    if not 0 < proposal_id < 1 << 32:
        raise RpcError(RPC_INVALID_PARAMETER, "proposal id out of range")
    raw = chain.get_record(NS_PROPOSAL, proposal_key(proposal_id))
    if raw is None:
        raise RpcError(RPC_INVALID_PARAMETER, f"no proposal {proposal_id}")
    out = _proposal_json(chain, proposal_id, Proposal.decode(raw))
    votes = []
    for key, value in chain.records_with_prefix(NS_GOV_VOTE, proposal_key(proposal_id)):
        option, weight = VOTE.unpack(value)
        voter, validator = key[4:24], key[24:44]
        votes.append({"voter": address(voter, chain.params),
                      "validator": address(validator, chain.params),
                      "as": "validator" if voter == validator else "delegator",
                      "option": OPTION_NAMES[option],
                      **({} if voter == validator else {"weight_units": weight})})  # fmt: skip
    out["votes"] = votes
    return out


def _params(chain: ChainState) -> list[dict[str, Any]]:
    out = []
    for spec in table.SPECS:
        raw = chain.get_record(NS_PARAM, spec.name.encode())
        if raw is None:
            continue
        r = table.ParamRecord.decode(raw)
        out.append({"number": spec.number, "name": spec.name, "type": table.TYPE_NAMES[r.type],
                    "value": r.value, "min": r.min, "max": r.max, "maxstep_bp": r.step_bp,
                    "minstep": r.min_step, "maxstep_now": r.max_step(),
                    "history": [{"height": h, "value": v} for h, v in r.history]})  # fmt: skip
    return out


async def listproposals(ctx: RpcContext, status: str | None = None) -> list[dict[str, Any]]:
    if status is not None and status not in STATUS_NAMES:
        raise RpcError(RPC_INVALID_PARAMETER, f"status is one of {', '.join(STATUS_NAMES)}")
    return await ctx.on_chain(_list, status)


async def getproposal(ctx: RpcContext, id: int) -> dict[str, Any]:  # noqa: A002 (RPC name)
    if not isinstance(id, int):
        raise RpcError(RPC_INVALID_PARAMETER, "a proposal id is an integer")
    return await ctx.on_chain(_show, id)


async def getconsensusparams(ctx: RpcContext) -> list[dict[str, Any]]:
    return await ctx.on_chain(_params)


_SHAPE = ('{ "id", "title", "description_hash", "proposer", "status", "submitheight", '
          '"depositend", "votingstart", "votingend", "activationheight", "deposit", "deposits", '
          '"changes" : [ { "parameter", "value" } ], "tally" : { "yes_units", "no_units", '
          '"abstain_units", "veto_units", "voted_units", "bonded_at_start_units", "turnout_bp", '
          '"outcome_now" } }')
METHODS = [
    Method("listproposals", "governance", listproposals,
           "Every proposal with its live tally (optionally only those of one status: deposit, "
           "voting, passed, executed, rejected, vetoed, expired).", f"[ {_SHAPE}, ... ]",
           (Param("status", "string", "only proposals of this status", None),)),
    Method("getproposal", "governance", getproposal,
           "One proposal, its live tally and every vote cast on it.",
           _SHAPE[:-1] + ', "votes" : [ { "voter", "validator", "as", "option" } ] }',
           (Param("id", "number", "the proposal id"),)),
    Method("getconsensusparams", "governance", getconsensusparams,
           "The governed consensus parameter table: each value with its type, hard bounds, "
           "largest step per proposal and history of activations.",
           '[ { "number", "name", "type", "value", "min", "max", "maxstep_bp", "minstep", '
           '"maxstep_now", "history" : [ { "height", "value" } ] }, ... ]'),
]
