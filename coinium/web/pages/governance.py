"""Governance: proposals with their status, live stake-weighted tallies and deadlines; one
proposal with its votes and deposits; the governed parameter table with each value's pending
change (a passed proposal waiting for its activation height)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from coinium.core.governance.records import STATUS_NAMES
from coinium.rpc.errors import RpcError
from coinium.web.page_args import bad, missing
from coinium.web.pages import NavItem
from coinium.web.rpc_bridge import call
from coinium.web.server import NODE_KEY, render

routes = web.RouteTableDef()
NAV = [NavItem("Governance", "/governance", "landmark")]
MAX_PROPOSAL_ID = (1 << 32) - 1


def deadline(height: int | None, tip: int, spacing: int) -> dict[str, Any] | None:
    """A deadline height with the blocks left to it and about how long that is."""
    if not height:
        return None
    left = height - tip
    return {"height": height, "left": left, "seconds": max(left, 0) * spacing}


def pending_changes(proposals: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Parameter name -> the changes passed proposals will make at their activation heights."""
    pending: dict[str, list[dict[str, Any]]] = {}
    for p in proposals:
        if p["status"] != "passed":
            continue
        for change in p["changes"]:
            pending.setdefault(change["parameter"], []).append(
                {"value": change["value"], "height": p["activationheight"], "proposal": p["id"]})
    return pending


def with_deadlines(p: dict[str, Any], tip: int, spacing: int) -> dict[str, Any]:
    p["deposit_deadline"] = deadline(p["depositend"] if p["status"] == "deposit" else None,
                                     tip, spacing)  # fmt: skip
    p["voting_deadline"] = deadline(p["votingend"] if p["status"] == "voting" else None,
                                    tip, spacing)  # fmt: skip
    p["activation"] = deadline(p["activationheight"] if p["status"] == "passed" else None,
                               tip, spacing)  # fmt: skip
    return p


@routes.get("/governance")
async def governance(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    status = request.query.get("status", "")
    if status and status not in STATUS_NAMES:
        raise bad(f"'status' is one of {', '.join(STATUS_NAMES)}, not {status[:40]!r}.")
    tip, spacing = node.chain.height, node.params.target_spacing
    proposals = await call(node, "listproposals")
    counts = dict.fromkeys(STATUS_NAMES, 0)
    for p in proposals:
        counts[p["status"]] += 1
    shown = [with_deadlines(p, tip, spacing) for p in reversed(proposals)
             if not status or p["status"] == status]  # fmt: skip
    context = {
        "proposals": shown,
        "status": status,
        "counts": counts,
        "params": await call(node, "getconsensusparams"),
        "pending": pending_changes(proposals),
        "tip": tip,
    }
    return render(request, "governance.html", context)


@routes.get("/proposal/{id}")
async def proposal(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    text = request.match_info["id"]
    if not (text.isdigit() and len(text) <= 10 and 0 < int(text) <= MAX_PROPOSAL_ID):
        raise bad(f"A proposal id is a number from 1 to {MAX_PROPOSAL_ID}, not {text[:40]!r}.")
    proposal_id = int(text)
    try:
        shown = await call(node, "getproposal", proposal_id)
    except RpcError as exc:  # the id is in range (checked above): the proposal does not exist
        raise missing(f"There is no proposal {proposal_id} ({exc.message}).") from None
    return render(request, "proposal.html", {
        "p": with_deadlines(shown, node.chain.height, node.params.target_spacing),
        "tip": node.chain.height})  # fmt: skip
