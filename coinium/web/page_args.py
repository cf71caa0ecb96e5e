"""Reading a page's path and query parameters, and saying clearly what was wrong with them.

A malformed parameter (bad hex, a bad address, a count out of range) is a `PageError` 400; a
well-formed one naming nothing (no such contract, a page past the end) is a 404. The server's
error middleware shows either as a page, never a traceback.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from coinium.crypto.address import AddressError, decode_address
from coinium.rpc.errors import RPC_INVALID_ADDRESS_OR_KEY, RpcError
from coinium.web.rpc_bridge import call

MAX_PARAM = 200  # no parameter of these pages is longer (a storage key is 200 bytes: 400 hex)


class PageError(Exception):
    def __init__(self, status: int, title: str, message: str):
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def bad(message: str) -> PageError:
    return PageError(400, "Bad request", message)


def missing(message: str) -> PageError:
    return PageError(404, "Not found", message)


def address_arg(node: Any, text: str) -> str:
    """An address of this network, as typed; 400 otherwise."""
    try:
        decode_address(text, node.params.address_prefix)
    except AddressError as exc:
        raise bad(f"{text[:MAX_PARAM]!r} is not an address of this network ({exc}).") from None
    return text


def hex_arg(request: web.Request, name: str, max_bytes: int, exact: bool = False) -> bytes:
    """The query parameter ``name`` as hex bytes (empty when absent); 400 if it is not."""
    text = request.query.get(name, "")
    if len(text) > 2 * max_bytes:
        raise bad(f"'{name}' is at most {max_bytes} bytes ({2 * max_bytes} hex digits).")
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise bad(f"'{name}' must be hex digits, not {text[:80]!r}.") from None
    if exact and value and len(value) != max_bytes:
        raise bad(f"'{name}' is exactly {max_bytes} bytes ({2 * max_bytes} hex digits).")
    return value


def int_arg(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query.get(name, "")
    if not text:
        return default
    if not (text.isdigit() and len(text) <= 12 and low <= int(text) <= high):
        raise bad(f"'{name}' must be a whole number from {low} to {high}, not {text[:80]!r}.")
    return int(text)


def text_arg(request: web.Request, name: str) -> str:
    text = request.query.get(name, "")
    if len(text) > MAX_PARAM:
        raise bad(f"'{name}' is too long.")
    return text


async def lookup(node: Any, method: str, *params: Any) -> Any:
    """An RPC call whose "not found" (-5) is a 404 page; its other errors stay 400s."""
    try:
        return await call(node, method, *params)
    except RpcError as exc:
        if exc.code == RPC_INVALID_ADDRESS_OR_KEY:
            raise missing(exc.message) from None
        raise


def past_the_end(rows: list, after: Any, what: str) -> None:
    """A page that starts after a cursor and holds nothing is a page out of range: 404."""
    if after and not rows:
        raise missing(f"There are no {what} after {after!s:.80}.")
