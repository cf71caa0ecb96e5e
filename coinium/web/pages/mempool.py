"""Mempool: size, a fee-rate histogram, and the projected next block (what getblocktemplate
would hold: the mempool's own block selection)."""

from __future__ import annotations

from aiohttp import web

from coinium.web import charts
from coinium.web.pages import NavItem
from coinium.web.rpc_bridge import call
from coinium.web.server import NODE_KEY, render

routes = web.RouteTableDef()
NAV = [NavItem("Mempool", "/mempool", "hourglass-half")]
# Fee-rate buckets, base units per 1000 bytes (the relay minimum is 1000 by default).
FEE_RATE_EDGES = (0, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000,
                  1_000_000)  # fmt: skip
TOP_ROWS = 50


def fee_rate_histogram(rates: list[int]) -> tuple[list[str], list[int]]:
    """Transactions per fee-rate bucket; the last bucket is open-ended."""
    counts = [0] * len(FEE_RATE_EDGES)
    for rate in rates:
        for i in range(len(FEE_RATE_EDGES) - 1, -1, -1):
            if rate >= FEE_RATE_EDGES[i]:
                counts[i] += 1
                break
    labels = [f"≥{charts.si(edge)}" for edge in FEE_RATE_EDGES]
    return labels, counts


@routes.get("/mempool")
async def mempool(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    pool = node.mempool
    entries = sorted(pool.entries(), key=lambda e: e.fee_rate, reverse=True)
    labels, counts = fee_rate_histogram([e.fee_rate for e in entries])
    projected = pool.select_for_block()
    projected_ids = {tx.txid for tx in projected}
    context = {
        "info": await call(node, "getmempoolinfo"),
        "histogram": charts.bar_chart("Transactions by fee rate (units per 1000 bytes)",
                                      labels, counts),  # fmt: skip
        "projected": {
            "count": len(projected),
            "bytes": sum(tx.size for tx in projected),
            "fees": sum(tx.fee for tx in projected),
        },
        "entries": entries[:TOP_ROWS],
        "in_next_block": projected_ids,
    }
    return render(request, "mempool.html", context)
