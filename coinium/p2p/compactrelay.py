"""Compact block relay (BIP152's idea, in its high-bandwidth mode): a new block travels as
CMPCTBLOCK (header, coinbase, short ids: `coinium.p2p.compact`), the receiver rebuilds it from its
mempool and asks only for what it lacks (GETBLOCKTXN, one round trip), or for the full block
when short ids collide.

A rebuilt block whose header connects, whose proof of work holds and whose transactions hash to
its Merkle root is passed on to the other peers at once, marked unchecked, before the chain
validates it (BIP152's high-bandwidth mode: forging one costs a block's proof of work). If the
chain then refuses it, a sender that vouched for it (``checked``) gets the usual penalty
(`BlockRelay._settle`), one that relayed it unchecked none, and the block is remembered as
refused, so this node never relays it again. A full block a peer pushes (or that we fetched
because our mempool mostly lacked its transactions) goes on the same way, as an unchecked compact
block, once its proof of work and Merkle root hold: every hop then validates at the same time
instead of one after the other. A peer that asks for the full block gets it from the blocks this
node holds in memory, and one that fetched it after an unchecked compact block does not blame
the sender if it fails. Peers of protocol 1 get full blocks, and only validated ones.
"""

from __future__ import annotations

import logging
import random
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from coinium import kernels
from coinium.chain.locator import raw_blocks
from coinium.consensus.errors import ConsensusError
from coinium.consensus.header_rules import check_proof_of_work
from coinium.core.block import Block
from coinium.core.transaction import Transaction
from coinium.p2p.compact import Rebuild, rebuild, short_ids
from coinium.p2p.dispatch import Handler
from coinium.p2p.gossip import SeenCache
from coinium.p2p.messages import (
    COMPACT_BLOCKS_VERSION,
    BlockMsg,
    BlockTxn,
    CmpctBlock,
    GetBlockTxn,
    GetData,
    InvKind,
)
from coinium.p2p.peer import Peer
from coinium.p2p.scoring import Misbehaviour
from coinium.p2p.sync import decode_block

if TYPE_CHECKING:
    from coinium.p2p.manager import PeerManager

log = logging.getLogger("coinium.net")

MAX_REBUILDING = 16  # compact blocks waiting for their missing transactions


def compact_of(block: Block, salt: int, *, checked: bool = True) -> CmpctBlock:
    txids = [tx.txid for tx in block.transactions[1:]]
    return CmpctBlock(block.header, salt, block.transactions[0].raw,
                      short_ids(block.header, salt, txids), checked)  # fmt: skip


def takes_compact(peer: Peer) -> bool:
    return peer.version is not None and peer.version.protocol >= COMPACT_BLOCKS_VERSION


