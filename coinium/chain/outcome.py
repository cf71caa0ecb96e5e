"""What one call into the chain did: `AcceptResult` (the answer to `ChainState.accept_block`,
`invalidate_block` and `reconsider_block`) and `ChainChanges` (the blocks connected and
disconnected on the way, collected across reorgs).

Whoever cares (mempool, notifications, relay) reads the result; the chain calls nobody.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from coinium.consensus.errors import ConsensusError
from coinium.core.block import Block


class AcceptStatus(Enum):
    NEW_TIP = "new-tip"  # the main chain changed: see connected / disconnected
    SIDE_BRANCH = "side-branch"  # valid as far as checked, stored, not (yet) the best chain
    ORPHAN = "orphan"  # parent unknown: held in the orphan pool
    DUPLICATE = "duplicate"  # already stored (or already held as an orphan)
    INVALID = "invalid"  # broke a rule: see error


@dataclass(frozen=True, slots=True)
class AcceptResult:
    status: AcceptStatus
    block_hash: bytes
    error: ConsensusError | None = None
    connected: tuple[Block, ...] = ()  # in connection order, oldest first
    disconnected: tuple[Block, ...] = ()  # in disconnection order, old tip first

    @property
    def reason(self) -> str | None:
        return self.error.reason if self.error else None


@dataclass(slots=True)
class ChainChanges:
    """Blocks connected and disconnected while handling one call, across reorgs."""

    connected: list[Block] = field(default_factory=list)
    disconnected: list[Block] = field(default_factory=list)

    def record(self, disconnected: list[Block], connected: list[Block]) -> None:
        for block in disconnected:
            # A block connected earlier in this call and now undone cancels out.
            if block in self.connected:
                self.connected.remove(block)
            else:
                self.disconnected.append(block)
        self.connected.extend(connected)
