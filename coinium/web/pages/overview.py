"""Overview: the tip, sync, peers, mempool, charts of recent blocks, and finality status."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from coinium.web import charts
from coinium.web.chain_view import hashrate_series, recent_blocks
from coinium.web.pages import NavItem
from coinium.web.rpc_bridge import call
from coinium.web.server import DASHBOARD_KEY, NODE_KEY, render

routes = web.RouteTableDef()
NAV = [NavItem("Overview", "/", "gauge")]
CHART_BLOCKS = 60
RECENT_ROWS = 10


async def chart_context(node: Any) -> dict[str, Any]:
    rows = await node.chain_call(recent_blocks, node.chain, CHART_BLOCKS)
    ordered = list(reversed(rows))
    return {
        "recent": rows[:RECENT_ROWS],
        "difficulty_chart": charts.line_chart(
            "Difficulty", [(r["height"], r["difficulty"]) for r in ordered], zero_based=False),
        "hashrate_chart": charts.line_chart("Network hash rate (H/s)", hashrate_series(rows)),
        "txs_chart": charts.bar_chart(
            "Transactions per block", [str(r["height"]) for r in ordered],
            [r["txs"] for r in ordered]),
    }  # fmt: skip


@routes.get("/")
async def overview(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    hub = request.app[DASHBOARD_KEY].hub
    context = {
        "chain": await call(node, "getblockchaininfo"),
        "mining": await call(node, "getmininginfo"),
        "mempool": await call(node, "getmempoolinfo"),
        "peers": hub.peer_summary(),
        **await chart_context(node),
    }
    return render(request, "overview.html", context)


@routes.get("/fragments/overview-charts")
async def overview_charts(request: web.Request) -> web.Response:
    """The charts alone, which the page fetches again when a block arrives."""
    return render(request, "overview_charts.html", await chart_context(request.app[NODE_KEY]))
