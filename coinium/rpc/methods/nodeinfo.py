"""What the node itself is doing: getnettotals, getaddednodeinfo, getmemoryinfo, getrpcinfo and
savemempool (bitcoind's ``net.cpp``, ``node.cpp``, ``server.cpp`` and ``mempool.cpp``)."""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from typing import Any

from coinium.rpc.errors import RPC_INVALID_PARAMETER, RPC_MISC_ERROR, RpcError
from coinium.rpc.methods.network import RPC_CLIENT_NODE_NOT_ADDED, _p2p
from coinium.rpc.registry import Method, Param
from coinium.rpc.server import RpcContext


async def getnettotals(ctx: RpcContext) -> dict[str, Any]:
    received, sent = _p2p(ctx).traffic_totals()
    return {
        "totalbytesrecv": received,
        "totalbytessent": sent,
        "timemillis": int(time.time() * 1000),
        "uploadtarget": {"timeframe": 86400, "target": 0, "target_reached": False,
                         "serve_historical_blocks": True, "bytes_left_in_cycle": 0,
                         "time_left_in_cycle": 0},  # no -maxuploadtarget: unlimited
    }  # fmt: skip


async def getaddednodeinfo(ctx: RpcContext, node: str | None) -> list[dict[str, Any]]:
    found = []
    for manual, peer in _p2p(ctx).added_nodes():
        text = str(manual.address)
        if node is not None and node not in (text, manual.address.key.hex()):
            continue
        entry: dict[str, Any] = {"addednode": text, "connected": peer is not None,
                                 "addresses": []}  # fmt: skip
        if peer is not None:
            entry["addresses"].append({"address": f"{manual.address.host}:{manual.address.port}",
                                       "connected": "inbound" if peer.inbound else "outbound"})
        found.append(entry)
    if node is not None and not found:
        raise RpcError(RPC_CLIENT_NODE_NOT_ADDED, "Error: Node has not been added.")
    return found


def _memory_stats() -> dict[str, int]:
    """bitcoind's 'stats' mode reports its locked-memory pool; the fields are kept, with the
    process's own figures: used = resident set size, total = peak resident size."""
    used = 0
    try:
        with open("/proc/self/statm") as statm:
            used = int(statm.read().split()[1]) * resource.getpagesize()
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin"
                                                                else 1024)  # fmt: skip
    return {"used": used, "free": max(0, peak - used), "total": max(peak, used),
            "locked": 0, "chunks_used": 0, "chunks_free": 0}  # fmt: skip


async def getmemoryinfo(ctx: RpcContext, mode: str) -> Any:
    if mode == "stats":
        return {"locked": _memory_stats(), "mempool_usage": ctx.node.mempool.usage}
    if mode == "mallocinfo":
        raise RpcError(RPC_MISC_ERROR, "mallocinfo mode not available")
    raise RpcError(RPC_INVALID_PARAMETER, f'unknown mode {mode}')


async def getrpcinfo(ctx: RpcContext) -> dict[str, Any]:
    active = getattr(ctx.methods, "active", None)
    return {"active_commands": active.snapshot() if active is not None else [],
            "logpath": str(ctx.node.options.datadir / "debug.log")}  # fmt: skip


async def savemempool(ctx: RpcContext) -> dict[str, str]:
    from coinium.mempool.persist import MEMPOOL_FILE, save_mempool

    if not ctx.node.options.persist_mempool:
        raise RpcError(RPC_MISC_ERROR, "The mempool was not loaded yet")  # bitcoind's wording
    try:
        await asyncio.to_thread(save_mempool, ctx.node.mempool, ctx.node.options.datadir)
    except OSError as exc:
        raise RpcError(RPC_MISC_ERROR, f"Unable to dump mempool to disk: {exc}") from None
    return {"filename": str(ctx.node.options.datadir / MEMPOOL_FILE)}


METHODS = [
    Method(
        "getnettotals", "network", getnettotals,
        "Returns information about network traffic, including bytes in, bytes out,\n"
        "and current system time. Bytes are counted as ZeroMQ frames, over every peer since\n"
        "the node started. There is no upload target: it reads as unlimited.",
        """\
{
  "totalbytesrecv" : n,   (numeric) Total bytes received
  "totalbytessent" : n,   (numeric) Total bytes sent
  "timemillis" : xxx,     (numeric) Current system UNIX epoch time in milliseconds
  "uploadtarget" : { "timeframe" : n, "target" : 0, "target_reached" : false,
                     "serve_historical_blocks" : true, "bytes_left_in_cycle" : 0,
                     "time_left_in_cycle" : 0 }
}""",
        needs_chain=False,
    ),
    Method(
        "getaddednodeinfo", "network", getaddednodeinfo,
        "Returns information about the given added node, or all added nodes (--addnode,\n"
        "--connect and addnode 'add').",
        """\
[
  {
    "addednode" : "str",       (string) The peer address key@host:port
    "connected" : true|false,  (boolean) If connected
    "addresses" : [ { "address" : "host:port", "connected" : "outbound"|"inbound" } ]
  }, ...
]""",
        (Param("node", "string", "If provided, return information about this specific node "
               "(its peer address or key)", None),),
        needs_chain=False,
    ),
    Method(
        "getmemoryinfo", "control", getmemoryinfo,
        "Returns an object containing information about memory usage. 'locked' keeps\n"
        "bitcoind's keys with this process's figures: used = resident set size, total = peak\n"
        "resident size; nothing is locked (mlock) apart.",
        """\
{
  "locked" : { "used" : n, "free" : n, "total" : n, "locked" : 0, "chunks_used" : 0,
               "chunks_free" : 0 },
  "mempool_usage" : n    (numeric) Bytes the mempool holds
}""",
        (Param("mode", "string", 'determines what kind of information is returned: "stats"',
               "stats"),),
        needs_chain=False,
    ),
    Method(
        "getrpcinfo", "control", getrpcinfo,
        "Returns details of the RPC server.",
        """\
{
  "active_commands" : [ { "method" : "str", "duration" : n } ],  (duration in microseconds)
  "logpath" : "str"      (string) The complete file path to the debug log
}""",
        needs_chain=False,
    ),
    Method(
        "savemempool", "blockchain", savemempool,
        "Dumps the mempool to disk (encrypted, as at shutdown; see coinium.mempool.persist).",
        '{ "filename" : "str" }    (string) the directory and file where the mempool was saved',
    ),
]
