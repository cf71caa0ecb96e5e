"""Mining: getmininginfo, getnetworkhashps, getblocktemplate, submitblock, and (regtest)
generatetoaddress."""

from __future__ import annotations

import asyncio
from typing import Any

from coinium import kernels
from coinium.chain.chainstate import AcceptResult, AcceptStatus, ChainState
from coinium.consensus.pow import decode_compact
from coinium.core.block import MAX_BLOCK_SIZE, MAX_BLOCK_TXS, Block
from coinium.core.params import GENESIS_RECIPIENT
from coinium.rpc.args import parse_address, parse_block
from coinium.rpc.errors import (
    RPC_INTERNAL_ERROR,
    RPC_INVALID_PARAMETER,
    RPC_MISC_ERROR,
    RpcError,
)
from coinium.rpc.registry import Method, Param
from coinium.rpc.server import RpcContext
from coinium.rpc.shapes import difficulty, target_hex

DEFAULT_HASHPS_BLOCKS = 120
DEFAULT_MAX_TRIES = 1_000_000
MINE_CHUNK = 1 << 16  # nonces per kernel call, between checks of the try budget
NONCE_RANGE = "0000000000000000ffffffffffffffff"  # the u64 nonce, as BIP22 writes a range


# --- getnetworkhashps / getmininginfo ----------------------------------------------------------
def network_hashps(chain: ChainState, nblocks: int, height: int) -> float:
    """bitcoind's GetNetworkHashPS: chain work over the spread of block times of the last
    ``nblocks`` blocks ending at ``height``; exact integers, one division at the end. With no
    retarget window (ASERT adjusts every block), nblocks <= 0 means the default 120."""
    if height < -1 or height > chain.height:
        raise RpcError(RPC_INVALID_PARAMETER, "Block does not exist at specified height")
    end = chain.tip if height == -1 else chain.index[chain.main_chain[height]]
    if end.height == 0:
        return 0
    lookup = DEFAULT_HASHPS_BLOCKS if nblocks <= 0 else nblocks
    lookup = min(lookup, end.height)
    start = chain.index[chain.main_chain[end.height - lookup]]
    times = [chain.index[chain.main_chain[h]].header.timestamp
             for h in range(start.height, end.height + 1)]  # fmt: skip
    spread = max(times) - min(times)
    if spread == 0:
        return 0
    return (end.chainwork - start.chainwork) / spread


async def getnetworkhashps(ctx: RpcContext, nblocks: int, height: int) -> float:
    return await ctx.on_chain(network_hashps, nblocks, height)


async def getmininginfo(ctx: RpcContext) -> dict[str, Any]:
    def read(chain: ChainState) -> dict[str, Any]:
        bits = chain.tip.header.bits
        return {
            "blocks": chain.height,
            "bits": f"{bits:08x}",
            "difficulty": difficulty(bits, chain.params),
            "target": target_hex(bits),
            "networkhashps": network_hashps(chain, DEFAULT_HASHPS_BLOCKS, -1),
        }

    info = await ctx.on_chain(read)
    miner = ctx.node.miner
    info["pooledtx"] = len(ctx.node.mempool)
    info["chain"] = ctx.node.params.name
    info["localhashps"] = float(miner.hashrate) if miner is not None else 0.0
    info["warnings"] = []
    return info


# --- getblocktemplate -------------------------------------------------------------------------
async def getblocktemplate(ctx: RpcContext, template_request: dict[str, Any] | None) -> Any:
    request = template_request or {}
    mode = request.get("mode", "template")
    if mode != "template":
        raise RpcError(RPC_INVALID_PARAMETER, "Invalid mode")
    node = ctx.node
    sequence = node.mempool.sequence
    # The coinbase here is a placeholder: the miner writes its own, paying coinbasevalue.
    block = await node.block_template(GENESIS_RECIPIENT)
    header = block.header
    mintime = await ctx.on_chain(
        lambda chain: chain.median_time_past(chain.index[header.prev_hash]) + 1)
    coinbase, txs = block.transactions[0], block.transactions[1:]
    position: dict[tuple[bytes, int], int] = {}  # (sender, nonce) -> 1-based template index
    entries = []
    for i, tx in enumerate(txs, 1):
        position[(tx.sender, tx.nonce)] = i
        parent = position.get((tx.sender, tx.nonce - 1))
        entries.append({
            "data": tx.raw.hex(),
            "txid": tx.txid.hex(),
            "hash": tx.txid.hex(),
            "depends": [parent] if parent is not None else [],
            "fee": tx.fee,
            "size": tx.size,
            "weight": 4 * tx.size,
        })  # fmt: skip
    return {
        "capabilities": [],
        "version": header.version,
        "rules": [],
        "vbavailable": {},
        "vbrequired": 0,
        "previousblockhash": header.prev_hash.hex(),
        "stateroot": header.state_root.hex(),
        "transactions": entries,
        "coinbaseaux": {},
        "coinbasevalue": coinbase.amount,
        "longpollid": f"{header.prev_hash.hex()}{sequence}",
        "target": f"{decode_compact(header.bits):064x}",
        "mintime": mintime,
        "mutable": ["time", "transactions", "prevblock"],
        "noncerange": NONCE_RANGE,
        "sizelimit": MAX_BLOCK_SIZE,
        "txlimit": MAX_BLOCK_TXS,
        "curtime": header.timestamp,
        "bits": f"{header.bits:08x}",
        "height": header.height,
    }


