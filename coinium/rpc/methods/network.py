"""Network: getpeerinfo, getnetworkinfo, getconnectioncount, addnode, disconnectnode, setban,
listbanned, clearbanned, ping (bitcoind's ``src/rpc/net.cpp``).

Peers are named by their peer address ``<64 hex digit Curve key>@host:port`` (the string
``getnetworkinfo``'s ``localaddresses`` shows and ``--connect`` takes). ``setban`` takes a key, a
peer address (its key is banned), an IP address or a subnet.
"""

from __future__ import annotations

import time
from typing import Any

from coinium.mempool.pool import coins
from coinium.p2p.rpcview import PeerView
from coinium.rpc.errors import RPC_INVALID_PARAMETER, RPC_MISC_ERROR, RpcError
from coinium.rpc.registry import Method, Param
from coinium.rpc.server import RpcContext

# bitcoind's peer-to-peer client error codes (src/rpc/protocol.h).
RPC_CLIENT_P2P_DISABLED = -9
RPC_CLIENT_NODE_ALREADY_ADDED = -23
RPC_CLIENT_NODE_NOT_ADDED = -24
RPC_CLIENT_NODE_NOT_CONNECTED = -29
RPC_CLIENT_INVALID_IP_OR_SUBNET = -30


def _p2p(ctx: RpcContext) -> PeerView:
    manager = getattr(ctx.node, "p2p", None)
    if manager is None:
        raise RpcError(RPC_CLIENT_P2P_DISABLED,
                       "Error: Peer-to-peer functionality missing or disabled")  # fmt: skip
    return manager.view


async def getpeerinfo(ctx: RpcContext) -> list[dict[str, Any]]:
    return _p2p(ctx).peer_info()


async def getnetworkinfo(ctx: RpcContext) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = version("coinium")
    except PackageNotFoundError:
        text = "0.0.0"
    parts = [int(p) if p.isdigit() else 0 for p in text.split(".")[:3]] + [0, 0, 0]
    info = {"version": parts[0] * 10000 + parts[1] * 100 + parts[2]}
    info.update(_p2p(ctx).network_info())
    info["timeoffset"] = 0
    # The node's own policy (the mempool refuses less), in coins per 1000 bytes as bitcoind.
    policy = ctx.node.options.mempool
    info["relayfee"] = coins(policy.min_relay_fee_rate)
    info["incrementalfee"] = coins(policy.incremental_relay_fee_rate)
    nat = getattr(ctx.node, "nat", None)
    verdicts = _p2p(ctx).reachability_verdicts()
    info["natmappings"] = nat.info(verdicts) if nat is not None else []  # --natpmp
    return info


async def getconnectioncount(ctx: RpcContext) -> int:
    return _p2p(ctx).connection_count()


async def addnode(ctx: RpcContext, node: str, command: str) -> None:
    if command not in ("add", "remove", "onetry"):
        raise RpcError(RPC_MISC_ERROR, "addnode \"node\" \"command\": command must be add, "
                       "remove or onetry")  # fmt: skip
    try:
        _p2p(ctx).add_node(node, command)
    except KeyError:
        raise RpcError(RPC_CLIENT_NODE_ALREADY_ADDED, "Error: Node already added") from None
    except LookupError:
        raise RpcError(RPC_CLIENT_NODE_NOT_ADDED,
                       "Error: Node could not be removed. It has not been added previously.") \
            from None  # fmt: skip
    except ValueError as exc:
        raise RpcError(RPC_INVALID_PARAMETER, str(exc)) from None


async def disconnectnode(ctx: RpcContext, address: str | None, nodeid: int | None) -> None:
    if bool(address) == (nodeid is not None):
        raise RpcError(RPC_INVALID_PARAMETER, "Only one of address and nodeid should be provided.")
    if not _p2p(ctx).disconnect_node(address or None, nodeid):
        raise RpcError(RPC_CLIENT_NODE_NOT_CONNECTED, "Node not found in connected nodes")


async def setban(ctx: RpcContext, subnet: str, command: str, bantime: int,
                 absolute: bool) -> None:  # fmt: skip
    if command not in ("add", "remove"):
        raise RpcError(RPC_MISC_ERROR, "setban \"subnet\" \"command\": command must be add or "
                       "remove")  # fmt: skip
    view = _p2p(ctx)
    try:
        view.set_ban(subnet, command, bantime, absolute)
    except KeyError:
        raise RpcError(RPC_CLIENT_NODE_ALREADY_ADDED, "Error: IP/Subnet already banned") from None
    except LookupError:
        raise RpcError(RPC_CLIENT_INVALID_IP_OR_SUBNET,
                       "Error: Unban failed. Requested address/subnet was not previously "
                       "manually banned.") from None  # fmt: skip
    except ValueError as exc:
        raise RpcError(RPC_CLIENT_INVALID_IP_OR_SUBNET, f"Error: Invalid IP/Subnet: {exc}") \
            from None  # fmt: skip


async def listbanned(ctx: RpcContext) -> list[dict[str, Any]]:
    now = int(time.time())
    return [
        {"address": ban.subject, "ban_created": ban.created, "banned_until": ban.until,
         "ban_duration": ban.until - ban.created, "time_remaining": max(0, ban.until - now),
         "reason": ban.reason}
        for ban in _p2p(ctx).list_banned()
    ]  # fmt: skip


async def clearbanned(ctx: RpcContext) -> None:
    _p2p(ctx).clear_banned()


async def ping(ctx: RpcContext) -> None:
    _p2p(ctx).ping_all()


