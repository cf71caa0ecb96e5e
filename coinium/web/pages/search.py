"""The search box: a height, a block hash, a txid, an address (a contract's goes to its contract
page), an NFT class or CLASS/TOKEN, sent to its page.

A 64-hex-digit string may be a block hash or a txid: blocks are looked up first. Anything that is
none of these gets a page that says what the box takes (HTTP 400), never an error trace.
"""

from __future__ import annotations

import re

from aiohttp import web

from coinium.crypto.address import decode_address
from coinium.rpc.errors import RpcError
from coinium.web.pages import NavItem
from coinium.web.rpc_bridge import call
from coinium.web.server import NODE_KEY, render

routes = web.RouteTableDef()
NAV: list[NavItem] = []
HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
MAX_QUERY = 200


@routes.get("/search")
async def search(request: web.Request) -> web.StreamResponse:
    node = request.app[NODE_KEY]
    query = request.query.get("q", "").strip()
    if not query:
        return _not_understood(request, query, "Type a block height, a block hash, a "
                               "transaction id or an address.")  # fmt: skip
    if len(query) > MAX_QUERY:
        return _not_understood(request, query[:MAX_QUERY] + "…", "That is far too long to be a "
                               "height, a hash or an address.")  # fmt: skip
    if query.isdigit():
        if int(query) > node.chain.height:
            return _not_understood(request, query, f"There is no block at height {query} yet: "
                                   f"the tip is at {node.chain.height}.", 404)  # fmt: skip
        raise web.HTTPFound(f"/block/{int(query)}")
    if HEX64.match(query):
        key = query.lower()
        try:
            await call(node, "getblockheader", key)
            raise web.HTTPFound(f"/block/{key}")
        except RpcError:
            pass
        try:
            await call(node, "getrawtransaction", key)
            raise web.HTTPFound(f"/tx/{key}")
        except RpcError:
            return _not_understood(request, query, "No block or transaction has that hash.", 404)
    try:
        decode_address(query, node.params.address_prefix)
    except ValueError as exc:
        nft_page = await _nft_page(node, query)
        if nft_page is not None:
            raise web.HTTPFound(nft_page) from None
        return _not_understood(request, query, f"That is not a height, a 64-digit hash, an "
                               f"address of this network ({exc}) or an NFT class or "
                               f"CLASS/TOKEN that exists.")  # fmt: skip
    try:
        await call(node, "getcontract", query)
    except RpcError:
        raise web.HTTPFound(f"/address/{query}") from None
    raise web.HTTPFound(f"/contract/{query}")


async def _nft_page(node, query: str) -> str | None:
    """The page of an NFT class (``art``) or token (``art/7``) that exists, else None."""
    method, shown = ("getnft", query) if "/" in query else ("getnftclass", query)
    try:
        await call(node, method, shown)
    except RpcError:
        return None
    return f"/nft/{query}"


def _not_understood(request: web.Request, query: str, message: str,
                    status: int = 400) -> web.Response:  # fmt: skip
    return render(request, "search.html", {"query": query, "message": message}, status=status)
