"""Chain statistics: getblockstats, getchaintxstats, getstateinfo (bitcoind's gettxoutsetinfo
for an account state) and verifychain.

Amounts in getblockstats are integers of base units and fee rates base units per byte, as
bitcoind gives satoshis and sat/vB there. Accounts instead of UTXOs change a few fields:

- ``ins`` counts the non-coinbase transactions (each spends from one account), ``outs`` every
  transaction (each pays one account, the coinbase too); ``total_out`` is what the non-coinbase
  transactions moved;
- the ``utxo_*`` and segwit (``sw*``) fields do not exist: no coins are created or spent as
  outputs, and no transaction has witness data.

``getstateinfo`` is the account model's ``gettxoutsetinfo``: ``accounts`` where bitcoind counts
``txouts`` (namespace 0x01 of the state), ``records`` over every namespace, ``total_amount`` over
every balance, ``hash_serialized`` = BLAKE3 over every record of every namespace in key order, each
serialized as namespace u8 | key length u8 | key | value length u32 LE | value (bitcoind's
hash_serialized_3 is SHA256d over its own serialization, so the two are not comparable), and
``stateroot``, the state tree's root: the committed root, which the tip's child header carries.
There is no ``muhash`` and no ``transactions``/``bogosize``.
"""

from __future__ import annotations

import logging
import struct
import time
from typing import Any

from blake3 import blake3

from coinium.chain.chainstate import ChainState
from coinium.chain.verify import (
    ChainCheckError,
    check_linkage,
    check_recent,
    check_state_root,
    check_tip_root,
)
from coinium.consensus.subsidy import block_subsidy
from coinium.core.account import Account
from coinium.core.block import Block
from coinium.core.state import NS_ACCOUNT
from coinium.mempool.pool import coins
from coinium.rpc.args import parse_hash
from coinium.rpc.errors import RPC_INVALID_ADDRESS_OR_KEY, RPC_INVALID_PARAMETER, RpcError
from coinium.rpc.methods.blockchain import size_on_disk
from coinium.rpc.registry import Method, Param
from coinium.rpc.server import RpcContext
from coinium.store.records import IndexEntry

log = logging.getLogger("coinium.rpc")
PERCENTILES = (10, 25, 50, 75, 90)  # bitcoind's feerate_percentiles, by size weight
BLOCK_STATS = (
    "avgfee", "avgfeerate", "avgtxsize", "blockhash", "feerate_percentiles", "height", "ins",
    "maxfee", "maxfeerate", "maxtxsize", "medianfee", "mediantime", "mediantxsize", "minfee",
    "minfeerate", "mintxsize", "outs", "subsidy", "time", "total_out", "total_size", "totalfee",
    "txs",
)  # fmt: skip


def _main_chain_entry(chain: ChainState, hash_or_height: int | str) -> IndexEntry:
    if isinstance(hash_or_height, int):
        if not 0 <= hash_or_height <= chain.height:
            raise RpcError(RPC_INVALID_PARAMETER, f"Target block height {hash_or_height} after "
                           f"current tip {chain.height}" if hash_or_height > 0 else
                           f"Target block height {hash_or_height} is negative")  # fmt: skip
        block_hash = chain.hash_at_height(hash_or_height)
    else:
        block_hash = parse_hash(hash_or_height, "blockhash")
    entry = chain.index.get(block_hash) if block_hash is not None else None
    if entry is None:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
    return entry


def _block(chain: ChainState, entry: IndexEntry) -> Block:
    block = chain.get_block(entry.hash)
    if block is None:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Block not available")
    return block


def _median(values: list[int]) -> int:
    """bitcoind's CalculateTruncatedMedian: the mean of the middle two, rounded down."""
    if not values:
        return 0
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) // 2


