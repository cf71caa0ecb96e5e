"""What the chain announces, for whoever subscribes (mempool, ZMQ notifications, wallet, relay).

The chain itself calls nobody: the node reads each `AcceptResult` and passes its blocks to the
listeners in this order: every disconnected block (old tip first), every connected block (oldest
first), then the new tip once, as bitcoind's validation interface does.
"""

from __future__ import annotations

from typing import Protocol

from coinium.core.block import Block


class ChainListener(Protocol):
    def block_connected(self, block: Block) -> None: ...

    def block_disconnected(self, block: Block) -> None: ...

    def tip_updated(self, tip: Block) -> None: ...


class MempoolListener(Protocol):
    def transaction_added(self, tx_raw: bytes, txid: bytes, mempool_sequence: int) -> None: ...

    def transaction_removed(
        self, tx_raw: bytes, txid: bytes, reason: str, mempool_sequence: int
    ) -> None: ...
