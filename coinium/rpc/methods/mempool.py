"""The mempool's RPCs (in bitcoind's "blockchain" help category): getrawmempool,
getmempoolinfo, getmempoolentry. The mempool lives on the event loop, so these read it directly."""

from __future__ import annotations

from typing import Any

from coinium.rpc.args import parse_hash
from coinium.rpc.encoding import Amount
from coinium.rpc.errors import RPC_INVALID_ADDRESS_OR_KEY, RPC_INVALID_PARAMETER, RpcError
from coinium.rpc.registry import Method, Param
from coinium.rpc.server import RpcContext

# Fields the mempool renders as float coins; sent on as exact 8-decimal amounts.
_INFO_AMOUNTS = ("total_fee", "mempoolminfee", "minrelaytxfee", "incrementalrelayfee")


def exact_amounts(obj: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    out = dict(obj)
    for key in keys:
        if isinstance(out.get(key), float):
            out[key] = Amount.from_coins(out[key])
    return out


def entry_json(ctx: RpcContext, txid: bytes) -> dict[str, Any]:
    info = ctx.node.mempool.entry_info(txid)
    fees = info.get("fees")
    if isinstance(fees, dict):
        info = {**info, "fees": exact_amounts(fees, tuple(fees))}
    return info


async def getrawmempool(ctx: RpcContext, verbose: bool, mempool_sequence: bool) -> Any:
    mempool = ctx.node.mempool
    if verbose and mempool_sequence:
        raise RpcError(RPC_INVALID_PARAMETER,
                       "Verbose results cannot contain mempool sequence values.")
    if verbose:
        return {txid.hex(): entry_json(ctx, txid) for txid in mempool.txids()}
    txids = [txid.hex() for txid in mempool.txids()]
    if mempool_sequence:
        return {"txids": txids, "mempool_sequence": mempool.sequence}
    return txids


async def getmempoolinfo(ctx: RpcContext) -> dict[str, Any]:
    return exact_amounts(ctx.node.mempool.info(), _INFO_AMOUNTS)


async def getmempoolentry(ctx: RpcContext, txid: str) -> dict[str, Any]:
    key = parse_hash(txid, "txid")
    if key not in ctx.node.mempool:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Transaction not in mempool")
    return entry_json(ctx, key)


_ENTRY_RESULT = """\
{
  "vsize" : n,              (numeric) size in bytes (no witness: vsize is the size)
  "weight" : n,             (numeric) 4 x size
  "time" : xxx,             (numeric) when it entered the pool, unix seconds
  "height" : n,             (numeric) chain height when it entered the pool
  "descendantcount" : n,    (numeric) this and the sender's later pending nonces
  "descendantsize" : n,
  "ancestorcount" : n,      (numeric) this and the sender's earlier pending nonces
  "ancestorsize" : n,
  "wtxid" : "hex",          (string) the txid (no witness)
  "fees" : { "base" : n, "modified" : n, "ancestor" : n, "descendant" : n },
  "depends" : [ "hex" ],    (json array) the sender's previous pending nonce, if any
  "spentby" : [ "hex" ],    (json array) the sender's next pending nonce, if any
  "bip125-replaceable" : false,
  "unbroadcast" : false
}"""

METHODS = [
    Method(
        "getrawmempool", "blockchain", getrawmempool,
        "Returns all transaction ids in memory pool as a json array of string transaction ids.\n"
        "Hint: use getmempoolentry to fetch a specific transaction from the mempool.",
        '[ "hex", ... ]    (verbose=false)\n'
        '{ "txid" : { getmempoolentry object }, ... }    (verbose=true)\n'
        '{ "txids" : [ "hex", ... ], "mempool_sequence" : n }    (mempool_sequence=true)',
        (Param("verbose", "bool", "True for a json object, false for array of transaction ids",
               False),
         Param("mempool_sequence", "bool", "If verbose=false, returns a json object with "
               "transaction list and mempool sequence number attached.", False)),
    ),
    Method(
        "getmempoolinfo", "blockchain", getmempoolinfo,
        "Returns details on the active state of the TX memory pool.",
        """\
{
  "loaded" : true, "size" : n, "bytes" : n, "usage" : n, "total_fee" : n, "maxmempool" : n,
  "mempoolminfee" : n, "minrelaytxfee" : n, "incrementalrelayfee" : n, "unbroadcastcount" : n,
  "fullrbf" : false
}""",
    ),
    Method("getmempoolentry", "blockchain", getmempoolentry,
           "Returns mempool data for given transaction", _ENTRY_RESULT,
           (Param("txid", "hex", "The transaction id (must be in mempool)"),)),
]