# --- submitblock ------------------------------------------------------------------------------
def bip22_result(result: AcceptResult, known: bool) -> str | None:
    """bitcoind's submitblock answer for an intake outcome (``known``: in the block index)."""
    status = result.status
    if status == AcceptStatus.NEW_TIP:
        return None
    if status == AcceptStatus.DUPLICATE:
        return "duplicate" if known else "duplicate-inconclusive"  # known, or a held orphan
    if status in (AcceptStatus.SIDE_BRANCH, AcceptStatus.ORPHAN):
        return "inconclusive"  # stored, not (yet) on the best chain, or waiting for its parent
    return result.reason or "rejected"


async def submitblock(ctx: RpcContext, hexdata: str, dummy: str | None) -> str | None:
    block = parse_block(hexdata)
    result = await ctx.node.submit_block(block)
    known = await ctx.on_chain(lambda chain: block.hash in chain.index)
    return bip22_result(result, known)


# --- generatetoaddress ------------------------------------------------------------------------
def mine_bounded(block: Block, tries: int) -> tuple[Block | None, int]:
    """Search nonces from 0 for at most ``tries`` hashes; (block or None, tries left).
    Runs in a worker thread: the kernels release the GIL."""
    target = decode_compact(block.header.bits)
    raw = block.header.encode()
    nonce = 0
    while tries > 0:
        count = min(MINE_CHUNK, tries)
        found, done = kernels.pow_search(raw, target, nonce, count)
        tries -= done
        if found is not None:
            return Block(block.header.with_nonce(found), block.transactions), tries
        nonce += count
    return None, 0


async def generatetoaddress(ctx: RpcContext, nblocks: int, address: str,
                            maxtries: int) -> list[str]:  # fmt: skip
    node = ctx.node
    if node.params.retarget:
        raise RpcError(RPC_MISC_ERROR, "This method can only be used on regtest")
    recipient = parse_address(address, node.params, "Error: Invalid address")
    loop = asyncio.get_running_loop()
    hashes: list[str] = []
    tries = maxtries
    for _ in range(nblocks):
        template = await node.block_template(recipient)
        block, tries = await loop.run_in_executor(None, mine_bounded, template, tries)
        if block is None:
            break  # out of tries: bitcoind returns what it mined so far
        result = await node.submit_block(block)
        if result.status != AcceptStatus.NEW_TIP:
            raise RpcError(RPC_INTERNAL_ERROR, "ProcessNewBlock, block not accepted: "
                           f"{result.status.value} {result.reason or ''}".rstrip())  # fmt: skip
        hashes.append(block.hash.hex())
    return hashes


async def setgenerate(ctx: RpcContext, generate: bool, genproclimit: int) -> None:
    """bitcoind's old setgenerate: the in-node miner on or off (the dashboard's admin panel
    calls this too). It mines to the node's --miner-address."""
    node = ctx.node
    if not generate:
        await node.stop_mining()
        return
    if genproclimit == 0:
        await node.stop_mining()
        return
    if not -1 <= genproclimit <= 1024:
        raise RpcError(RPC_INVALID_PARAMETER, "genproclimit must be -1 (all cores) to 1024")
    try:
        await node.start_mining(None if genproclimit == -1 else genproclimit)
    except ValueError as exc:
        raise RpcError(RPC_MISC_ERROR, f"Error: {exc}") from None


async def getgenerate(ctx: RpcContext) -> bool:
    return ctx.node.miner is not None


