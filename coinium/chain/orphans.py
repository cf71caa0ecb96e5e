"""Blocks whose parent has not arrived yet, held (bounded) until it does."""

from __future__ import annotations

from collections import OrderedDict

from coinium.core.block import Block

DEFAULT_MAX_ORPHANS = 100


class OrphanPool:
    """At most ``limit`` blocks; the oldest is dropped to make room (as bitcoind's orphan map)."""

    def __init__(self, limit: int = DEFAULT_MAX_ORPHANS):
        self.limit = limit
        self._blocks: OrderedDict[bytes, Block] = OrderedDict()
        self._by_parent: dict[bytes, set[bytes]] = {}

    def __len__(self) -> int:
        return len(self._blocks)

    def __contains__(self, block_hash: bytes) -> bool:
        return block_hash in self._blocks

    def add(self, block: Block) -> None:
        if block.hash in self._blocks:
            return
        while len(self._blocks) >= self.limit:
            self._remove(next(iter(self._blocks)))
        self._blocks[block.hash] = block
        self._by_parent.setdefault(block.header.prev_hash, set()).add(block.hash)

    def take_children(self, parent_hash: bytes) -> list[Block]:
        """Remove and return the orphans whose parent is ``parent_hash`` (in arrival order)."""
        hashes = self._by_parent.pop(parent_hash, set())
        children = [b for h, b in self._blocks.items() if h in hashes]
        for child in children:
            del self._blocks[child.hash]
        return children

    def _remove(self, block_hash: bytes) -> None:
        block = self._blocks.pop(block_hash)
        siblings = self._by_parent.get(block.header.prev_hash)
        if siblings is not None:
            siblings.discard(block_hash)
            if not siblings:
                del self._by_parent[block.header.prev_hash]
