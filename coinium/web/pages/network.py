"""Network: connected peers (latency, score, traffic) and bans; admins also get buttons."""

from __future__ import annotations

from aiohttp import web

from coinium.web.pages import NavItem
from coinium.web.rpc_bridge import call
from coinium.web.server import NODE_KEY, render

routes = web.RouteTableDef()
NAV = [NavItem("Network", "/network", "network-wired")]


@routes.get("/network")
async def network(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    context = {
        "info": await call(node, "getnetworkinfo"),
        "peers": await call(node, "getpeerinfo"),
        "banned": await call(node, "listbanned"),
    }
    return render(request, "network.html", context)
