"""Summaries of recent main-chain blocks for the overview, the blocks list and the charts.

Each function takes the `ChainState` and runs on the chain thread (``node.chain_call``), so one
answer always describes one chain, as the RPC shapes do.
"""

from __future__ import annotations

from typing import Any

from coinium.chain.chainstate import ChainState
from coinium.rpc.shapes import difficulty


def recent_blocks(chain: ChainState, count: int, top: int | None = None) -> list[dict[str, Any]]:
    """Up to ``count`` main-chain blocks ending at height ``top`` (the tip if None), newest
    first: height, hash, time, difficulty, transactions, size and seconds since the parent."""
    tip_height = chain.height
    top = tip_height if top is None else max(0, min(top, tip_height))
    rows = []
    for height in range(top, max(-1, top - count), -1):
        block_hash = chain.hash_at_height(height)
        if block_hash is None:
            break
        entry = chain.index[block_hash]
        block = chain.get_block(block_hash)
        parent_time = None
        if height > 0:
            parent_time = chain.index[entry.header.prev_hash].header.timestamp
        rows.append({
            "height": height,
            "hash": block_hash.hex(),
            "time": entry.header.timestamp,
            "interval": None if parent_time is None else entry.header.timestamp - parent_time,
            "difficulty": difficulty(entry.header.bits, chain.params),
            "txs": len(block.transactions) if block is not None else 0,
            "size": block.size if block is not None else 0,
            "chainwork": entry.chainwork,
        })  # fmt: skip
    return rows


def hashrate_series(rows: list[dict[str, Any]], window: int = 10) -> list[tuple[int, float]]:
    """(height, hashes per second) over a sliding window of ``window`` blocks, oldest first:
    chain work gained over the time it took, as getnetworkhashps computes it."""
    ordered = list(reversed(rows))
    series = []
    for i in range(1, len(ordered)):
        start = ordered[max(0, i - window)]
        end = ordered[i]
        spread = end["time"] - start["time"]
        rate = (end["chainwork"] - start["chainwork"]) / spread if spread > 0 else 0.0
        series.append((end["height"], rate))
    return series
