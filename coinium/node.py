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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import lmdb
import zmq

from coinium.chain.admission import state_check
from coinium.chain.builder import build_block, drop_inapplicable
from coinium.chain.chainstate import AcceptResult, AcceptStatus, ChainState
from coinium.chain.events import ChainListener
from coinium.chain.gc_pause import settle_for_node
from coinium.config import NodeOptions
from coinium.core.block import Block
from coinium.core.governance.proposals import statuses as proposal_statuses
from coinium.core.transaction import Transaction
from coinium.crypto.address import decode_address
from coinium.preflight import StartupError, check_listen_ports
from coinium.store.diskspace import CHECK_INTERVAL_S, MIN_FREE_BYTES, free_bytes, is_disk_full

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
        self.wallets: Any = None  # the loaded wallets (coinium.wallet.manager), for the RPC
        self.nat: Any = None  # the P2P ports' mappings on the gateway (--natpmp)
        self.dashboard: Any = None
        self.validator: Any = None  # coinium.validator.client.ValidatorClient with --validator
        self.listeners: list[ChainListener] = []
        self.published_tip = b""  # the tip the listeners (mempool, miner) last heard of
        self._chain_thread = ThreadPoolExecutor(1, thread_name_prefix="chain")
        self._stop = asyncio.Event()
        self._mempool_timer: asyncio.Task[None] | None = None
        self._self_test: asyncio.Task[None] | None = None
        # Called with (blocks connected, seconds the chain took) after each submit (metrics).
        self.connect_timers: list[Callable[[int, float], None]] = []
        self.disk_full = False  # set once: the node is shutting down for want of disk space

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        from coinium.chain.sigcache import SignatureCache
        from coinium.mempool.persist import load_mempool
        from coinium.mempool.pool import Mempool
        from coinium.notify.zmq_publisher import NotifierError, ZmqNotifier
        from coinium.rpc.server import RpcServer

        if self.options.dashboard.enabled:  # refuse an unprotected public dashboard up front
            from coinium.web.server import refuse_without_password

            refuse_without_password(self.options)
        self.options.datadir.mkdir(parents=True, exist_ok=True)
        self._check_free_space()
        if self.disk_full:
            return
        self.chain = await self.chain_call(ChainState, self.options.datadir, self.params)
        log.info("chain loaded: height %d, tip %s", self.chain.height, self.chain.tip.hash.hex())
        self.published_tip = self.chain.tip.hash
        # Signatures checked at mempool admission are not checked again when a block connects.
        signature_cache = SignatureCache()
        self.chain.signature_filter = signature_cache.contains
        self.mempool = Mempool(self.params, self.chain.get_account, policy=self.options.mempool,
                               signature_cache=signature_cache)  # fmt: skip
        self.mempool.tip_height = self.chain.height
        # Kinds' own rules (NFTs, staking, votes, evidence) on the tip's state: -26 at admission.
        self.mempool.check_state = state_check(self.chain)
        self.listeners.append(self.mempool)
        if self.options.zmq:
            try:
                self.notifier = ZmqNotifier(self.options.zmq,
                                            address_prefix=self.params.address_prefix,
                                            finalized_block=self.chain.finalized_block,
                                            read_record=self.chain.get_record,
                                            proposal_statuses=self._proposal_statuses)
            except NotifierError as exc:
                raise StartupError(str(exc)) from None
            self.listeners.append(self.notifier)
            self.mempool.listeners.append(self.notifier)
        if self.options.persist_mempool:
            load_mempool(self.mempool, self.options.datadir)
        self._mempool_timer = asyncio.create_task(self._expire_mempool())
        if self.options.validator:
            self._start_validator()
        await self._start_p2p()
        if self.options.natpmp and self.p2p.router is not None:
            await self._map_ports()
        if self.p2p.router is not None and (self.nat is not None or self.options.p2p.externalip):
            # A peer dials each address back before it is announced (coinium.p2p.reachability).
            from coinium.p2p.reachability import self_test_loop

            self._self_test = asyncio.create_task(self_test_loop(self.p2p, self._mapped_address))
        from coinium.wallet.keystore import WalletError
        from coinium.wallet.manager import WalletManager

        self.wallets = WalletManager(self.options.datadir, self.params, self.options.wallet_kdf)
        try:
            await asyncio.to_thread(self.wallets.load_at_start, list(self.options.wallets))
        except WalletError as exc:
            raise StartupError(f"--wallet: {exc}") from None
        self.rpc = RpcServer(self, self.options)
        try:
            await self.rpc.start()
        except OSError as exc:
            self.rpc = None
            raise StartupError(f"--rpc-port / rpc_port: cannot listen on "
                               f"{self.options.rpc_bind}:{self.options.rpc_port}: "
                               f"{exc.strerror or exc}") from None  # fmt: skip
        if self.options.mine:
            await self.start_mining()
        if self.options.dashboard.enabled:
            from coinium.web.server import DashboardServer

            self.dashboard = DashboardServer(self)
            await self.dashboard.start()

    async def run(self) -> None:
        """Start, serve until asked to stop (RPC ``stop``, SIGINT, SIGTERM), then shut down."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        check_listen_ports(self.options)  # before anything starts: a taken port is one line
        try:
            await self.start()
            settle_for_node()  # a node process: the collector set for a long run (gc_pause.py)
            await self._stop.wait()
        finally:
            await self.shutdown()

    def request_stop(self) -> None:
        if not self._stop.is_set():
            log.info("shutdown requested")
            self._stop.set()

    async def shutdown(self) -> None:
        """Stop taking work, then close everything in reverse order; state is flushed by LMDB."""
        if self.dashboard is not None:
            await self.dashboard.stop()
        await self.stop_mining()
        if self._self_test is not None:
            self._self_test.cancel()
            self._self_test = None
        if self.nat is not None:
            await self.nat.stop()
        if self.p2p is not None:
            await self.p2p.stop()
        if self.rpc is not None:
            await self.rpc.stop()
        if self.wallets is not None:
            self.wallets.close()  # drops every unlocked wallet's keys
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
        try:
            await self.p2p.start()
        except zmq.ZMQError as exc:
            raise StartupError(f"--p2p-port / --p2p-pub-port: cannot listen on {p2p.bind} "
                               f"(ports {self.options.p2p_port}, {p2p.pub_port}): "
                               f"{zmq.strerror(exc.errno)}") from None  # fmt: skip

    async def _map_ports(self) -> None:
        """--natpmp: map the P2P ports on the gateway and announce the mapped address."""
        from coinium.nat.mapper import PortMapper

        self.nat = PortMapper([self.p2p.port, self.p2p.pub_port])
        await self.nat.start()

    def _mapped_address(self) -> tuple[str, int] | None:
        mapping = self.nat.mappings.get(self.p2p.port) if self.nat is not None else None
        return None if mapping is None else (mapping.external_ip, mapping.external_port)

    async def start_mining(self, processes: int | None = None) -> None:
        """The in-node miner, to ``--miner-address`` (``--mine``, RPC ``setgenerate``)."""
        from coinium.mining.node_miner import NodeMiner

        if self.miner is not None:
            return
        if self.options.miner_address is None:
            raise ValueError("no miner address: start the node with --miner-address")
        recipient = decode_address(self.options.miner_address, self.params.address_prefix)[1]
        # On regtest every hash is a block: pace the miner so the chain stays readable.
        interval = 0.0 if self.params.retarget else self.options.mine_interval
        self.miner = NodeMiner(self, recipient, processes or self.options.miner_processes,
                               interval, self.options.miner_gpu_devices,
                               self.options.miner_gpu_names)  # fmt: skip
        await self.miner.start()

    async def stop_mining(self) -> None:
        if self.miner is not None:
            miner, self.miner = self.miner, None
            await miner.stop()

    async def _expire_mempool(self) -> None:
        waited = 0.0
        while True:
            await asyncio.sleep(CHECK_INTERVAL_S)
            self._check_free_space()
            waited += CHECK_INTERVAL_S
            if waited >= MEMPOOL_EXPIRY_INTERVAL_S:
                waited = 0.0
                self.mempool.expire(int(time.time()))

    def _proposal_statuses(self, also: Sequence[int]) -> tuple[int, dict[int, int]]:
        """The tip's height and its proposals' statuses, for the ``proposal`` ZMQ topic."""
        return self.chain.height, proposal_statuses(self.chain.get_record, also)

    # --- a full disk (`coinium.store.diskspace`) ----------------------------------------------
    def _check_free_space(self) -> None:
        try:
            free = free_bytes(self.options.datadir)
        except OSError:
            return
        if free < MIN_FREE_BYTES:
            self._stop_for_disk_space(f"only {free >> 20} MiB free, {MIN_FREE_BYTES >> 20} MiB "
                                      "needed")  # fmt: skip

    def _stop_for_disk_space(self, detail: str) -> None:
        if self.disk_full:
            return
        self.disk_full = True
        log.critical("disk space is too low in %s (%s): shutting down; free some space and start "
                     "the node again", self.options.datadir, detail)  # fmt: skip
        self.request_stop()

    # --- chain access -------------------------------------------------------------------------
    async def chain_call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the chain thread (one call at a time) and wait for it."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._chain_thread, fn, *args)
        except Exception as exc:
            if is_disk_full(exc):
                self._stop_for_disk_space(str(exc))
            elif isinstance(exc, (lmdb.Error, OSError)):
                # A write cut short by a filling disk does not always say ENOSPC (LMDB can
                # report EIO from another call than the commit): the free space decides.
                self._check_free_space()
            raise

    async def submit_block(self, block: Block) -> AcceptResult:
        started = time.monotonic()
        result = await self.chain_call(self.chain.accept_block, block)
        self._time_connect(len(result.connected), time.monotonic() - started)
        if result.status == AcceptStatus.INVALID:
            log.info("block %s refused: %s", block.hash.hex(), result.error)
        self.publish(result)
        return result

    async def submit_blocks(self, blocks: list[Block]) -> list[AcceptResult]:
        """A run of blocks, as a sync receives them: the chain checks the next block's
        signatures while it applies the current one, and shares commits across the run
        (`ChainState.accept_blocks`). One result per block, as `submit_block` would give."""
        started = time.monotonic()
        results = await self.chain_call(self.chain.accept_blocks, blocks)
        self._time_connect(sum(len(r.connected) for r in results), time.monotonic() - started)
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

    def _time_connect(self, blocks: int, seconds: float) -> None:
        if blocks:
            for timer in self.connect_timers:
                timer(blocks, seconds)

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

        def build() -> tuple[Block, list[Transaction]]:
            kept = drop_inapplicable(self.chain, txs, parent)  # kinds' own rules
            return build_block(self.chain, kept, coinbase_recipient, extra=extra,
                               parent=parent), kept  # fmt: skip

        block, kept = await self.chain_call(build)
        if len(kept) != len(txs):
            kept_ids = {tx.txid for tx in kept}
            self.mempool.remove_inapplicable(tx.txid for tx in txs if tx.txid not in kept_ids)
        return block
