"""Blockchain: the chain's tip, blocks, headers, forks, and marking blocks invalid by hand."""

from __future__ import annotations

from typing import Any

from coinium.chain.chainstate import ChainState
from coinium.rpc.args import parse_hash
from coinium.rpc.errors import (
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_INVALID_PARAMETER,
    RPC_MISC_ERROR,
    RpcError,
)
from coinium.rpc.methods.staking import finality_fields
from coinium.rpc.registry import Method, Param
from coinium.rpc.server import RpcContext
from coinium.rpc.shapes import block_json, difficulty, has_data, header_fields, target_hex
from coinium.store.records import IndexEntry


def _entry(chain: ChainState, block_hash: bytes) -> IndexEntry:
    entry = chain.index.get(block_hash)
    if entry is None:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
    return entry


def best_header(chain: ChainState) -> IndexEntry:
    """The most-work block not known invalid (bitcoind's best header); ties: first seen."""
    best = chain.tip
    for entry in chain.index.values():
        if not entry.status.invalid and (entry.chainwork, -entry.sequence) > (
            best.chainwork, -best.sequence
        ):
            best = entry
    return best


def size_on_disk(chain: ChainState) -> int:
    """Bytes of the LMDB map in use (its file is sparse and larger)."""
    env = chain.store.env
    return (env.info()["last_pgno"] + 1) * env.stat()["psize"]


# --- getblockchaininfo and the small ones -------------------------------------------------------
def _blockchain_info(chain: ChainState) -> dict[str, Any]:
    tip = chain.tip
    return {
        "chain": chain.params.name,
        "blocks": chain.height,
        "headers": best_header(chain).height,
        "bestblockhash": tip.hash.hex(),
        "bits": f"{tip.header.bits:08x}",
        "target": target_hex(tip.header.bits),
        "difficulty": difficulty(tip.header.bits, chain.params),
        "time": tip.header.timestamp,
        "mediantime": chain.median_time_past(tip),
        # No block download yet: every block the node has is validated when it arrives.
        "verificationprogress": 1.0,
        "initialblockdownload": False,
        "chainwork": f"{tip.chainwork:064x}",
        "size_on_disk": size_on_disk(chain),
        "pruned": False,
        **finality_fields(chain),
        "warnings": [],
    }


async def getblockchaininfo(ctx: RpcContext) -> dict[str, Any]:
    return await ctx.on_chain(_blockchain_info)


async def getblockcount(ctx: RpcContext) -> int:
    return await ctx.on_chain(lambda chain: chain.height)


async def getbestblockhash(ctx: RpcContext) -> str:
    return await ctx.on_chain(lambda chain: chain.tip.hash.hex())


async def getdifficulty(ctx: RpcContext) -> float:
    return await ctx.on_chain(lambda chain: difficulty(chain.tip.header.bits, chain.params))


def _hash_at(chain: ChainState, height: int) -> str:
    block_hash = chain.hash_at_height(height)
    if block_hash is None:
        raise RpcError(RPC_INVALID_PARAMETER, "Block height out of range")
    return block_hash.hex()


async def getblockhash(ctx: RpcContext, height: int) -> str:
    return await ctx.on_chain(_hash_at, height)


# --- headers and blocks ---------------------------------------------------------------------------
def _header(chain: ChainState, block_hash: bytes, verbose: bool) -> Any:
    entry = _entry(chain, block_hash)
    if not verbose:
        return entry.header.encode().hex()
    block = chain.get_block(block_hash) if has_data(entry) else None
    return header_fields(chain, entry, block)


async def getblockheader(ctx: RpcContext, blockhash: str, verbose: bool) -> Any:
    return await ctx.on_chain(_header, parse_hash(blockhash, "blockhash"), verbose)


def _block(chain: ChainState, block_hash: bytes, verbosity: int) -> Any:
    entry = _entry(chain, block_hash)
    block = chain.get_block(block_hash) if has_data(entry) else None
    if block is None:
        raise RpcError(RPC_MISC_ERROR, "Block not available (its data was discarded as invalid)")
    if verbosity <= 0:
        return block.encode().hex()
    return block_json(chain, entry, block, verbosity)


