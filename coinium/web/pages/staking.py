"""Staking and finality: the finality checkpoints, the validators (stake, commission, status,
delegations), recent slashings, and the delegations of one address."""

from __future__ import annotations

from aiohttp import web

from coinium.web.chain_view import slashings
from coinium.web.page_args import address_arg, lookup
from coinium.web.pages import NavItem
from coinium.web.rpc_bridge import call
from coinium.web.server import NODE_KEY, render

routes = web.RouteTableDef()
NAV = [NavItem("Staking", "/staking", "shield-halved")]
SLASHING_ROWS = 20


@routes.get("/staking")
async def staking(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    finality = await call(node, "getfinality")
    validators = await call(node, "listvalidators")
    validators.sort(key=lambda v: v["stake_units"], reverse=True)
    context = {
        "finality": finality,
        "tip": node.chain.height,
        "validators": validators,
        "bonded_units": sum(v["stake_units"] for v in validators if v["status"] == "active"),
        "slashings": await node.chain_call(slashings, node.chain, SLASHING_ROWS),
    }
    return render(request, "staking.html", context)


@routes.get("/validator/{address}")
async def validator(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    address = address_arg(node, request.match_info["address"])
    shown = await lookup(node, "getvalidator", address)
    return render(request, "validator.html", {"v": shown})


@routes.get("/staking/address/{address}")
async def stakes(request: web.Request) -> web.Response:
    """An address's delegations, pending unbondings and unpaid rewards (getstakes)."""
    node = request.app[NODE_KEY]
    address = address_arg(node, request.match_info["address"])
    shown = await call(node, "getstakes", address)
    return render(request, "stakes.html", {"stakes": shown, "tip": node.chain.height})


@routes.get("/staking/lookup")
async def stakes_lookup(request: web.Request) -> web.Response:
    """The staking page's address form."""
    node = request.app[NODE_KEY]
    address = address_arg(node, request.query.get("address", "").strip()[:200])
    raise web.HTTPFound(f"/staking/address/{address}")
