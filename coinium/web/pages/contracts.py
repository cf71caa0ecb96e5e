"""Contracts: the instantiated contracts (code hash, admin, balance) and the uploaded codes,
paged; one contract with its newest events and its storage entries, each paged."""

from __future__ import annotations

from aiohttp import web

from coinium.chain import contract_queries
from coinium.contracts.limits import MAX_STORAGE_KEY
from coinium.crypto.address import decode_address
from coinium.rpc.methods.contracts import event_json
from coinium.rpc.shapes import address as show_address
from coinium.web.page_args import address_arg, hex_arg, lookup, past_the_end
from coinium.web.pages import NavItem
from coinium.web.rpc_bridge import call
from coinium.web.server import NODE_KEY, render

routes = web.RouteTableDef()
NAV = [NavItem("Contracts", "/contracts", "file-code")]
PER_PAGE = 50
EVENTS_PER_PAGE = 25
STORAGE_PER_PAGE = 25
EVENT_KEY = 20 + 8 + 4  # contract id, height, sequence


@routes.get("/contracts")
async def contracts(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    after = hex_arg(request, "after", contract_queries.CONTRACT_ID, exact=True)
    rows = await node.chain_call(contract_queries.contracts, node.chain, after, PER_PAGE)
    past_the_end(rows, after.hex(), "contracts")
    params = node.params
    shown = [{"address": show_address(r.contract, params), "code_hash": r.instance.code_hash.hex(),
              "admin": show_address(r.instance.admin, params) if r.instance.admin else None,
              "creator": show_address(r.instance.creator, params), "height": r.instance.height,
              "balance_units": r.balance} for r in rows]  # fmt: skip
    next_after = rows[-1].contract.hex() if len(rows) == PER_PAGE else None
    return render(request, "contracts.html", {"contracts": shown, "after": after.hex(),
                                              "next": next_after})  # fmt: skip


@routes.get("/codes")
async def codes(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    after = hex_arg(request, "after", contract_queries.CODE_HASH, exact=True)
    rows = await node.chain_call(contract_queries.codes, node.chain, after, PER_PAGE)
    past_the_end(rows, after.hex(), "codes")
    next_after = rows[-1].code_hash.hex() if len(rows) == PER_PAGE else None
    return render(request, "codes.html", {"codes": rows, "after": after.hex(),
                                          "next": next_after})  # fmt: skip


@routes.get("/contract/{address}")
async def contract(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    address = address_arg(node, request.match_info["address"])
    contract_id = decode_address(address, node.params.address_prefix)[1]
    before = hex_arg(request, "events_before", EVENT_KEY, exact=True)
    if before and before[:20] != contract_id:
        before = b""  # a cursor of another contract's events: start from the newest
    storage_after = request.query.get("storage_after", "")
    hex_arg(request, "storage_after", MAX_STORAGE_KEY)  # 400 for bad hex, before the RPC
    info = await lookup(node, "getcontract", address)
    raw_events = await node.chain_call(contract_queries.newest_events, node.chain, contract_id,
                                       before, EVENTS_PER_PAGE)  # fmt: skip
    past_the_end(raw_events, before.hex(), "older events")
    storage = await call(node, "getcontractstorage", address, "", STORAGE_PER_PAGE, storage_after)
    past_the_end(storage["entries"], storage_after, "storage entries")
    context = {
        "c": info,
        "events": [event_json(k, v, node.params) for k, v in raw_events],
        "events_before": before.hex(),
        "events_next": raw_events[-1][0].hex() if len(raw_events) == EVENTS_PER_PAGE else None,
        "storage": storage["entries"],
        "storage_after": storage_after,
        "storage_next": (storage["entries"][-1]["key"]
                         if len(storage["entries"]) == STORAGE_PER_PAGE else None),
    }  # fmt: skip
    return render(request, "contract.html", context)
