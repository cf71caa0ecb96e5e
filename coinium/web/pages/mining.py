"""Mining: the network's and this node's hash rate, and the in-node miner's workers."""

from __future__ import annotations

from aiohttp import web

from coinium.web.pages import NavItem
from coinium.web.rpc_bridge import call
from coinium.web.server import NODE_KEY, render

routes = web.RouteTableDef()
NAV = [NavItem("Mining", "/mining", "hammer")]


@routes.get("/mining")
async def mining(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    miner = node.miner.miner if node.miner is not None else None
    context = {
        "info": await call(node, "getmininginfo"),
        "stats": miner.stats.snapshot() if miner is not None else None,
        "miner_address": node.options.miner_address,
    }
    return render(request, "mining.html", context)
