"""The dashboard's pages, one module each; each module has ``routes`` (an aiohttp
`RouteTableDef`) and ``NAV`` (the navigation entries it adds, possibly none).

A later part adds a page by writing its module (routes, a template extending ``base.html``) and
naming it in `PAGE_MODULES`, as staking and finality, governance, NFTs and contracts do.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from aiohttp import web


@dataclass(frozen=True, slots=True)
class NavItem:
    title: str
    path: str
    icon: str  # a Font Awesome icon name, e.g. "cubes"


PAGE_MODULES = ("overview", "blocks", "transactions", "accounts", "mempool", "network", "mining",
                "staking", "governance", "nfts", "contracts", "search", "admin")  # fmt: skip
NAV: list[NavItem] = []


def install(app: web.Application) -> None:
    NAV.clear()
    for name in PAGE_MODULES:
        module = import_module(f"coinium.web.pages.{name}")
        app.router.add_routes(module.routes)
        NAV.extend(module.NAV)