_TEMPLATE_HELP = """\
Returns the data needed to construct a block to work on (BIP22, adapted to Coinium).
The miner writes its own coinbase: height, its account id, coinbasevalue (subsidy + fees,
in base units) and an optional extra; the Merkle root is over the coinbase txid followed by
the listed txids (keyed BLAKE3, an odd node carried up, see PROTOCOL.md). The 124-byte
version-2 header is version, height, previousblockhash, Merkle root, stateroot (the root of
the state after previousblockhash, which the header commits to), curtime (at least mintime),
bits, nonce (a u64: noncerange). Deviations from bitcoind: no segwit rules (rules is
empty and not required), no sigops, no coinbaseaux or witness commitment, "txlimit" (the
most transactions a block may hold) is ours, "fee" is in base units, "depends" names the
sender's previous nonce in this template, only mode "template" (no proposals) and no
long polling (longpollid is given, the call never waits)."""

METHODS = [
    Method(
        "setgenerate", "generating", setgenerate,
        "Turn the in-node miner on or off (bitcoind's old setgenerate). It mines to the\n"
        "address the node was started with (--miner-address).",
        "null",
        (Param("generate", "bool", "true to mine, false to stop"),
         Param("genproclimit", "number", "Mining processes, -1 for the node's default "
               "(--miner-processes), 0 stops", -1)),
        examples=("setgenerate true 2", "setgenerate false"),
    ),
    Method(
        "getgenerate", "generating", getgenerate,
        "Whether the in-node miner is running.",
        "true|false    (boolean) If the node is mining",
        needs_chain=False,
    ),
    Method(
        "getmininginfo", "mining", getmininginfo,
        "Returns a json object containing mining-related information. localhashps is the\n"
        "node's own miner (0 when it does not mine).",
        """\
{
  "blocks" : n, "bits" : "hex", "difficulty" : n, "target" : "hex",
  "networkhashps" : n,      (numeric) estimated hashes per second over the last 120 blocks
  "pooledtx" : n, "chain" : "str",
  "localhashps" : n,        (numeric) the node's own miner, hashes per second
  "warnings" : [ "str", ... ]
}""",
    ),
    Method(
        "getnetworkhashps", "mining", getnetworkhashps,
        "Returns the estimated network hashes per second based on the last n blocks.\n"
        "Pass in [height] to estimate the network speed at the time when a certain block was "
        "found.",
        "n    (numeric) Hashes per second estimated",
        (Param("nblocks", "number", "The number of previous blocks to calculate estimate from, "
               "or -1/0 for the default 120 (the difficulty adjusts every block)",
               DEFAULT_HASHPS_BLOCKS),
         Param("height", "number", "To estimate at the time of the given height, -1 for the tip",
               -1)),
    ),
    Method(
        "getblocktemplate", "mining", getblocktemplate, _TEMPLATE_HELP,
        """\
{
  "version" : n, "previousblockhash" : "hex", "height" : n,
  "stateroot" : "hex",      (string) root of the state after previousblockhash
  "transactions" : [ { "data" : "hex", "txid" : "hex", "hash" : "hex", "depends" : [ n ],
                       "fee" : n, "size" : n, "weight" : n }, ... ],
  "coinbasevalue" : n,      (numeric) base units for the coinbase (subsidy + fees)
  "target" : "hex", "bits" : "hex", "mintime" : xxx, "curtime" : xxx,
  "mutable" : [ "time", "transactions", "prevblock" ], "noncerange" : "hex",
  "sizelimit" : n, "txlimit" : n, "longpollid" : "str",
  "capabilities" : [], "rules" : [], "vbavailable" : {}, "vbrequired" : 0, "coinbaseaux" : {}
}""",
        (Param("template_request", "object", 'Format of the template: {"mode": "template"}',
               None),),
    ),
    Method(
        "submitblock", "mining", submitblock,
        "Attempts to submit new block to network.\n"
        "Returns null when the block became the tip; otherwise a BIP22 string: \"duplicate\",\n"
        "\"duplicate-invalid\", \"duplicate-inconclusive\" (an orphan already held),\n"
        "\"inconclusive\" (stored on a side branch, or held until its parent arrives), or the\n"
        "consensus reason it broke (e.g. \"high-hash\", \"bad-txnmrklroot\").",
        'null or "str"',
        (Param("hexdata", "hex", "the hex-encoded block data to submit"),
         Param("dummy", "string", "dummy value, for compatibility with BIP22. This value is "
               "ignored.", None)),
    ),
    Method(
        "generatetoaddress", "generating", generatetoaddress,
        "Mine blocks immediately to a specified address before the RPC call returns (regtest\n"
        "only). Each block holds the best mempool transactions.",
        '[ "hex", ... ]    (json array) hashes of blocks generated',
        (Param("nblocks", "number", "How many blocks are generated."),
         Param("address", "string", "The address to send the newly generated coins to."),
         Param("maxtries", "number", "How many iterations to try.", DEFAULT_MAX_TRIES)),
        examples=("generatetoaddress 11 rcn1...",),
    ),
]