METHODS = [
    Method(
        "getpeerinfo", "network", getpeerinfo,
        "Returns data about each connected network peer as a json array of objects.\n"
        "bitcoind's fields where they apply (times in unix seconds, ping times in seconds),\n"
        "plus the peer's Curve key, its peer address and its score.",
        """\
[
  {
    "id" : n,                 (numeric) Peer index
    "addr" : "host:port",     (string) The IP address and port of the peer
    "services" : "hex", "servicesnames" : [ "str", ... ], "relaytxes" : true,
    "lastsend" : xxx, "lastrecv" : xxx, "last_transaction" : xxx, "last_block" : xxx,
    "bytessent" : n, "bytesrecv" : n, "conntime" : xxx, "timeoffset" : n,
    "pingtime" : n, "minping" : n, "pingwait" : n,   (numeric, optional) seconds
    "version" : n, "subver" : "str", "inbound" : true|false,
    "startingheight" : n, "synced_headers" : n, "synced_blocks" : n, "inflight" : [ n, ... ],
    "bytessent_per_msg" : { "msg" : n, ... }, "bytesrecv_per_msg" : { "msg" : n, ... },
    "connection_type" : "str",  (string) inbound, manual, outbound-full-relay or addr-fetch
    "transport_protocol_type" : "curvezmq",
    "key" : "hex",            (string) The peer's Curve public key
    "peeraddress" : "str",    (string) key@host:port where it listens (null if unknown)
    "score" : n,              (numeric) Its reputation: banned at -100
    "gossip_in" : true|false, (boolean) We receive its gossip on its PUB socket
    "gossip_out" : "str",     (string) How it gets ours: pub or request-link
    "sendqueue" : n           (numeric) Messages waiting to be sent to it
  }, ...
]""",
    ),
    Method(
        "getnetworkinfo", "network", getnetworkinfo,
        "Returns an object containing various state info regarding P2P networking.\n"
        "localaddresses[].address is this node's full peer address, the string another node\n"
        "passes to --connect or addnode.",
        """\
{
  "version" : n, "subversion" : "str", "protocolversion" : n,
  "localservices" : "hex", "localservicesnames" : [ "str", ... ], "localrelay" : true,
  "timeoffset" : n, "connections" : n, "connections_in" : n, "connections_out" : n,
  "networkactive" : true, "networks" : [ ... ], "relayfee" : n, "incrementalfee" : n,
  "localaddresses" : [ { "address" : "key@host:port", "host" : "str", "port" : n,
                         "score" : n, "reachable" : true|false|null }, ... ],
                         (reachable: what a peer dialling it back found; null: not checked)
  "key" : "hex",            (string) This node's Curve public key
  "listening" : true|false, "gossipport" : n, "banned" : n, "knownaddresses" : n,
  "warnings" : [ "str", ... ],
  "natmappings" : [ { "protocol" : "pcp"|"natpmp", "gateway" : "str", "localport" : n,
                      "address" : "str", "port" : n, "lifetime" : n,
                      "verified" : true|false|null } ]  (--natpmp; an unmapped port has
                      "error"; verified: a peer dialled it back, null: not checked yet)
}""",
        needs_chain=False,
    ),
    Method(
        "getconnectioncount", "network", getconnectioncount,
        "Returns the number of connections to other nodes.",
        "n    (numeric) The connection count",
        needs_chain=False,
    ),
    Method(
        "addnode", "network", addnode,
        "Attempts to add or remove a node from the addnode list, or to try a connection to a\n"
        "node once. Nodes added are kept connected (reconnected with backoff).",
        "null",
        (Param("node", "string", "The peer address <key>@host:port"),
         Param("command", "string", "'add' to add a node to the list, 'remove' to remove a "
               "node from the list, 'onetry' to try a connection to the node once")),
        needs_chain=False,
        examples=("addnode <key>@192.168.0.6:19444 onetry",),
    ),
    Method(
        "disconnectnode", "network", disconnectnode,
        "Immediately disconnects from the specified peer node. Give either the address (its\n"
        "key, its peer address or host:port as getpeerinfo shows) or the nodeid.",
        "null",
        (Param("address", "string", "The peer's key, peer address or host:port", ""),
         Param("nodeid", "number", "The node ID (see getpeerinfo for node IDs)", None)),
        needs_chain=False,
    ),
    Method(
        "setban", "network", setban,
        "Attempts to add or remove a peer key, an IP or a subnet from the banned list.\n"
        "A banned key or address cannot connect (the CurveZMQ handshake is refused).",
        "null",
        (Param("subnet", "string", "A peer key (64 hex digits), a peer address, an IP or a "
               "subnet (e.g. 192.168.0.0/24)"),
         Param("command", "string", "'add' to add to the list, 'remove' to remove from it"),
         Param("bantime", "number", "time in seconds how long the ban lasts (0 = the node's "
               "-bantime), or the unix time it ends with absolute", 0),
         Param("absolute", "bool", "If set, bantime is an absolute timestamp", False)),
        needs_chain=False,
    ),
    Method(
        "listbanned", "network", listbanned,
        "List all banned keys, IPs and subnets.",
        """\
[
  { "address" : "str", "ban_created" : xxx, "banned_until" : xxx, "ban_duration" : xxx,
    "time_remaining" : xxx, "reason" : "str" }, ...
]""",
        needs_chain=False,
    ),
    Method(
        "clearbanned", "network", clearbanned, "Clear all banned keys, IPs and subnets.",
        "null", needs_chain=False,
    ),
    Method(
        "ping", "network", ping,
        "Requests that a ping be sent to all other nodes, to measure ping time.\n"
        "Results are in getpeerinfo's pingtime and pingwait fields (decimal seconds).",
        "null", needs_chain=False,
    ),
]