class CompactRelay:
    """Sending blocks as compact blocks, and rebuilding the ones peers send."""

    def __init__(self, host: PeerManager) -> None:
        self.host = host
        self._rebuilding: OrderedDict[bytes, tuple[Rebuild, Peer, bool]] = OrderedDict()
        self._mostly_unknown = SeenCache(max_entries=1024, ttl=600.0)
        self._asked_full = SeenCache(max_entries=1024, ttl=120.0)
        # Full blocks asked for after an unchecked compact block: block hash -> the peer asked
        # (it did not vouch for the block, so it is not blamed if the block fails).
        self._asked_unchecked: OrderedDict[bytes, Peer] = OrderedDict()
        self._relayed_unchecked = SeenCache(max_entries=1024, ttl=600.0)
        # What happened to the compact blocks received (the bench reads them).
        self.counts = {"rebuilt": 0, "round_trips": 0, "full_blocks": 0}

    def handlers(self) -> dict[type, Handler]:
        return {CmpctBlock: self._on_cmpctblock, GetBlockTxn: self._on_getblocktxn,
                BlockTxn: self._on_blocktxn}  # fmt: skip

    # --- sending ------------------------------------------------------------------------------
    def relay(self, block: Block, source: Peer | None, raw: bytes | None, *,
              full: bool = False, checked: bool = True) -> bool:
        """Tell every peer but ``source`` about ``block``, once: compact, or in full to a peer
        of protocol 1 (to all with ``full``: a block whose transactions our own mempool mostly
        lacked, so our peers' probably do too and a compact block would cost them a round
        trip). ``checked``: false for a block relayed before our chain validated it."""
        peers = self.host.active_peers()
        if not checked:
            # Before validation: compact blocks only, marked unchecked. A peer of protocol 1
            # reads only full blocks, which vouch for the block: it gets one once we accept it.
            self._relayed_unchecked.add(block.hash)
            compact = compact_of(block, random.getrandbits(64), checked=False)
            return self.host.gossip.relay_block(
                compact, block.hash, [p for p in peers if takes_compact(p)], source)
        if block.hash in self._relayed_unchecked:
            self._send_full_to_old_peers(block, source, raw)
            return False
        if full:
            message = BlockMsg(raw if raw is not None else block.encode())
            return self.host.gossip.relay_block(message, block.hash, peers, source)
        compact = compact_of(block, random.getrandbits(64), checked=checked)
        return self.host.gossip.relay_block(
            compact, block.hash, peers, source,
            full=lambda: BlockMsg(raw if raw is not None else block.encode()),
            takes=takes_compact)

    def relay_ahead(self, block: Block, source: Peer, raw: bytes | None) -> bool:
        """Pass a pushed full block on before the chain validates it (as an unchecked compact
        block), if it extends our tip and its proof of work and Merkle root hold; True if sent.
        Whatever fails here is left to the chain, which judges the block as usual."""
        header = block.header
        if header.prev_hash != self.host.tip().hash:
            return False
        try:
            check_proof_of_work(header, self.host.params)
        except ConsensusError:
            return False
        if kernels.merkle_root(block.txids()) != header.merkle_root:
            return False
        return self.relay(block, source, raw, checked=False)

    def _send_full_to_old_peers(self, block: Block, source: Peer | None,
                                raw: bytes | None) -> None:  # fmt: skip
        message = None
        for peer in self.host.active_peers():
            if peer is source or takes_compact(peer) or block.hash in peer.known:
                continue
            peer.known.add(block.hash)
            if message is None:
                message = BlockMsg(raw if raw is not None else block.encode())
            self.host.send(peer, message)

    async def _on_getblocktxn(self, peer: Peer, msg: GetBlockTxn, channel: str) -> None:
        raw = self.host.blocks.recent_raw(msg.block_hash)
        if raw is None:
            [(_, raw)] = await self.host.on_chain(raw_blocks, [msg.block_hash])
        if raw is None:
            return  # not a block we have (BIP152: ignored)
        block = await decode_block(BlockMsg(raw))
        if msg.indexes and msg.indexes[-1] >= len(block.transactions):
            self.host.misbehaving(peer, Misbehaviour.PROTOCOL,
                                  f"getblocktxn index {msg.indexes[-1]} beyond the block")
            return
        txs = block.transactions
        self.host.send(peer, BlockTxn(msg.block_hash, tuple(txs[i] for i in msg.indexes)))

    # --- receiving ----------------------------------------------------------------------------
    async def _on_cmpctblock(self, peer: Peer, msg: CmpctBlock, channel: str) -> None:
        blocks = self.host.blocks
        block_hash = msg.hash
        peer.known.add(block_hash)
        if blocks.handled(block_hash) or block_hash in self._rebuilding:
            return
        if not await blocks.connects(peer, msg.header):
            return
        try:
            check_proof_of_work(msg.header, self.host.params)
        except ConsensusError as exc:
            self.host.misbehaving(peer, Misbehaviour.BAD_HEADERS, exc.reason)
            return
        coinbase = Transaction.decode(msg.coinbase)  # DecodeError: malformed (the worker)
        entries = self.host.hooks.mempool.entries()
        found = rebuild(msg.header, msg.salt, coinbase, msg.short_ids,
                        ((e.txid, e.tx) for e in entries))  # fmt: skip
        if found.collision:
            self._ask_full(peer, block_hash, msg.checked)
            return
        missing = found.missing
        if 2 * len(missing) > len(msg.short_ids):
            # Most of it is new to us: the full block is as big as the missing transactions and
            # decodes faster (then it goes on at once, compact: `BlockRelay` calls relay_ahead).
            self._ask_full(peer, block_hash, msg.checked)
            return
        if missing:
            self.counts["round_trips"] += 1
            self._rebuilding[block_hash] = (found, peer, msg.checked)
            while len(self._rebuilding) > MAX_REBUILDING:
                self._rebuilding.popitem(last=False)
            self.host.send(peer, GetBlockTxn(block_hash, tuple(missing)))
            return
        await self._finish(peer, found, msg.checked)

    def note_known(self, block_hash: bytes, known: int, total: int) -> None:
        """How many of a block's transactions our mempool held when it came: a block our
        mempool mostly lacked is relayed in full (our peers probably lack them too)."""
        if 2 * known < total:
            self._mostly_unknown.add(block_hash)

    def mostly_unknown(self, block_hash: bytes) -> bool:
        return block_hash in self._mostly_unknown

    async def _on_blocktxn(self, peer: Peer, msg: BlockTxn, channel: str) -> None:
        entry = self._rebuilding.get(msg.block_hash)
        if entry is None or entry[1] is not peer:
            self.host.misbehaving(peer, Misbehaviour.UNREQUESTED, "blocktxn for no request")
            return
        found, _, checked = self._rebuilding.pop(msg.block_hash)
        txs = list(msg.txs)
        if not found.fill(found.missing, txs):
            self.host.misbehaving(peer, Misbehaviour.PROTOCOL,
                                  f"blocktxn of {len(txs)} for {len(found.missing)} asked")
            return
        await self._finish(peer, found, checked, fetched=len(txs))

    async def _finish(self, peer: Peer, found: Rebuild, checked: bool, fetched: int = 0) -> None:
        block_hash = found.header.hash
        block = found.block()
        if block is None:  # a short id matched the wrong transaction: not the sender's fault
            self._ask_full(peer, block_hash, checked)
            return
        blocks = self.host.blocks
        if blocks.handled(block_hash):
            return
        self.counts["rebuilt"] += 1
        self.note_known(block_hash, len(found.slots) - fetched, len(found.slots))
        # High-bandwidth mode: header, proof of work and Merkle root hold (rebuild checked the
        # root), and it extends our tip: pass it on before the chain's full validation, marked
        # unchecked.
        # A peer that lacks most of it asks for the full block, served from the raw bytes kept.
        raw = None
        if block.header.prev_hash == self.host.tip().hash:
            raw = block.encode()
            self.relay(block, peer, raw, checked=False)
        await blocks.submit_pushed(block, peer, raw, vouched=checked)

    def _ask_full(self, peer: Peer, block_hash: bytes, checked: bool) -> None:
        self.counts["full_blocks"] += 1
        self._asked_full.add(block_hash)
        if not checked:
            self._asked_unchecked[block_hash] = peer
            while len(self._asked_unchecked) > MAX_REBUILDING * 64:
                self._asked_unchecked.popitem(last=False)
        self.host.send(peer, GetData(InvKind.BLOCK, (block_hash,)))

    def vouched(self, peer: Peer, block_hash: bytes) -> bool:
        """Whether ``peer`` vouches for the full block it sent: not if we asked it for the block
        after its compact block said unchecked."""
        if self._asked_unchecked.get(block_hash) is not peer:
            return True
        del self._asked_unchecked[block_hash]
        return False

    def asked_full(self, peer: Peer, hashes: Sequence[bytes]) -> bool:
        """Whether a NOTFOUND answers our request for full blocks (so it is no offence)."""
        return bool(hashes) and all(h in self._asked_full for h in hashes)
