"""Chain queries for peer sync: block locators, the fork point they name, headers after it, raw
blocks by hash, and what the node already knows of a batch of headers.

Each function takes a `ChainState` and runs on the chain thread (the node's ``chain_call``), so
everything one call reads belongs to one chain. A locator (Bitcoin's ``CBlockLocator``) is a list
of main-chain hashes, newest first: ten one step apart, then doubling the step, then genesis, so
it stays short (at most about 10 + log2(height) entries) while any peer finds the last block we
share within a factor of two of the true fork point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coinium.chain.chainstate import ChainState
from coinium.core.header import Header
from coinium.store.records import BlockStatus

MAX_LOCATOR = 101
MAX_HEADERS = 2000


def locator_heights(height: int) -> list[int]:
    """Heights of a locator from ``height`` down to 0 (genesis always last)."""
    heights = []
    step = 1
    while height > 0:
        heights.append(height)
        if len(heights) >= 10:
            step *= 2
        height -= step
    heights.append(0)
    return heights


def block_locator(chain: ChainState, start: bytes | None = None) -> list[bytes]:
    """The locator of the main chain from its tip, or from the main-chain block ``start``."""
    height = chain.height if start is None else chain.index[start].height
    locator = [chain.main_chain[h] for h in locator_heights(height)]
    return locator[:MAX_LOCATOR]


def find_fork(chain: ChainState, locator: Sequence[bytes]) -> int:
    """Height of the first locator hash on our main chain (0, genesis, if none is)."""
    for block_hash in locator:
        entry = chain.index.get(block_hash)
        if entry is not None and chain.hash_at_height(entry.height) == block_hash:
            return entry.height
    return 0


def headers_after(chain: ChainState, locator: Sequence[bytes], stop: bytes = bytes(32),
                  limit: int = MAX_HEADERS) -> list[Header]:  # fmt: skip
    """Main-chain headers after the fork point the locator names, up to ``stop`` (inclusive) or
    ``limit`` headers (Bitcoin's ``getheaders`` answer)."""
    start = find_fork(chain, locator) + 1
    headers = []
    for height in range(start, min(chain.height + 1, start + limit)):
        block_hash = chain.main_chain[height]
        headers.append(chain.index[block_hash].header)
        if block_hash == stop:
            break
    return headers


def raw_blocks(chain: ChainState, hashes: Sequence[bytes]) -> list[tuple[bytes, bytes | None]]:
    """The stored bytes of each block (None if we do not have it), in one read transaction:
    served to peers as they are, without decoding."""
    found = []
    with chain.store.read() as txn:
        for block_hash in hashes:
            raw = chain.store.get(txn, "blocks", block_hash)
            found.append((block_hash, None if raw is None else bytes(raw)))
    return found


@dataclass(frozen=True, slots=True)
class HeaderFacts:
    """What the chain knows of a batch of headers (oldest first) a peer sent."""

    parent_work: int | None  # cumulative work of the first header's parent; None if unknown
    parent_height: int
    have_data: frozenset[bytes]  # hashes whose blocks are stored
    invalid: frozenset[bytes]  # hashes known invalid (or the parent of the first is)
    tip_work: int


def header_facts(chain: ChainState, headers: Sequence[Header]) -> HeaderFacts:
    parent = chain.index.get(headers[0].prev_hash) if headers else None
    have, invalid = set(), set()
    if parent is not None and parent.status.invalid:
        invalid.add(parent.hash)
    for header in headers:
        entry = chain.index.get(header.hash)
        if entry is None:
            continue
        if entry.status.invalid:
            invalid.add(header.hash)
        elif entry.status & BlockStatus.HAVE_DATA:
            have.add(header.hash)
    return HeaderFacts(None if parent is None else parent.chainwork,
                       -1 if parent is None else parent.height, frozenset(have),
                       frozenset(invalid), chain.tip.chainwork)  # fmt: skip


def stored_blocks(chain: ChainState, hashes: Sequence[bytes]) -> set[bytes]:
    """Which of ``hashes`` the chain holds (stored, not known invalid)."""
    found = set()
    for block_hash in hashes:
        entry = chain.index.get(block_hash)
        if entry is not None and entry.status & BlockStatus.HAVE_DATA and not entry.status.invalid:
            found.add(block_hash)
    return found
