"""The dashboard reads and acts through the node's RPC methods themselves.

Every page's data and every admin action is a call of a method in the RPC method table
(`coinium.rpc.methods`), with its parameter checks, so the dashboard shows exactly what
``coinium rpc`` would and an admin action does exactly what the RPC call does: no copies.
"""

from __future__ import annotations

from typing import Any

from coinium.rpc.errors import RPC_METHOD_NOT_FOUND, RpcError
from coinium.rpc.server import RpcContext


async def call(node: Any, method_name: str, *params: Any, user: str = "dashboard") -> Any:
    """Run one RPC method as the JSON-RPC server would; raises `RpcError` as it would."""
    server = node.rpc
    method = server.methods.get(method_name)
    if method is None:
        raise RpcError(RPC_METHOD_NOT_FOUND, "Method not found")
    kwargs = method.bind(list(params))
    return await method.handler(RpcContext(node, server, user), **kwargs)
