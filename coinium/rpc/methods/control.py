"""Control: help, uptime, stop."""

from __future__ import annotations

import time

from coinium.rpc.registry import Method, Param
from coinium.rpc.server import RpcContext


async def help_(ctx: RpcContext, command: str | None) -> str:
    if command is None:
        return ctx.methods.overview()
    method = ctx.methods.get(command)
    if method is None:
        return f"help: unknown command: {command}"
    return method.help_text()


async def uptime(ctx: RpcContext) -> int:
    return int(time.monotonic() - ctx.node.started_at)


async def stop(ctx: RpcContext) -> str:
    # The reply goes out first; only then is the node asked to stop (it closes this server).
    ctx.after_reply.append(ctx.node.request_stop)
    return "Coinium server stopping"


METHODS = [
    Method(
        "help", "control", help_,
        "List all commands, or get help for a specified command.",
        '"str"    (string) The help text',
        (Param("command", "string", "The command to get help on", None),),
        needs_chain=False,
    ),
    Method(
        "uptime", "control", uptime,
        "Returns the total uptime of the server.",
        "n    (numeric) The number of seconds that the server has been running",
        needs_chain=False,
    ),
    Method(
        "stop", "control", stop,
        "Request a graceful shutdown of the node.",
        '"str"    (string) A string with the content \'Coinium server stopping\'',
        needs_chain=False,
    ),
]
