"""Summaries of recent main-chain blocks for the overview, the blocks list and the charts.

Each function takes the `ChainState` and runs on the chain thread (``node.chain_call``), so one
answer always describes one chain, as the RPC shapes do.
"""

from __future__ import annotations

from typing import Any

from coinium.chain.chainstate import ChainState
from coinium.core.governance.records import STATUS_NAMES, Proposal
from coinium.core.kinds import slash
from coinium.core.staking.records import SLASHED, Validator
from coinium.core.state import NS_PROPOSAL, NS_VALIDATOR
from coinium.rpc.shapes import address, difficulty, tx_json

# A slashed validator casts no more votes, so its slash is among its newest transactions;
# looking this far back through its address index bounds the work per validator.
SLASH_LOOKBACK = 64


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


def slashings(chain: ChainState, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` most recent slashings, newest first: the offender, the evidence
    transaction (its height, time, reporter and conflict) found through the address index."""
    found = []
    for validator_id, raw in chain.records_with_prefix(NS_VALIDATOR):
        validator = Validator.decode(raw)
        if validator.status != SLASHED:
            continue
        row: dict[str, Any] = {"validator": address(validator_id, chain.params),
                               "stake_units": validator.tokens, "height": None}
        for height, position, _ in chain.account_history(validator_id, SLASH_LOOKBACK):
            block = chain.get_block(chain.main_chain[height])
            tx = block.transactions[position]
            if tx.kind == slash.NUMBER and tx.recipient == validator_id:
                row.update(height=height, time=block.header.timestamp,
                           **{k: v for k, v in tx_json(tx, chain.params).items()
                              if k in ("txid", "from", "conflict")})  # fmt: skip
                break
        found.append(row)
    found.sort(key=lambda row: -1 if row["height"] is None else row["height"], reverse=True)
    return found[:limit]


def proposal_counts(chain: ChainState) -> dict[str, int]:
    """How many proposals are in each status (every status named, zeros included)."""
    counts = dict.fromkeys(STATUS_NAMES, 0)
    for _, raw in chain.records_with_prefix(NS_PROPOSAL):
        counts[STATUS_NAMES[Proposal.decode(raw).status]] += 1
    return counts
