"""Block relay: pushed BLOCK messages (a new tip from a neighbour), serving blocks and headers
(GETDATA, GETHEADERS), handing blocks to the chain and settling with their senders, and relaying
each new tip once the chain accepted it. The download itself is `coinium.p2p.sync`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from coinium.chain.chainstate import AcceptResult, AcceptStatus
from coinium.chain.locator import headers_after, raw_blocks, stored_blocks
from coinium.core.block import Block
from coinium.core.header import Header
from coinium.p2p import scoring
from coinium.p2p.dispatch import Handler
from coinium.p2p.gossip import SeenCache
from coinium.p2p.messages import (
    BlockMsg,
    GetData,
    GetHeaders,
    Headers,
    Inv,
    MsgType,
    NotFound,
    Tip,
)
from coinium.p2p.peer import Peer
from coinium.p2p.scoring import Merit, Misbehaviour
from coinium.p2p.sync import MAX_PER_GETDATA, UNCONNECTING_TOLERANCE, decode_block

if TYPE_CHECKING:
    from coinium.p2p.manager import PeerManager

log = logging.getLogger("coinium.net")

RECENT_RAW_BLOCKS = 32
SERVE_BATCH = 16  # blocks read per chain call when serving a getdata


class BlockRelay:
    """The block side of the protocol, outside the headers-first download."""

    def __init__(self, host: PeerManager) -> None:
        self.host = host
        self.seen = SeenCache()  # blocks handled (stored, or refused for good)
        self._processing: set[bytes] = set()
        self._block_source: OrderedDict[bytes, Peer | None] = OrderedDict()
        self._recent_raw: OrderedDict[bytes, bytes] = OrderedDict()
        self._run_lock = asyncio.Lock()

    def handlers(self) -> dict[type, Handler]:
        return {GetHeaders: self._on_getheaders, Headers: self._on_headers,
                BlockMsg: self._on_block}  # fmt: skip

    async def on_inv(self, peer: Peer, msg: Inv, channel: str) -> None:
        for item in msg.hashes:
            peer.known.add(item)
        if any(h not in self.seen for h in msg.hashes):
            await self.host.sync.request_headers(peer)

    async def on_getdata(self, peer: Peer, msg: GetData, channel: str) -> None:
        await self.host.links.drain(peer)
        if len(msg.hashes) > MAX_PER_GETDATA:
            self.host.misbehaving(peer, Misbehaviour.TOO_MANY_ITEMS,
                                  f"{len(msg.hashes)} blocks in one getdata")  # fmt: skip
            return
        # A few blocks per read, and only as fast as the peer takes them: a request for many
        # large blocks must not pile up in memory.
        missing = []
        for i in range(0, len(msg.hashes), SERVE_BATCH):
            await self.host.links.drain(peer)
            chunk = msg.hashes[i : i + SERVE_BATCH]
            # A new block is served from memory first: it may not be stored yet (relayed ahead of
            # validation), and the chain thread may be busy validating it.
            recent = [(h, self._recent_raw.get(h)) for h in chunk]
            if any(raw is None for _, raw in recent):
                recent = await self.host.on_chain(raw_blocks, chunk)
            for block_hash, raw in recent:
                if raw is None:
                    raw = self._recent_raw.get(block_hash)
                if raw is None:
                    missing.append(block_hash)
                else:
                    peer.known.add(block_hash)
                    self.host.links.send_frame(peer, bytes((MsgType.BLOCK,)) + raw)
        if missing:
            self.host.send(peer, NotFound(msg.kind, tuple(missing)))

    async def on_notfound(self, peer: Peer, msg: NotFound, channel: str) -> None:
        if self.host.compact.asked_full(peer, msg.hashes):
            return
        if not self.host.sync.on_notfound(peer, msg.hashes):
            self.host.misbehaving(peer, Misbehaviour.UNREQUESTED, "notfound for no request")

    async def _on_getheaders(self, peer: Peer, msg: GetHeaders, channel: str) -> None:
        await self.host.links.drain(peer)
        headers = await self.host.hooks.on_chain(headers_after, msg.locator, msg.stop)
        self.host.send(peer, Headers(tuple(headers)))

    async def _on_headers(self, peer: Peer, msg: Headers, channel: str) -> None:
        await self.host.sync.on_headers(peer, msg.headers)

    async def _on_block(self, peer: Peer, msg: BlockMsg, channel: str) -> None:
        block_hash = msg.hash
        peer.known.add(block_hash)
        if self.host.sync.requested(block_hash):
            await self.host.sync.on_block(peer, msg, block_hash)
            return
        if self.handled(block_hash):
            return  # a relay of something we have (every neighbour sends it), or of the download
        block = await decode_block(msg)  # DecodeError: malformed, handled by the worker
        if self.handled(block_hash):
            return  # another copy was handled while this one decoded
        if await self.connects(peer, block.header):
            mempool = self.host.hooks.mempool
            known = sum(1 for tx in block.transactions[1:] if tx.txid in mempool)
            self.host.compact.note_known(block_hash, known, len(block.transactions) - 1)
            await self.submit_pushed(block, peer, msg.raw, ahead=True,
                                     vouched=self.host.compact.vouched(peer, block_hash))

    def handled(self, block_hash: bytes) -> bool:
        """Whether a pushed block (full or compact) is nothing to act on: stored, refused for
        good, under way, or part of the download (which asks for it in its turn)."""
        return (block_hash in self.seen or block_hash in self._processing
                or self.host.sync.requested(block_hash) or self.host.sync.wants(block_hash))

    async def connects(self, peer: Peer, header: Header) -> bool:
        """Whether a pushed block's parent is known; if not, its headers are asked for."""
        parent = header.prev_hash
        if parent in self.seen or await self.host.on_chain(stored_blocks, [parent]):
            return True
        # No orphan blocks from pushes (Bitcoin Core's rule): nothing is checked, stored or held
        # for a block that does not connect; its headers are asked for instead.
        peer.unconnecting += 1
        if peer.unconnecting % UNCONNECTING_TOLERANCE == 0:
            self.host.misbehaving(peer, Misbehaviour.UNCONNECTING_HEADERS, "unconnecting blocks")
        await self.host.sync.request_headers(peer)
        return False

    async def submit_pushed(self, block: Block, peer: Peer, raw: bytes | None, *,
                            vouched: bool = True, ahead: bool = False) -> None:  # fmt: skip
        """``vouched``: the peer said its chain accepted the block (a compact block relayed
        before validation says not: if it fails, the relayer is not penalised). ``ahead``:
        relay it before validation if it qualifies (`CompactRelay.relay_ahead`)."""
        block_hash = block.hash
        self._processing.add(block_hash)
        try:
            self._remember_source(block, peer, raw)
            if ahead:
                self.host.compact.relay_ahead(block, peer, raw)
            result = self._settle(block, peer, await self.host.hooks.submit_block(block),
                                  vouched=vouched)  # fmt: skip
        finally:
            self._processing.discard(block_hash)
        if result.status == AcceptStatus.ORPHAN:
            await self.host.sync.request_headers(peer)

    async def submit_block(self, block: Block, peer: Peer | None,
                           raw: bytes | None) -> AcceptResult:  # fmt: skip
        """Hand a block to the chain and settle with the peer that sent it."""
        self._remember_source(block, peer, raw)
        return self._settle(block, peer, await self.host.hooks.submit_block(block))

    async def submit_blocks(
        self, run: list[tuple[Block, Peer | None, bytes | None]]
    ) -> list[AcceptResult]:
        """Hand a run of consecutive blocks (a sync) to the chain in one call, then settle with
        each block's peer exactly as `submit_block` does."""
        if self.host.hooks.submit_blocks is None:
            # One block at a time: a run must not interleave with the next one the sync queued.
            async with self._run_lock:
                return [await self.submit_block(block, peer, raw) for block, peer, raw in run]
        for block, peer, raw in run:
            self._remember_source(block, peer, raw)
        results = await self.host.hooks.submit_blocks([block for block, _, _ in run])
        return [self._settle(block, peer, result)
                for (block, peer, _), result in zip(run, results, strict=True)]  # fmt: skip

    def _remember_source(self, block: Block, peer: Peer | None, raw: bytes | None) -> None:
        block_hash = block.hash
        if raw is not None:
            self._recent_raw[block_hash] = raw
            while len(self._recent_raw) > RECENT_RAW_BLOCKS:
                self._recent_raw.popitem(last=False)
        self._block_source[block_hash] = peer
        while len(self._block_source) > RECENT_RAW_BLOCKS:
            self._block_source.popitem(last=False)

    def _settle(self, block: Block, peer: Peer | None, result: AcceptResult,
                vouched: bool = True) -> AcceptResult:  # fmt: skip
        block_hash = block.hash
        if result.status == AcceptStatus.INVALID:
            self._recent_raw.pop(block_hash, None)  # never served to anyone again
            offence = scoring.for_block_error(result.error)
            if peer is not None and offence is not None and vouched:
                self.host.misbehaving(peer, offence,
                                      f"block {block_hash.hex()[:16]}: {result.reason}")
            # Refused for good: not a corrupted copy of a good block (mutated), nor one that may
            # be valid later (time-too-new).
            if result.error is None or (result.error.permanent and not result.error.mutated):
                self.seen.add(block_hash)
            return result
        self.seen.add(block_hash)
        if peer is not None:
            peer.note_tip(Tip(block.height, block_hash, 0))
            if result.status == AcceptStatus.NEW_TIP:
                self.host.reward(peer, Merit.NOVEL_BLOCK)
                peer.stats.last_block = int(time.time())
            else:
                self.host.reward(peer, Merit.SERVED_BLOCK)
        return result

    def block_synced(self, block_hash: bytes) -> None:
        """The sync reached the end of its path: tell the peers about our tip now."""
        height, tip_hash, _ = self.host.hooks.tip()
        raw = self._recent_raw.get(tip_hash)
        if raw is not None:
            self.host.compact.relay(BlockMsg(raw).decode(), self._block_source.get(tip_hash), raw)

    def block_connected(self, block: Block) -> None:
        self.seen.add(block.hash)
        # A confirmed transaction may come back to the mempool in a reorg: relay it again then.
        for tx in block.transactions[1:]:
            self.host.gossip.txs_relayed.discard(tx.txid)

    def block_disconnected(self, block: Block) -> None:
        pass

    def tip_updated(self, tip: Block) -> None:
        block_hash = tip.hash
        if self.host.sync.is_intermediate(block_hash) or not self.host.peers:
            return
        self.host.compact.relay(tip, self._block_source.get(block_hash),
                                self._recent_raw.get(block_hash),
                                full=self.host.compact.mostly_unknown(block_hash))  # fmt: skip

    def recent_raw(self, block_hash: bytes) -> bytes | None:
        return self._recent_raw.get(block_hash)

