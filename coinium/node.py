"""The node: one asyncio process that wires the chain, mempool, RPC, notifications and miner.

Chain work (accepting blocks, reorgs, reads that must see one consistent chain) runs in a single
"chain" thread, one call at a time, so LMDB has one writer and the event loop never blocks on a
reorg. Everything else runs on the event loop. After each chain call the node hands the outcome
to the listeners (mempool, ZMQ) on the loop thread, in bitcoind's order: disconnected blocks,
connected blocks, then the new tip.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from coinium.chain.builder import build_block
from coinium.chain.chainstate import AcceptResult, AcceptStatus, ChainState
from coinium.chain.events import ChainListener
from coinium.config import NodeOptions
from coinium.core.block import Block
from coinium.core.transaction import Transaction
from coinium.crypto.address import decode_address

log = logging.getLogger("coinium.node")

T = TypeVar("T")


class Node:
    def __init__(self, options: NodeOptions):
        self.options = options
        self.params = options.params
        self.started_at = time.monotonic()
        self.chain: ChainState | None = None
        self.mempool: Any = None
        self.notifier: Any = None
        self.rpc: Any = None
        self.miner: Any = None
        self.listeners: list[ChainListener] = []
        self._chain_thread = ThreadPoolExecutor(1, thread_name_prefix="chain")
        self._stop = asyncio.Event()

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        from coinium.mempool.pool import Mempool
        from coinium.notify.zmq_publisher import ZmqNotifier
        from coinium.rpc.server import RpcServer

        self.options.datadir.mkdir(parents=True, exist_ok=True)
        self.chain = await self.chain_call(ChainState, self.options.datadir, self.params)
        log.info("chain loaded: height %d, tip %s", self.chain.height, self.chain.tip.hash.hex())
        self.mempool = Mempool(self.params, self.chain.get_account)
        self.mempool.tip_height = self.chain.height
        self.listeners.append(self.mempool)
        if self.options.zmq:
            self.notifier = ZmqNotifier(self.options.zmq)
            self.listeners.append(self.notifier)
            self.mempool.listeners.append(self.notifier)
        self.rpc = RpcServer(self, self.options)
        await self.rpc.start()
        if self.options.mine:
            from coinium.mining.node_miner import NodeMiner

            assert self.options.miner_address is not None  # the command line makes sure
            recipient = decode_address(self.options.miner_address, self.params.address_prefix)[1]
            # On regtest every hash is a block: pace the miner so the chain stays readable.
            interval = 0.0 if self.params.retarget else self.options.mine_interval
            self.miner = NodeMiner(self, recipient, self.options.miner_processes, interval)
            await self.miner.start()

    async def run(self) -> None:
        """Start, serve until asked to stop (RPC ``stop``, SIGINT, SIGTERM), then shut down."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        try:
            await self.start()
            await self._stop.wait()
        finally:
            await self.shutdown()

    def request_stop(self) -> None:
        if not self._stop.is_set():
            log.info("shutdown requested")
            self._stop.set()

    async def shutdown(self) -> None:
        """Stop taking work, then close everything in reverse order; state is flushed by LMDB."""
        if self.miner is not None:
            await self.miner.stop()
        if self.rpc is not None:
            await self.rpc.stop()
        if self.notifier is not None:
            self.notifier.close()
        if self.chain is not None:
            await self.chain_call(self.chain.close)
            self.chain = None
        self._chain_thread.shutdown(wait=True)
        log.info("shutdown complete")

    # --- chain access -------------------------------------------------------------------------
    async def chain_call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the chain thread (one call at a time) and wait for it."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._chain_thread, fn, *args)

    async def submit_block(self, block: Block) -> AcceptResult:
        result = await self.chain_call(self.chain.accept_block, block)
        if result.status == AcceptStatus.INVALID:
            log.info("block %s refused: %s", block.hash.hex(), result.error)
        self.publish(result)
        return result

    async def invalidate_block(self, block_hash: bytes) -> AcceptResult:
        result = await self.chain_call(self.chain.invalidate_block, block_hash)
        self.publish(result)
        return result

    async def reconsider_block(self, block_hash: bytes) -> AcceptResult:
        result = await self.chain_call(self.chain.reconsider_block, block_hash)
        self.publish(result)
        return result

    async def submit_transaction(self, tx: Transaction) -> None:
        """Admit a transaction to the mempool; raises the mempool's rejection on failure."""
        self.mempool.add(tx)

    def publish(self, result: AcceptResult) -> None:
        """Hand a chain outcome to every listener, in bitcoind's order."""
        if not (result.connected or result.disconnected):
            return
        for block in result.disconnected:
            for listener in self.listeners:
                listener.block_disconnected(block)
        for block in result.connected:
            for listener in self.listeners:
                listener.block_connected(block)
        tip = result.connected[-1] if result.connected else None
        if tip is None or tip.hash != self.chain.tip.hash:
            tip = self.chain.get_block(self.chain.tip.hash)
        log.info("new tip %s at height %d", tip.hash.hex(), tip.height)
        for listener in self.listeners:
            listener.tip_updated(tip)

    # --- block building -----------------------------------------------------------------------
    async def block_template(self, coinbase_recipient: bytes, extra: bytes = b"") -> Block:
        """An unmined block on the tip holding the best mempool transactions."""
        txs = self.mempool.select_for_block()
        return await self.chain_call(lambda: build_block(self.chain, txs, coinbase_recipient,
                                                         extra=extra))  # fmt: skip
