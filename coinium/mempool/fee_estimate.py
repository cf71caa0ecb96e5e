"""Fee estimation for ``estimatesmartfee``: what fee rate gets a transaction into a block within
``target`` blocks, from the recent blocks and the mempool now.

bitcoind tracks how long each transaction it saw waited; this estimator is simpler and says so.
It takes the larger of two signals and never less than the fee the mempool accepts now:

- **recent blocks**: each of the last ``clamp(2 * target, 6, 144)`` blocks gives the rate that
  was needed to get into it: its lowest included fee rate when it was nearly full
  (``FULL_FRACTION`` of the size limit), else nothing more than the relay floor. Economical mode
  takes the median of those, conservative mode the 85th percentile;
- **the mempool**: pending transactions sorted by fee rate, best first, fill ``target`` blocks; a
  new transaction must beat the rate at the point where they overflow (if they do).

With no paying transaction in the window and an empty mempool there is no data, and the answer
is bitcoind's ``errors`` shape. Rates are base units per 1000 bytes, integers throughout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coinium.core.block import MAX_BLOCK_SIZE, Block

MAX_TARGET = 1008  # bitcoind's longest horizon
FULL_FRACTION_PERCENT = 90
MODES = ("unset", "economical", "conservative")


@dataclass(frozen=True, slots=True)
class FeeEstimate:
    rate: int | None  # base units per 1000 bytes; None: no data
    target: int


def lookback(target: int) -> int:
    return max(6, min(2 * target, 144))


def block_needed_rate(block: Block, floor: int, max_size: int = MAX_BLOCK_SIZE) -> int | None:
    """The fee rate it took to get into ``block``; None when it held no paying transaction."""
    rates = [tx.fee * 1000 // tx.size for tx in block.transactions if not tx.is_coinbase]
    if not rates:
        return None
    if block.size * 100 >= max_size * FULL_FRACTION_PERCENT:
        return max(min(rates), floor)
    return floor


def mempool_needed_rate(pending: Sequence[tuple[int, int]], target: int,
                        max_size: int = MAX_BLOCK_SIZE) -> int | None:  # fmt: skip
    """``pending``: (fee rate, size) of each mempool transaction. The rate that beats what
    overflows ``target`` blocks, or None if everything pending fits."""
    room = target * max_size
    for rate, size in sorted(pending, reverse=True):
        room -= size
        if room < 0:
            return rate + 1
    return None


def estimate(blocks: Sequence[Block], pending: Sequence[tuple[int, int]], floor: int,
             target: int, mode: str, max_size: int = MAX_BLOCK_SIZE) -> FeeEstimate:  # fmt: skip
    """``blocks``: the most recent blocks (any order), ``floor``: the mempool's minimum fee
    rate now. Deterministic: integers, sorted inputs."""
    needed = sorted(r for r in (block_needed_rate(b, floor, max_size) for b in blocks)
                    if r is not None)  # fmt: skip
    from_mempool = mempool_needed_rate(pending, target, max_size)
    if not needed and not pending:
        return FeeEstimate(None, target)
    rate = floor
    if needed:
        percent = 85 if mode == "conservative" else 50
        rate = max(rate, needed[min(len(needed) - 1, len(needed) * percent // 100)])
    if from_mempool is not None:
        rate = max(rate, from_mempool)
    return FeeEstimate(rate, target)