async def getblock(ctx: RpcContext, blockhash: str, verbosity: int | bool) -> Any:
    level = int(verbosity)  # true/false are bitcoind's old "verbose": 1/0
    return await ctx.on_chain(_block, parse_hash(blockhash, "blockhash"), level)


# --- forks ----------------------------------------------------------------------------------------
def _chain_tips(chain: ChainState) -> list[dict[str, Any]]:
    parents = {e.prev_hash for e in chain.index.values() if e.height > 0}
    tips = [e for e in chain.index.values() if e.hash not in parents]
    if chain.tip.hash in parents:  # always report the active tip (its children are invalid)
        tips.append(chain.tip)
    out = []
    for entry in sorted(tips, key=lambda e: (-e.height, e.sequence)):
        fork = entry
        while not chain.is_on_main_chain(fork.hash):
            fork = chain.index[fork.prev_hash]
        if entry.hash == chain.tip.hash:
            status = "active"
        elif entry.status.invalid:
            status = "invalid"
        elif not has_data(entry):
            status = "headers-only"
        else:
            # Stored with its data and not invalid: bitcoind would say "valid-headers" for a
            # branch never connected and "valid-fork" for one connected then reorganized away;
            # the index does not record which, so both read valid-fork.
            status = "valid-fork"
        out.append({
            "height": entry.height,
            "hash": entry.hash.hex(),
            "branchlen": entry.height - fork.height,
            "status": status,
        })  # fmt: skip
    return out


async def getchaintips(ctx: RpcContext) -> list[dict[str, Any]]:
    return await ctx.on_chain(_chain_tips)


async def invalidateblock(ctx: RpcContext, blockhash: str) -> None:
    block_hash = parse_hash(blockhash, "blockhash")
    try:
        await ctx.node.invalidate_block(block_hash)
    except KeyError:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found") from None
    except ValueError as exc:  # the genesis block
        raise RpcError(RPC_MISC_ERROR, str(exc)) from None


async def reconsiderblock(ctx: RpcContext, blockhash: str) -> None:
    block_hash = parse_hash(blockhash, "blockhash")
    try:
        await ctx.node.reconsider_block(block_hash)
    except KeyError:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found") from None


_BLOCKHASH = Param("blockhash", "hex", "The block hash")

_HEADER_RESULT = """\
{                                 (json object)
  "hash" : "hex",                 (string) the block hash (same as provided)
  "confirmations" : n,            (numeric) confirmations, or -1 if not on the main chain
  "height" : n,                   (numeric) the block height
  "version" : n,                  (numeric) the block version
  "versionHex" : "hex",           (string) the block version, 8 hex digits
  "merkleroot" : "hex",           (string) the Merkle root of the transaction ids
  "stateroot" : "hex",            (string) root of the state this block is applied to (the
                                  state after its parent)
  "time" : xxx,                   (numeric) the block time, unix seconds
  "mediantime" : xxx,             (numeric) median time of this block and its 10 ancestors
  "nonce" : n,                    (numeric) the nonce (64 bits here)
  "bits" : "hex",                 (string) the compact target, 8 hex digits
  "target" : "hex",               (string) the target, 64 hex digits
  "difficulty" : n,               (numeric) target of the network's easiest block / this target
  "chainwork" : "hex",            (string) expected hashes to build the chain up to here
  "nTx" : n,                      (numeric) number of transactions (0 if the data is gone)
  "previousblockhash" : "hex",    (string, optional) absent for genesis
  "nextblockhash" : "hex"         (string, optional) the next block on the main chain
}"""

