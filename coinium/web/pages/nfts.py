"""NFTs: the classes, the tokens of a class or of an owner (paged as listnfts pages), and one
token with its class, history and the content-hash check of its metadata."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from coinium.web import content_check
from coinium.web.page_args import address_arg, lookup, past_the_end, text_arg
from coinium.web.pages import NavItem
from coinium.web.rpc_bridge import call
from coinium.web.server import DASHBOARD_KEY, NODE_KEY, error_page, render

routes = web.RouteTableDef()
NAV = [NavItem("NFTs", "/nfts", "image")]
PER_PAGE = 50
HISTORY_ROWS = 50


@routes.get("/nfts")
async def classes(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    after = text_arg(request, "after")
    page = await call(node, "listnftclasses", after, PER_PAGE)
    past_the_end(page["classes"], after, "NFT classes")
    return render(request, "nft_classes.html", {"page": page, "after": after})


@routes.get("/nft/{class_id}")
async def nft_class(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    class_id = request.match_info["class_id"]
    after = text_arg(request, "after")
    cls = await lookup(node, "getnftclass", class_id)
    page = await call(node, "listnfts", "", class_id, after, PER_PAGE)
    past_the_end(page["nfts"], after, f"tokens of {class_id}")
    return render(request, "nft_class.html", {"cls": cls, "page": page, "after": after})


@routes.get("/nfts/owner/{address}")
async def owner(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    address = address_arg(node, request.match_info["address"])
    after = text_arg(request, "after")
    page = await call(node, "listnfts", address, "", after, PER_PAGE)
    past_the_end(page["nfts"], after, f"tokens of {address}")
    return render(request, "nft_owner.html", {"owner": address, "page": page, "after": after})


async def _token_context(request: web.Request) -> dict[str, Any]:
    node = request.app[NODE_KEY]
    nft_id = f"{request.match_info['class_id']}/{request.match_info['token_id']}"
    token = await lookup(node, "getnft", nft_id)
    return {
        "token": token,
        "cls": await call(node, "getnftclass", token["class"]),
        "history": list(reversed(await call(node, "getnfthistory", nft_id, HISTORY_ROWS))),
        "inline": content_check.check_data_uri(token["uri"], token["contenthash"]),
        "max_upload": content_check.MAX_UPLOAD,
        "upload": None,
    }


@routes.get("/nft/{class_id}/{token_id}")
async def token(request: web.Request) -> web.Response:
    return render(request, "nft_token.html", await _token_context(request))


@routes.post("/nft/{class_id}/{token_id}/check")
async def check_file(request: web.Request) -> web.Response:
    """Hash an uploaded file against the token's committed content hash (nothing is kept)."""
    context = await _token_context(request)
    sessions = request.app[DASHBOARD_KEY].sessions
    token, part = await content_check.read_check_form(request)
    if not sessions.check_csrf(request, token):
        return error_page(request, 403, "Refused", "The form's CSRF token is missing or wrong: "
                          "reload the token page and try again.")  # fmt: skip
    if part is None:
        return error_page(request, 400, "No file", "Choose a file to check against the "
                          "content hash.")  # fmt: skip
    try:
        context["upload"] = await content_check.hash_upload(part, context["token"]["contenthash"])
    except content_check.UploadTooLarge:
        return error_page(request, 413, "File too large", "The dashboard hashes files up to "
                          f"{content_check.MAX_UPLOAD // (1024 * 1024)} MiB; use `coinium "
                          "verifynft` for larger ones.")  # fmt: skip
    return render(request, "nft_token.html", context)
