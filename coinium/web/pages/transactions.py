"""A transaction: confirmed (its block) or waiting in the mempool (its entry)."""

from __future__ import annotations

from aiohttp import web

from coinium.web.rpc_bridge import call
from coinium.web.server import NODE_KEY, render

routes = web.RouteTableDef()
NAV: list = []


@routes.get("/tx/{txid}")
async def transaction(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    txid = request.match_info["txid"]
    tx = await call(node, "getrawtransaction", txid, True)
    entry = None
    if "blockhash" not in tx:
        entry = await call(node, "getmempoolentry", txid)
    return render(request, "transaction.html", {"tx": tx, "entry": entry})
