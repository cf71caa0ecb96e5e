"""The node: one asyncio process that wires the chain, mempool, RPC, notifications and miner.

Chain work (accepting blocks, reorgs, reads that must see one consistent chain) runs in a single
"chain" thread, one call at a time, so LMDB has one writer and the event loop never blocks on a
reorg. Everything else runs on the event loop. After each chain call the node hands the outcome
to the listeners (mempool, ZMQ) on the loop thread, in bitcoind's order: disconnected blocks,
connected blocks, then the new tip.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from coinium.chain.builder import build_block
from coinium.chain.chainstate import AcceptResult, AcceptStatus, ChainState
from coinium.chain.events import ChainListener
from coinium.chain.kind_checks import check_against_tip
from coinium.config import NodeOptions
from coinium.core.block import Block
from coinium.core.transaction import Transaction
from coinium.crypto.address import decode_address

log = logging.getLogger("coinium.node")

T = TypeVar("T")
MEMPOOL_EXPIRY_INTERVAL_S = 60.0  # how often old mempool transactions are expired


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
        self.p2p: Any = None
        self.validator: Any = None  # coinium.validator.client.ValidatorClient with --validator
        self.listeners: list[ChainListener] = []
        self.published_tip = b""  # the tip the listeners (mempool, miner) last heard of
        self._chain_thread = ThreadPoolExecutor(1, thread_name_prefix="chain")
        self._stop = asyncio.Event()
        self._mempool_timer: asyncio.Task[None] | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        from coinium.chain.sigcache import SignatureCache
        from coinium.mempool.persist import load_mempool
        from coinium.mempool.pool import Mempool
        from coinium.notify.zmq_publisher import FinalityAnnouncer, ProposalAnnouncer, ZmqNotifier
        from coinium.rpc.server import RpcServer

        self.options.datadir.mkdir(parents=True, exist_ok=True)
        self.chain = await self.chain_call(ChainState, self.options.datadir, self.params)
        log.info("chain loaded: height %d, tip %s", self.chain.height, self.chain.tip.hash.hex())
        self.published_tip = self.chain.tip.hash
        # Signatures checked at mempool admission are not checked again when a block connects.
        signature_cache = SignatureCache()
        self.chain.signature_filter = signature_cache.contains
        self.mempool = Mempool(self.params, self.chain.get_account, policy=self.options.mempool,
                               signature_cache=signature_cache)  # fmt: skip
        self.mempool.tip_height = self.chain.height
        # Staking, vote and evidence rules checked on the tip's state at admission (-26).
        self.mempool.state_check = functools.partial(check_against_tip, self.chain)
        self.listeners.append(self.mempool)
        if self.options.zmq:
            self.notifier = ZmqNotifier(self.options.zmq)
            self.listeners.append(self.notifier)
            self.listeners.append(FinalityAnnouncer(self.chain, self.notifier))
            self.listeners.append(ProposalAnnouncer(self.chain, self.notifier))
            self.mempool.listeners.append(self.notifier)
        if self.options.persist_mempool:
            load_mempool(self.mempool, self.options.datadir)
        self._mempool_timer = asyncio.create_task(self._expire_mempool())
        if self.options.validator:
            self._start_validator()
        await self._start_p2p()
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
        if self.p2p is not None:
            await self.p2p.stop()
        if self.rpc is not None:
            await self.rpc.stop()
        if self._mempool_timer is not None:
            self._mempool_timer.cancel()
            self._mempool_timer = None
        if self.mempool is not None and self.chain is not None and self.options.persist_mempool:
            from coinium.mempool.persist import save_mempool

            try:
                save_mempool(self.mempool, self.options.datadir)
            except OSError as exc:
                log.error("cannot save the mempool: %s", exc)
        if self.mempool is not None:
            self.mempool.close()
        if self.notifier is not None:
            self.notifier.close()
        if self.validator is not None:
            self.validator.close()
        if self.chain is not None:
            await self.chain_call(self.chain.close)
            self.chain = None
        self._chain_thread.shutdown(wait=True)
        log.info("shutdown complete")

    def _start_validator(self) -> None:
        from coinium.validator.wiring import validator_client

        self.validator = validator_client(self, self.options.validator)
        self.listeners.append(self.validator)
        self.mempool.listeners.append(self.validator)

    async def _start_p2p(self) -> None:
        """The peer-to-peer network: it hears new tips and mempool additions to relay them."""
        from coinium.p2p.manager import NodeHooks, P2PConfig, PeerManager

        p2p = self.options.p2p
        config = P2PConfig(
            datadir=self.options.datadir, params=self.params, listen=p2p.listen, bind=p2p.bind,
            port=self.options.p2p_port, pub_port=p2p.pub_port, connect=p2p.connect,
            addnode=p2p.addnode, seednode=p2p.seednode, externalip=p2p.externalip,
            max_connections=p2p.max_connections, ban_time=p2p.ban_time,
        )  # fmt: skip

        def tip() -> tuple[int, bytes, int]:
            entry = self.chain.tip
            return entry.height, entry.hash, entry.chainwork

        hooks = NodeHooks(
            on_chain=lambda fn, *args: self.chain_call(fn, self.chain, *args),
            submit_block=self.submit_block, submit_transaction=self.submit_transaction,
            tip=tip, mempool=self.mempool, submit_blocks=self.submit_blocks,
        )  # fmt: skip
        self.p2p = PeerManager(config, hooks)
        self.listeners.append(self.p2p)
        self.mempool.listeners.append(self.p2p)
        await self.p2p.start()

    async def _expire_mempool(self) -> None:
        while True:
            await asyncio.sleep(MEMPOOL_EXPIRY_INTERVAL_S)
            self.mempool.expire(int(time.time()))

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

    async def submit_blocks(self, blocks: list[Block]) -> list[AcceptResult]:
        """A run of blocks, as a sync receives them: the chain checks the next block's
        signatures while it applies the current one, and shares commits across the run
        (`ChainState.accept_blocks`). One result per block, as `submit_block` would give."""
        results = await self.chain_call(self.chain.accept_blocks, blocks)
        for block, result in zip(blocks, results, strict=True):
            if result.status == AcceptStatus.INVALID:
                log.info("block %s refused: %s", block.hash.hex(), result.error)
            self.publish(result)
        return results

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
        # The tip this outcome left, not chain.tip: the chain thread may have moved on since.
        if result.connected:
            tip = result.connected[-1]
        else:
            tip = self.chain.get_block(result.disconnected[-1].header.prev_hash)
        self.published_tip = tip.hash
        log.info("new tip %s at height %d", tip.hash.hex(), tip.height)
        for listener in self.listeners:
            listener.tip_updated(tip)


    # --- block building -----------------------------------------------------------------------
    async def block_template(self, coinbase_recipient: bytes, extra: bytes = b"") -> Block:
        """An unmined block holding the best mempool transactions, built on the tip the mempool
        last heard of: a tip the chain reached since then would make those transactions stale
        (their nonces already used), and the listeners' next call brings fresh work anyway."""
        parent = self.published_tip
        txs = self.mempool.select_for_block()
        return await self.chain_call(lambda: build_block(self.chain, txs, coinbase_recipient,
                                                         extra=extra, parent=parent,
                                                         filter_invalid=True))  # fmt: skip
