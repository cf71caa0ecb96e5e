"""``coinium node --mine``: the worker pool mining on the node's own tip, without RPC.

The miner builds a template from the chain tip and the mempool, hands each worker a disjoint
nonce range, and submits a found block straight to the node. A new tip (from any source) makes
every worker drop its work within one search chunk; new mempool transactions are picked up by a
fresh template every ``REFRESH_SECONDS``. On regtest, where every hash is a block, it waits
``mine_interval`` seconds between blocks so a demo chain grows at a readable pace.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque

from coinium.chain.chainstate import AcceptStatus
from coinium.consensus.pow import decode_compact
from coinium.core.block import Block
from coinium.mining.workers import WorkerEvent, WorkerPool, split_nonce_space

log = logging.getLogger("coinium.miner")

REFRESH_SECONDS = 5.0
HASHRATE_WINDOW = 10.0


class NodeMiner:
    def __init__(self, node, recipient: bytes, processes: int, mine_interval: float = 0.0):
        self.node = node
        self.recipient = recipient
        self.processes = processes
        self.mine_interval = mine_interval
        self.blocks_found = 0
        self._pool: WorkerPool | None = None
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._found: asyncio.Queue[WorkerEvent] = asyncio.Queue()
        self._hash_samples: deque[tuple[float, int]] = deque()
        self._extra_nonce = int.from_bytes(os.urandom(4), "little")

    @property
    def hashrate(self) -> float:
        """Hashes per second over the last HASHRATE_WINDOW seconds (for getmininginfo)."""
        now = time.monotonic()
        while self._hash_samples and self._hash_samples[0][0] < now - HASHRATE_WINDOW:
            self._hash_samples.popleft()
        return sum(h for _, h in self._hash_samples) / HASHRATE_WINDOW

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._pool = WorkerPool(self.processes, self._on_worker_event)
        self.node.listeners.append(self)
        self._task = asyncio.create_task(self._run(), name="node-miner")
        log.info("mining with %d processes to account %s", self.processes, self.recipient.hex())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._pool is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._pool.close)
            self._pool = None

    # ChainListener: a new tip means new work.
    def block_connected(self, block: Block) -> None:
        pass

    def block_disconnected(self, block: Block) -> None:
        pass

    def tip_updated(self, tip: Block) -> None:
        self._wake.set()

    def _on_worker_event(self, event: WorkerEvent) -> None:
        # Called on the pool's reader thread: hand over to the event loop.
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._record, event)

    def _record(self, event: WorkerEvent) -> None:
        if event.hashes:
            self._hash_samples.append((time.monotonic(), event.hashes))
        if event.kind in ("found", "exhausted"):
            self._found.put_nowait(event)

    async def _run(self) -> None:
        assert self._pool is not None
        while True:
            self._wake.clear()
            self._pool.restart_dead_workers()
            self._extra_nonce = (self._extra_nonce + 1) & 0xFFFFFFFF
            template = await self.node.block_template(
                self.recipient, extra=self._extra_nonce.to_bytes(4, "little")
            )
            header = template.header.encode()
            generation = self._pool.start_job(
                header, decode_compact(template.header.bits), split_nonce_space(self._pool.size)
            )
            outcome = await self._wait_for_result(generation)
            if outcome is None:
                continue  # new tip or refresh: build fresh work
            if outcome.kind == "exhausted":
                continue  # a new extra-nonce gives a new header
            self._pool.stop_job()
            block = Block(template.header.with_nonce(outcome.nonce), template.transactions)
            result = await self.node.submit_block(block)
            if result.status == AcceptStatus.NEW_TIP:
                self.blocks_found += 1
                log.info("mined block %s at height %d", block.hash.hex(), block.height)
            else:
                log.warning("mined block %s not accepted: %s %s", block.hash.hex(),
                            result.status.value, result.error or "")  # fmt: skip
            if self.mine_interval:
                await asyncio.sleep(self.mine_interval)

    async def _wait_for_result(self, generation: int) -> WorkerEvent | None:
        deadline = time.monotonic() + REFRESH_SECONDS
        wake = asyncio.create_task(self._wake.wait())
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                get = asyncio.create_task(self._found.get())
                done, _ = await asyncio.wait({get, wake}, timeout=remaining,
                                             return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                if get not in done:
                    get.cancel()
                    return None  # woken by a new tip, or time to refresh the template
                event = get.result()
                if event.generation == generation:
                    return event
                # A stale result from an older job: keep waiting.
        finally:
            wake.cancel()

