"""Blocks: the main chain, newest first, a page at a time, and one block's detail."""

from __future__ import annotations

from aiohttp import web

from coinium.rpc.errors import RPC_INVALID_PARAMETER, RpcError
from coinium.web.chain_view import recent_blocks
from coinium.web.pages import NavItem
from coinium.web.rpc_bridge import call
from coinium.web.server import NODE_KEY, render

routes = web.RouteTableDef()
NAV = [NavItem("Blocks", "/blocks", "cubes")]
PER_PAGE = 25
HASH_CHARS = 64


@routes.get("/blocks")
async def blocks(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    top_text = request.query.get("top", "")
    if top_text and not (top_text.isdigit() and len(top_text) <= 12):
        raise RpcError(RPC_INVALID_PARAMETER, f"'top' must be a block height, not {top_text!r}")
    top = int(top_text) if top_text else None
    rows = await node.chain_call(recent_blocks, node.chain, PER_PAGE, top)
    older = rows[-1]["height"] - 1 if rows and rows[-1]["height"] > 0 else None
    newer = None
    if rows and rows[0]["height"] < node.chain.height:
        newer = min(node.chain.height, rows[0]["height"] + PER_PAGE)
    return render(request, "blocks.html", {"rows": rows, "older": older, "newer": newer})


@routes.get("/block/{ref}")
async def block(request: web.Request) -> web.Response:
    """A block by hash or by main-chain height."""
    node = request.app[NODE_KEY]
    ref = request.match_info["ref"]
    if ref.isdigit() and len(ref) <= 12:
        ref = await call(node, "getblockhash", int(ref))
    elif len(ref) != HASH_CHARS:
        raise RpcError(RPC_INVALID_PARAMETER, f"{ref[:80]!r} is neither a height nor a block hash")
    detail = await call(node, "getblock", ref, 2)
    return render(request, "block.html", {"block": detail})
