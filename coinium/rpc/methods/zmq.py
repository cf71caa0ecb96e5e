"""Zmq: getzmqnotifications."""

from __future__ import annotations

from typing import Any

from coinium.rpc.registry import Method
from coinium.rpc.server import RpcContext


async def getzmqnotifications(ctx: RpcContext) -> list[dict[str, Any]]:
    notifier = ctx.node.notifier
    return list(notifier.notifications()) if notifier is not None else []


METHODS = [
    Method(
        "getzmqnotifications", "zmq", getzmqnotifications,
        "Returns information about the active ZeroMQ notifications.",
        """\
[
  {
    "type" : "str",       (string) Type of notification (pubhashblock, pubrawtx, ...)
    "address" : "str",    (string) Address of the publisher
    "hwm" : n             (numeric) Outbound message high water mark
  }, ...
]""",
        needs_chain=False,
    ),
]