def _feerate_percentiles(rates_and_sizes: list[tuple[int, int]]) -> list[int]:
    """bitcoind's CalculatePercentilesByWeight, with sizes for weights."""
    if not rates_and_sizes:
        return [0] * len(PERCENTILES)
    ordered = sorted(rates_and_sizes)
    total = sum(size for _, size in ordered)
    bounds = [total * p / 100 for p in PERCENTILES]
    result: list[int] = []
    cumulative = 0
    index = 0
    for rate, size in ordered:
        cumulative += size
        while index < len(bounds) and cumulative >= bounds[index]:
            result.append(rate)
            index += 1
    while len(result) < len(PERCENTILES):
        result.append(ordered[-1][0])
    return result


def block_stats(chain: ChainState, entry: IndexEntry) -> dict[str, Any]:
    block = _block(chain, entry)
    paying = [tx for tx in block.transactions if not tx.is_coinbase]
    fees = [tx.fee for tx in paying]
    sizes = [tx.size for tx in paying]
    rates = [tx.fee // tx.size for tx in paying]  # base units per byte, as sat/vB
    return {
        "avgfee": sum(fees) // len(fees) if fees else 0,
        "avgfeerate": sum(fees) // sum(sizes) if sizes else 0,
        "avgtxsize": sum(sizes) // len(sizes) if sizes else 0,
        "blockhash": entry.hash.hex(),
        "feerate_percentiles": _feerate_percentiles(list(zip(rates, sizes, strict=True))),
        "height": entry.height,
        "ins": len(paying),
        "maxfee": max(fees, default=0),
        "maxfeerate": max(rates, default=0),
        "maxtxsize": max(sizes, default=0),
        "medianfee": _median(fees),
        "mediantime": chain.median_time_past(entry),
        "mediantxsize": _median(sizes),
        "minfee": min(fees, default=0),
        "minfeerate": min(rates, default=0),
        "mintxsize": min(sizes, default=0),
        "outs": len(block.transactions),
        "subsidy": block_subsidy(entry.height, chain.params),
        "time": entry.header.timestamp,
        "total_out": sum(tx.amount for tx in paying),
        "total_size": sum(sizes),
        "totalfee": sum(fees),
        "txs": len(block.transactions),
    }


async def getblockstats(ctx: RpcContext, hash_or_height: Any, stats: list[Any] | None) -> Any:
    wanted = set(stats or ())
    for name in wanted:
        if name not in BLOCK_STATS:
            raise RpcError(RPC_INVALID_PARAMETER, f"Invalid selected statistic '{name}'")
    found = await ctx.on_chain(lambda chain: block_stats(
        chain, _main_chain_entry(chain, hash_or_height)))  # fmt: skip
    return {k: v for k, v in found.items() if k in wanted} if wanted else found


# --- getchaintxstats ----------------------------------------------------------------------------
def _tx_count_through(chain: ChainState, entry: IndexEntry) -> int:
    """Transactions in the main chain up to and including ``entry``: the transaction index holds
    exactly the main chain's, less those of the blocks above ``entry``."""
    with chain.store.read() as txn:
        total = txn.stat(chain.store.db["txindex"])["entries"]
    for height in range(entry.height + 1, chain.height + 1):
        above = chain.get_block(chain.hash_at_height(height))
        total -= len(above.transactions)
    return total


def chain_tx_stats(chain: ChainState, nblocks: int | None, blockhash: str | None) -> dict:
    entry = chain.tip
    if blockhash is not None:
        entry = chain.index.get(parse_hash(blockhash, "blockhash"))
        if entry is None:
            raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
        if not chain.is_on_main_chain(entry.hash):
            raise RpcError(RPC_INVALID_PARAMETER, "Block is not in main chain")
    spacing = chain.params.target_spacing
    if nblocks is None:
        nblocks = max(0, min(30 * 24 * 3600 // spacing, entry.height - 1))  # a month, as bitcoind
    if nblocks < 0 or (nblocks > 0 and nblocks >= entry.height):
        raise RpcError(RPC_INVALID_PARAMETER, "Invalid block count: should be between 0 and the "
                       "block's height - 1")  # fmt: skip
    count = _tx_count_through(chain, entry)
    result: dict[str, Any] = {
        "time": entry.header.timestamp,
        "txcount": count,
        "window_final_block_hash": entry.hash.hex(),
        "window_final_block_height": entry.height,
        "window_block_count": nblocks,
    }
    if nblocks > 0:
        start = chain.index[chain.hash_at_height(entry.height - nblocks)]
        interval = entry.header.timestamp - start.header.timestamp
        window_txs = count - _tx_count_through(chain, start)
        result["window_interval"] = interval
        result["window_tx_count"] = window_txs
        if interval > 0:
            result["txrate"] = window_txs / interval
    return result


async def getchaintxstats(ctx: RpcContext, nblocks: int | None, blockhash: str | None) -> dict:
    return await ctx.on_chain(chain_tx_stats, nblocks, blockhash)


# --- getstateinfo -------------------------------------------------------------------------------
def state_info(chain: ChainState) -> dict[str, Any]:
    """Read on the chain thread, so the records, the tip and the root are one state."""
    digest = blake3()
    records = accounts = funded = total = 0
    for (namespace, key), value in chain.iter_records():
        digest.update(_RECORD_HEAD(namespace, len(key)) + key + _VALUE_LENGTH(len(value)) + value)
        records += 1
        if namespace == NS_ACCOUNT:
            balance = Account.decode(value).balance
            accounts += 1
            total += balance
            funded += balance > 0
    tip = chain.tip
    return {
        "height": tip.height,
        "bestblock": tip.hash.hex(),
        "accounts": accounts,
        "funded_accounts": funded,
        "records": records,
        "total_amount": coins(total),
        "total_units": total,
        "hash_serialized": digest.hexdigest(),
        "stateroot": chain.state_root().hex(),
        "disk_size": size_on_disk(chain),
    }


_RECORD_HEAD = struct.Struct("<BB").pack
_VALUE_LENGTH = struct.Struct("<I").pack


async def getstateinfo(ctx: RpcContext) -> dict[str, Any]:
    started = time.monotonic()
    info = await ctx.on_chain(state_info)
    info["scan_seconds"] = round(time.monotonic() - started, 3)
    return info


# --- verifychain --------------------------------------------------------------------------------
def verify(chain: ChainState, checklevel: int, nblocks: int) -> bool:
    store, params = chain.store, chain.params
    depth = nblocks or chain.height
    try:
        with store.read() as txn:
            tip = check_linkage(store, txn, params, depth)
            if checklevel >= 4:
                check_state_root(store, txn, tip)
            else:
                check_tip_root(store, txn, tip)
        if checklevel >= 3:
            check_recent(store, params, depth)
    except ChainCheckError as exc:
        log.error("verifychain: %s", exc)
        return False
    return True


async def verifychain(ctx: RpcContext, checklevel: int, nblocks: int) -> bool:
    if not 0 <= checklevel <= 4:
        raise RpcError(RPC_INVALID_PARAMETER, "checklevel must be 0 to 4")
    if nblocks < 0:
        raise RpcError(RPC_INVALID_PARAMETER, "nblocks must be 0 (all) or more")
    return await ctx.on_chain(verify, checklevel, nblocks)


METHODS = [
    Method(
        "verifychain", "blockchain", verifychain,
        "Verifies the last nblocks blocks (coinium.chain.verify). Every level: each block is\n"
        "stored, decodes, hashes to its key, matches its Merkle root, links to its parent, has\n"
        "a decodable undo record, and its header's stateroot is the root recorded after its\n"
        "parent; the state tree's root is the root recorded after the tip. Level 3 also replays\n"
        "the undo records back (each must reach the root the undone block's header commits to)\n"
        "and the blocks forward (signatures checked; each must reach the root recorded after\n"
        "it), ending at the stored records and root. Level 4 also rebuilds the root from every\n"
        "record of every namespace (time grows with the state) and compares it with the tree's.\n"
        "A failure is logged in debug.log.",
        "true|false    (boolean) Verification finished successfully.",
        (Param("checklevel", "number", "How thorough the block verification is (0-4)", 3),
         Param("nblocks", "number", "The number of blocks to check (0: all)", 6)),
    ),
    Method(
        "getblockstats", "blockchain", getblockstats,
        "Compute per block statistics for a given window. All amounts are in base units\n"
        "(bitcoind: satoshis), fee rates in base units per byte. Accounts, not UTXOs: 'ins'\n"
        "counts the non-coinbase transactions, 'outs' every transaction; there are no utxo_*\n"
        "or segwit fields.",
        """\
{
  "avgfee" : n, "avgfeerate" : n, "avgtxsize" : n, "blockhash" : "hex",
  "feerate_percentiles" : [ n, n, n, n, n ],  (10th, 25th, 50th, 75th, 90th by size)
  "height" : n, "ins" : n, "maxfee" : n, "maxfeerate" : n, "maxtxsize" : n, "medianfee" : n,
  "mediantime" : xxx, "mediantxsize" : n, "minfee" : n, "minfeerate" : n, "mintxsize" : n,
  "outs" : n, "subsidy" : n, "time" : xxx, "total_out" : n, "total_size" : n, "totalfee" : n,
  "txs" : n
}""",
        (Param("hash_or_height", "hash_or_height", "The block hash or height of the target block"),
         Param("stats", "array", "Values to plot (see result below)", None)),
        examples=("getblockstats 1000 '[\"minfeerate\",\"avgfeerate\"]'",),
    ),
    Method(
        "getchaintxstats", "blockchain", getchaintxstats,
        "Compute statistics about the total number and rate of transactions in the chain.",
        """\
{
  "time" : xxx,                       (numeric) The timestamp for the final block in the window
  "txcount" : n,                      (numeric) The total number of transactions in the chain
  "window_final_block_hash" : "hex",  (string) The hash of the final block in the window
  "window_final_block_height" : n,    (numeric) The height of the final block in the window.
  "window_block_count" : n,           (numeric) Size of the window in number of blocks
  "window_interval" : n,              (numeric, optional) seconds (window_block_count > 0)
  "window_tx_count" : n,              (numeric, optional) transactions in the window
  "txrate" : n                        (numeric, optional) per second (window_interval > 0)
}""",
        (Param("nblocks", "number", "Size of the window in number of blocks", None),
         Param("blockhash", "hex", "The hash of the block that ends the window.", None)),
    ),
    Method(
        "getstateinfo", "blockchain", getstateinfo,
        "Returns statistics about the state (bitcoind's gettxoutsetinfo for accounts).\n"
        "hash_serialized is BLAKE3 over every record of every namespace in key order\n"
        "(namespace u8, key length u8, key, value length u32 LE, value): two nodes at the same\n"
        "tip give the same value. stateroot is the committed root: the state tree's root after\n"
        "the tip, which the tip's child header carries (getblocktemplate's stateroot) and\n"
        "getaccountproof proves against. It may take some time on a large state.",
        """\
{
  "height" : n,              (numeric) The block height (index) of the tip
  "bestblock" : "hex",       (string) The hash of the block at the tip of the chain
  "accounts" : n,            (numeric) The number of accounts (bitcoind: txouts)
  "funded_accounts" : n,     (numeric) Accounts with a balance above 0
  "records" : n,             (numeric) The number of records of every namespace
  "total_amount" : n,        (numeric) The total amount of coins in the state
  "total_units" : n,         (numeric) The same in base units, exactly
  "hash_serialized" : "hex", (string) BLAKE3 of the serialized state (every namespace)
  "stateroot" : "hex",       (string) The committed state root (of the state after the tip)
  "disk_size" : n,           (numeric) Bytes of the LMDB map in use
  "scan_seconds" : n         (numeric) How long the scan took
}""",
    ),
]