METHODS = [
    Method(
        "getblockchaininfo", "blockchain", getblockchaininfo,
        "Returns an object containing various state info regarding blockchain processing.\n"
        "verificationprogress is 1 and initialblockdownload false: blocks are validated as\n"
        "they arrive and there is no block download yet. difficulty is relative to the\n"
        "network's easiest target (1.0 on regtest), not to Bitcoin's 0x1d00ffff. warnings is\n"
        "an array of strings, as in bitcoind 28.",
        """\
{
  "chain" : "str",              (string) main, test or regtest
  "blocks" : n,                 (numeric) height of the main chain's tip (genesis = 0)
  "headers" : n,                (numeric) height of the most-work known valid block
  "bestblockhash" : "hex",      (string) the tip's hash
  "bits" : "hex",               (string) the tip's compact target
  "target" : "hex",             (string) the tip's target
  "difficulty" : n,             (numeric) the tip's difficulty
  "time" : xxx,                 (numeric) the tip's block time
  "mediantime" : xxx,           (numeric) the tip's median time past
  "verificationprogress" : n,   (numeric) always 1
  "initialblockdownload" : false,
  "chainwork" : "hex",          (string) total work of the main chain
  "size_on_disk" : n,           (numeric) bytes of the chain database in use
  "pruned" : false,
  "warnings" : [ "str", ... ]
}""",
    ),
    Method("getblockcount", "blockchain", getblockcount,
           "Returns the height of the most-work fully-validated chain (genesis is 0).",
           "n    (numeric) The current block count"),
    Method("getbestblockhash", "blockchain", getbestblockhash,
           "Returns the hash of the best (tip) block in the most-work fully-validated chain.",
           '"hex"    (string) the block hash, hex-encoded'),
    Method("getdifficulty", "blockchain", getdifficulty,
           "Returns how many times harder the tip's target is than the network's easiest "
           "target.", "n    (numeric) the difficulty"),
    Method("getblockhash", "blockchain", getblockhash,
           "Returns hash of block in best-block-chain at height provided.",
           '"hex"    (string) The block hash',
           (Param("height", "number", "The height index"),), examples=("getblockhash 1000",)),
    Method(
        "getblockheader", "blockchain", getblockheader,
        "If verbose is false, returns the serialized 124-byte header, hex-encoded.\n"
        "If verbose is true, returns an Object with information about the header.",
        _HEADER_RESULT + '\n\nResult (for verbose=false):\n"hex"    (string) the header',
        (_BLOCKHASH, Param("verbose", "bool", "true for a json object, false for the hex-encoded "
                           "data", True)),
    ),
    Method(
        "getblock", "blockchain", getblock,
        "If verbosity is 0, returns the serialized block, hex-encoded.\n"
        "If verbosity is 1, returns an Object with information about the block and its txids.\n"
        "If verbosity is 2, each transaction is the object decoderawtransaction returns (with\n"
        "its fee). There is no strippedsize or weight: blocks have no witness data.",
        "The getblockheader fields, plus\n"
        '  "size" : n,            (numeric) the block size in bytes\n'
        '  "tx" : [ "hex" | {...}, ... ]  txids (verbosity 1) or decoded transactions (2)',
        (_BLOCKHASH, Param("verbosity", "verbosity", "0 for hex, 1 for a json object, 2 for a "
                           "json object with transaction data", 1, aliases=("verbose",))),
    ),
    Method(
        "getchaintips", "blockchain", getchaintips,
        "Return information about all known tips in the block tree, including the main chain\n"
        "as well as orphaned branches. A stored, not invalid side branch reads 'valid-fork'\n"
        "(the index does not tell a never-connected branch, bitcoind's 'valid-headers', apart).",
        """\
[
  {
    "height" : n,          (numeric) height of the chain tip
    "hash" : "hex",        (string) block hash of the tip
    "branchlen" : n,       (numeric) length of the branch, 0 for the main chain
    "status" : "str"       (string) active, valid-fork, valid-headers, headers-only, invalid
  }, ...
]""",
    ),
    Method("invalidateblock", "blockchain", invalidateblock,
           "Permanently marks a block as invalid, as if it violated a consensus rule.",
           "null    (json null)", (Param("blockhash", "hex", "the hash of the block to mark as "
                                         "invalid"),)),
    Method("reconsiderblock", "blockchain", reconsiderblock,
           "Removes invalidity status of a block, its ancestors and its descendants, "
           "reconsider them for activation.\nThis can be used to undo the effects of "
           "invalidateblock.", "null    (json null)",
           (Param("blockhash", "hex", "the hash of the block to reconsider"),)),
]
