"""An account (address): balance, nonce, what the mempool would change, and its history."""

from __future__ import annotations

from aiohttp import web

from coinium.rpc.errors import RpcError
from coinium.web.rpc_bridge import call
from coinium.web.server import NODE_KEY, render

routes = web.RouteTableDef()
NAV: list = []
HISTORY_ROWS = 50


@routes.get("/address/{address}")
async def account(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    address = request.match_info["address"]
    info = await call(node, "getaccount", address)
    history = await call(node, "listtransactions", address, HISTORY_ROWS)
    try:
        await call(node, "getcontract", address)
        is_contract = True
    except RpcError:
        is_contract = False
    return render(request, "account.html", {"account": info, "history": history,
                                            "is_contract": is_contract})  # fmt: skip
