"""``coinium node --mine``: the same `Miner` as ``coinium mine``, fed by the node it runs in.

The work source calls the node directly instead of over RPC: a template is the node's own block
builder (chain tip + best mempool transactions), a found block goes to ``Node.submit_block``, and
the node's chain listener reports new tips (from any source) to the miner, which drops stale work
at once. The miner's thread reaches the node's event loop with ``run_coroutine_threadsafe``. On
regtest, where every hash is a block, ``mine_interval`` seconds pass between blocks so a demo
chain grows at a readable pace. ``getmininginfo``'s ``localhashps`` is this miner's hash rate.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from coinium.chain.chainstate import AcceptResult, AcceptStatus
from coinium.core.block import Block
from coinium.core.params import GENESIS_RECIPIENT
from coinium.crypto.address import encode_address
from coinium.mining.engine import Miner, MinerConfig, MinerEvent, SourceUnavailable
from coinium.mining.work import Template
from coinium.store.diskspace import is_disk_full

log = logging.getLogger("coinium.miner")

REFRESH_SECONDS = 5.0
GPU_STATS_SECONDS = 60.0  # with GPUs: log each device's hash rate this often
CALL_TIMEOUT = 60.0
T = TypeVar("T")


def bip22_reason(result: AcceptResult) -> str | None:
    """The ``submitblock`` answer for an intake outcome: None when the block became the tip."""
    status = result.status
    if status == AcceptStatus.NEW_TIP:
        return None
    if status == AcceptStatus.DUPLICATE:
        return "duplicate"
    if status in (AcceptStatus.SIDE_BRANCH, AcceptStatus.ORPHAN):
        return "inconclusive"
    return result.reason or "rejected"


class _NodeWorkSource:
    """`WorkSource` over the node's own methods, called from the miner's thread."""

    def __init__(self, node, loop: asyncio.AbstractEventLoop):
        self.node = node
        self.loop = loop

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self.loop.is_closed():
            coro.close()
            raise SourceUnavailable("the node is shutting down")
        try:
            return asyncio.run_coroutine_threadsafe(coro, self.loop).result(CALL_TIMEOUT)
        except (concurrent.futures.CancelledError, concurrent.futures.TimeoutError,
                RuntimeError) as exc:  # fmt: skip
            raise SourceUnavailable(f"the node did not answer: {exc!r}") from None
        except Exception as exc:
            if is_disk_full(exc) or self.node.disk_full:  # the node is stopping, not a miner bug
                raise SourceUnavailable("the node's disk is full") from None
            raise

    def get_template(self) -> Template:
        return self._call(self._template())

    async def _template(self) -> Template:
        # The placeholder coinbase is replaced by the miner's own (with its extra-nonce).
        block = await self.node.block_template(GENESIS_RECIPIENT)
        prev = block.header.prev_hash
        mintime = await self.node.chain_call(
            lambda: self.node.chain.median_time_past(self.node.chain.index[prev]) + 1)
        return Template.from_block(block, mintime)

    def submit_block(self, block: Block) -> str | None:
        return bip22_reason(self._call(self.node.submit_block(block)))


class NodeMiner:
    def __init__(self, node, recipient: bytes, processes: int, mine_interval: float = 0.0,
                 gpu_devices: tuple[int, ...] = (), gpu_names: tuple[str, ...] = ()):  # fmt: skip
        self.node = node
        self.recipient = recipient
        self.processes = processes
        self.mine_interval = mine_interval
        self.gpu_devices = gpu_devices
        self.gpu_names = gpu_names
        self._miner: Miner | None = None

    @property
    def hashrate(self) -> float:
        """Hashes per second over the last few seconds (getmininginfo's localhashps)."""
        return self._miner.hashrate if self._miner is not None else 0.0

    @property
    def blocks_found(self) -> int:
        return self._miner.stats.accepted if self._miner is not None else 0

    @property
    def miner(self) -> Miner | None:
        return self._miner

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        stats = GPU_STATS_SECONDS if self.gpu_devices else 0.0
        config = MinerConfig(self.processes, self.recipient, refresh_seconds=REFRESH_SECONDS,
                             interval=self.mine_interval, gpu_devices=self.gpu_devices,
                             gpu_names=self.gpu_names, stats_interval=stats)  # fmt: skip
        self._miner = Miner(_NodeWorkSource(self.node, loop), config, _log_event)
        await loop.run_in_executor(None, self._miner.start)  # spawning takes a moment
        self.node.listeners.append(self)
        address = encode_address(self.node.params.address_prefix, self.recipient)
        log.info("mining with %d processes and %d GPUs to %s", self.processes,
                 len(self.gpu_devices), address)  # fmt: skip

    async def stop(self) -> None:
        if self._miner is None:
            return
        if self in self.node.listeners:
            self.node.listeners.remove(self)
        miner, self._miner = self._miner, None
        # The miner thread may be waiting on this loop (a template): keep the loop running.
        await asyncio.get_running_loop().run_in_executor(None, miner.stop)

    # ChainListener: a new tip means new work.
    def block_connected(self, block: Block) -> None:
        pass

    def block_disconnected(self, block: Block) -> None:
        pass

    def tip_updated(self, tip: Block) -> None:
        if self._miner is not None:
            self._miner.new_tip(tip.hash, source="node")


def _log_event(event: MinerEvent) -> None:
    data = event.data
    kind = event.kind
    if kind == "accepted":
        log.info("mined block %s at height %d", data["hash"], data["height"])
    elif kind == "rejected":
        log.warning("mined block %s not accepted: %s", data["hash"], data["reason"])
    elif kind == "stale":
        log.info("block %s found on stale work, not submitted", data["hash"])
    elif kind == "worker-restarted":
        log.warning("miner worker %d died and was restarted", data["worker"])
    elif kind == "error":
        log.error("miner: %s", data["message"])
    elif kind == "hashrate":  # with GPUs: the rate of each device, now and then
        gpus = ", ".join(f"gpu {d} {r / 1e9:.2f} GH/s" for d, r in data["gpus"].items())
        log.info("hash rate %.2f GH/s (cpu %.2f GH/s, %s)", data["hashrate"] / 1e9,
                 data["cpu"] / 1e9, gpus)  # fmt: skip
    elif kind in ("switched", "work", "newtip", "found"):
        log.debug("miner %s: %s", kind, data)
