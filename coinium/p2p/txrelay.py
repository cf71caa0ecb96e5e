"""Transaction relay: inventory (INV, GETDATA, NOTFOUND of kind TX), TX and TXS messages into the
mempool, transactions held for a nonce gap (orphans), MEMPOOL requests, and relay of what the
mempool took (in batches, `coinium.p2p.txbatch`).

A TXS message is admitted as a batch (`Mempool.add_batch`): the signatures of the transactions
the node has not seen are checked together on the mempool's worker thread, then each one meets
the rules in the message's order, with exactly the verdict it would get alone; each refusal
costs the sender what a TX with that transaction would."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coinium.core.codec import DecodeError
from coinium.core.transaction import Transaction
from coinium.crypto.address import account_id
from coinium.mempool.pool import MempoolReject
from coinium.p2p import scoring
from coinium.p2p.dispatch import Handler
from coinium.p2p.gossip import SeenCache
from coinium.p2p.messages import (
    GetData,
    Inv,
    InvKind,
    MempoolReq,
    NotFound,
    TxMsg,
    TxsMsg,
)
from coinium.p2p.peer import Peer
from coinium.p2p.scoring import Merit, Misbehaviour
from coinium.p2p.txbatch import TxBatcher, takes_batches, tx_frames

if TYPE_CHECKING:
    from coinium.p2p.manager import PeerManager

log = logging.getLogger("coinium.net")

MEMPOOL_REQUEST_INTERVAL_S = 30.0
TX_ORPHANS_MAX = 1000
TX_ORPHAN_TTL_S = 20 * 60.0


@dataclass(slots=True)
class _TxOrphan:
    tx: Transaction
    peer: Peer | None
    expires: float


class TxRelay:
    """The transaction side of the protocol."""

    def __init__(self, host: PeerManager) -> None:
        self.host = host
        self.tx_rejects = SeenCache(ttl=600.0)  # txids the mempool refused (cleared on new tips)
        self.tx_orphans: OrderedDict[tuple[bytes, int], _TxOrphan] = OrderedDict()
        self._tx_source: dict[bytes, Peer] = {}
        self.batcher = TxBatcher(host)

    def handlers(self) -> dict[type, Handler]:
        return {TxMsg: self._on_tx, TxsMsg: self._on_txs, MempoolReq: self._on_mempool}

    def new_tip(self) -> None:
        self.tx_rejects = SeenCache(ttl=600.0)  # a new state: refused txs may now be fine
        self.batcher.removed()  # the block may hold some that wait to be relayed (the mempool
        # announces no removal for a block's transactions)

    def expire_orphans(self, now: float) -> None:
        expired = [k for k, o in self.tx_orphans.items() if o.expires < now]
        for key in expired:
            del self.tx_orphans[key]

    async def on_inv(self, peer: Peer, msg: Inv, channel: str) -> None:
        for item in msg.hashes:
            peer.known.add(item)
        mempool = self.host.hooks.mempool
        wanted = [h for h in msg.hashes if h not in mempool and h not in self.tx_rejects
                  and h not in self.host.gossip.txs_relayed and h not in peer.tx_requested]
        for txid in wanted:
            peer.tx_requested.add(txid)
        for i in range(0, len(wanted), 2000):
            self.host.send(peer, GetData(InvKind.TX, tuple(wanted[i : i + 2000])))

    async def on_getdata(self, peer: Peer, msg: GetData, channel: str) -> None:
        await self.host.links.drain(peer)
        missing = []
        found = []
        mempool = self.host.hooks.mempool
        for txid in msg.hashes:
            entry = mempool.get(txid)
            if entry is None:
                missing.append(txid)
            else:
                peer.known.add(txid)
                found.append((txid, entry.tx.raw))
        for frame in tx_frames(found, takes_batches(peer)):
            self.host.links.send_frame(peer, frame)
        if missing:
            self.host.send(peer, NotFound(msg.kind, tuple(missing)))

    async def on_notfound(self, peer: Peer, msg: NotFound, channel: str) -> None:
        requested = [h for h in msg.hashes if h in peer.tx_requested]
        for txid in requested:
            peer.tx_requested.discard(txid)
        if not requested:
            self.host.misbehaving(peer, Misbehaviour.UNREQUESTED, "notfound for no request")

    async def _on_tx(self, peer: Peer, msg: TxMsg, channel: str) -> None:
        txid = msg.txid
        peer.known.add(txid)
        peer.tx_requested.discard(txid)
        mempool = self.host.hooks.mempool
        if txid in mempool or txid in self.tx_rejects or txid in self.host.gossip.txs_relayed:
            return
        try:
            tx = msg.decode()
        except DecodeError as exc:
            self.host.misbehaving(peer, Misbehaviour.INVALID_TX, f"undecodable: {exc}")
            return
        await self.accept_tx(tx, peer)

    async def _on_txs(self, peer: Peer, msg: TxsMsg, channel: str) -> None:
        txids = [tx.txid for tx in msg.txs]
        peer.known.update(txids)
        peer.tx_requested.discard_all(txids)
        fresh: dict[bytes, Transaction] = {}
        for txid, tx in zip(txids, msg.txs, strict=True):
            fresh.setdefault(txid, tx)  # of a transaction that repeats, the first
        mempool = self.host.hooks.mempool
        unseen = [txid for txid in fresh if txid not in mempool]
        unseen = self.host.gossip.txs_relayed.unseen(self.tx_rejects.unseen(unseen))
        if unseen:
            await self.accept_batch([fresh[txid] for txid in unseen], peer)

    async def accept_batch(self, txs: list[Transaction], peer: Peer | None) -> list[bool]:
        """`accept_tx` for many: one signature batch, then each in order; which were taken."""
        if peer is not None:
            self._tx_source.update((tx.txid, peer) for tx in txs)
        try:
            results = await self.host.hooks.mempool.add_batch(txs, decoded=True)
        finally:
            pop = self._tx_source.pop
            for tx in txs:
                pop(tx.txid, None)
        taken = [not isinstance(result, MempoolReject) for result in results]
        novel = sum(taken)
        if peer is not None and novel:
            self.host.reward(peer, Merit.NOVEL_TX, novel)
            peer.stats.last_transaction = int(time.time())
        if novel < len(txs):
            for tx, result in zip(txs, results, strict=True):
                if isinstance(result, MempoolReject):
                    self._refused(tx, peer, result)
        if self.tx_orphans:
            for tx, took in zip(txs, taken, strict=True):
                if took:
                    await self._release_orphans(tx)
        return taken

    def _refused(self, tx: Transaction, peer: Peer | None, reject: MempoolReject) -> None:
        offence = scoring.for_tx_reject(reject.reason)
        if offence is not None and peer is not None:
            self.host.misbehaving(peer, offence, f"tx {tx.txid.hex()[:16]}: {reject.reason}")
        if reject.reason == "nonce-gap":
            self._hold_orphan(tx, peer)
        elif reject.reason != "txn-already-in-mempool":
            self.tx_rejects.add(tx.txid)

    async def accept_tx(self, tx: Transaction, peer: Peer | None, release: bool = True) -> bool:
        txid = tx.txid
        if peer is not None:
            self._tx_source[txid] = peer
        try:
            await self.host.hooks.submit_transaction(tx)
        except MempoolReject as reject:
            self._refused(tx, peer, reject)
            return False
        finally:
            self._tx_source.pop(txid, None)
        if peer is not None:
            self.host.reward(peer, Merit.NOVEL_TX)
            peer.stats.last_transaction = int(time.time())
        if release and self.tx_orphans:
            await self._release_orphans(tx)
        return True

    def _hold_orphan(self, tx: Transaction, peer: Peer | None) -> None:
        """A transaction whose sender has a nonce gap: keep it until the gap closes."""
        key = (account_id(tx.sender), tx.nonce)
        self.tx_orphans[key] = _TxOrphan(tx, peer, time.monotonic() + TX_ORPHAN_TTL_S)
        while len(self.tx_orphans) > TX_ORPHANS_MAX:
            self.tx_orphans.popitem(last=False)

    async def _release_orphans(self, tx: Transaction) -> None:
        sender, nonce = account_id(tx.sender), tx.nonce
        while True:
            nonce += 1
            orphan = self.tx_orphans.pop((sender, nonce), None)
            if orphan is None or not await self.accept_tx(orphan.tx, orphan.peer, release=False):
                return

    async def _on_mempool(self, peer: Peer, msg: MempoolReq, channel: str) -> None:
        now = time.monotonic()
        if peer.last_mempool_request and \
                now - peer.last_mempool_request < MEMPOOL_REQUEST_INTERVAL_S:  # fmt: skip
            return
        peer.last_mempool_request = now
        await self.host.links.drain(peer)
        txids = self.host.hooks.mempool.txids()
        for i in range(0, len(txids), 2000):
            chunk = tuple(txids[i : i + 2000])
            for txid in chunk:
                peer.known.add(txid)
            self.host.send(peer, Inv(InvKind.TX, chunk))

    def transaction_added(self, tx_raw: bytes, txid: bytes, mempool_sequence: int) -> None:
        if self.host.peers:
            self.batcher.add(txid, tx_raw, self._tx_source.get(txid))

    def transaction_removed(self, tx_raw: bytes, txid: bytes, reason: str,
                            mempool_sequence: int) -> None:  # fmt: skip
        self.batcher.removed()

