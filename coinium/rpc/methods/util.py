"""Util: estimatesmartfee and validateaddress (bitcoind's ``src/rpc/fees.cpp``, ``misc.cpp``)."""

from __future__ import annotations

from typing import Any

from coinium.chain.chainstate import ChainState
from coinium.core.block import Block
from coinium.crypto.address import AddressError, decode_address
from coinium.mempool import fee_estimate
from coinium.mempool.pool import coins
from coinium.rpc.errors import RPC_INVALID_PARAMETER, RpcError
from coinium.rpc.registry import Method, Param
from coinium.rpc.server import RpcContext


def _recent_blocks(chain: ChainState, count: int) -> list[Block]:
    blocks = []
    for height in range(max(1, chain.height - count + 1), chain.height + 1):
        block = chain.get_block(chain.hash_at_height(height))
        if block is not None:
            blocks.append(block)
    return blocks


async def estimatesmartfee(ctx: RpcContext, conf_target: int, estimate_mode: str) -> dict:
    if not 1 <= conf_target <= fee_estimate.MAX_TARGET:
        raise RpcError(RPC_INVALID_PARAMETER, "Invalid conf_target, must be between 1 and "
                       f"{fee_estimate.MAX_TARGET}")  # fmt: skip
    mode = estimate_mode.lower()
    if mode not in fee_estimate.MODES:
        raise RpcError(RPC_INVALID_PARAMETER, 'Invalid estimate_mode parameter, must be one of: '
                       '"unset", "economical", "conservative"')  # fmt: skip
    blocks = await ctx.on_chain(_recent_blocks, fee_estimate.lookback(conf_target))
    mempool = ctx.node.mempool
    pending = [(entry.fee_rate, entry.size) for entry in mempool.entries()]
    found = fee_estimate.estimate(blocks, pending, mempool.min_fee_rate(), conf_target, mode)
    if found.rate is None:
        return {"errors": ["Insufficient data or no feerate found"], "blocks": found.target}
    return {"feerate": coins(found.rate), "blocks": found.target}


async def validateaddress(ctx: RpcContext, address: str) -> dict[str, Any]:
    try:
        _, account = decode_address(address, ctx.node.params.address_prefix)
    except AddressError as exc:
        return {"isvalid": False, "error_locations": [], "error": str(exc)}
    return {"isvalid": True, "address": address.lower(), "accountid": account.hex(),
            "isscript": False, "iswitness": False}  # fmt: skip


METHODS = [
    Method(
        "estimatesmartfee", "util", estimatesmartfee,
        "Estimates the approximate fee per kilobyte needed for a transaction to begin\n"
        "confirmation within conf_target blocks, from the fee rates the recent blocks took\n"
        "and the transactions waiting in the mempool (coinium.mempool.fee_estimate). Never\n"
        "less than the fee the mempool accepts now.",
        """\
{
  "feerate" : n,      (numeric, optional) estimate fee rate in coins/kvB
  "errors" : [ "str", ... ],  (json array, optional) Errors encountered during processing
  "blocks" : n        (numeric) block number where estimate was found
}""",
        (Param("conf_target", "number", "Confirmation target in blocks (1 - 1008)"),
         Param("estimate_mode", "string", 'The fee estimate mode: "unset", "economical" or '
               '"conservative" (the 85th percentile of recent blocks, not the median)',
               "economical")),
        examples=("estimatesmartfee 6",),
    ),
    Method(
        "validateaddress", "util", validateaddress,
        "Return information about the given address. An address is valid when it decodes\n"
        "(bech32m, checksum, 20-byte account id) with this network's prefix.",
        """\
{
  "isvalid" : true|false,    (boolean) If the address is valid or not
  "address" : "str",         (string, optional) The address validated
  "accountid" : "hex",       (string, optional) The account id it names (bitcoind:
                             scriptPubKey)
  "isscript" : false, "iswitness" : false,
  "error_locations" : [ ],   (json array, optional) bitcoind's; always empty here
  "error" : "str"            (string, optional) Why it is not valid
}""",
        (Param("address", "string", "The address to validate"),),
        needs_chain=False,
    ),
]
