"""Headers-first sync and the block download window.

1. A peer whose tip has more work than ours (in its VERSION, PING or PONG, or an unconnecting
   block it pushed) is asked ``getheaders`` with our locator; it answers up to 2,000 headers
   after the last block we share. Headers must chain and carry their proof of work; they are kept
   in memory with their cumulative work (`PendingHeader`). A full batch asks for the next one.
2. When the best pending header has more work than our tip, the *path* is the list of its
   ancestors we do not have, oldest first. Blocks of the path are requested in a moving window of
   `WINDOW` blocks from the first one not yet connected, at most `MAX_IN_FLIGHT` per peer, spread
   over every peer whose best known height reaches them (least loaded first), so a sync draws on
   several peers in parallel. Only blocks whose header we checked are ever requested.
3. Blocks arrive in any order and are handed to the chain strictly in path order (the chain's
   orphan pool is small, and in-order intake never needs it), in *runs* of consecutive blocks
   (`ChainState.accept_blocks`: signatures checked ahead, commits shared). Up to `RUNS_QUEUED`
   runs wait on the chain thread at once, so it starts the next run the moment one ends instead
   of idling while the event loop settles the last one's results. Only blocks that were
   requested (from any peer) are kept: a pushed block of the path waits for its turn to be
   asked. What the sync holds is bounded twice: by the window, and by `MAX_AHEAD_BYTES` of
   downloaded blocks the chain has not yet answered (past that, no new block is requested: a
   fast peer must not fill memory with a chain the node validates more slowly). A large block
   is decoded on a worker thread, not on the event loop.
4. A peer that holds up the window (the first missing block has been in flight from it longer than
   the stall timeout, 2 s, doubling on each stall up to 64 s) is disconnected and replaced; its
   requests go to other peers. ``notfound`` moves a request to another peer at once. Every other
   peer holding requests is watched too: one that has delivered none of its requested blocks for
   `PEER_STALL_TIMEOUT_S` is disconnected (otherwise a second staller keeps its 32 requests, the
   window's head waits for a free slot, and nothing moves until the 60 s request timeout).

The chain decides validity: a block the chain refuses ends the path (its descendants cannot be
valid), except a *mutated* one (a body that does not match its good header), which is asked again
from another peer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from coinium.chain.chainstate import AcceptResult, AcceptStatus
from coinium.chain.locator import block_locator, header_facts
from coinium.consensus.errors import ConsensusError
from coinium.consensus.header_rules import check_proof_of_work
from coinium.consensus.pow import decode_compact, target_to_work
from coinium.core.block import Block
from coinium.core.codec import DecodeError
from coinium.core.header import Header
from coinium.core.params import NetworkParams
from coinium.p2p.messages import MAX_HEADERS, BlockMsg, GetData, GetHeaders, InvKind, Message
from coinium.p2p.peer import Peer
from coinium.p2p.scoring import Misbehaviour

log = logging.getLogger("coinium.net")

WINDOW = 1024
MAX_IN_FLIGHT = 32
REFILL_BATCH = 8  # a peer is sent more requests once this many of its slots are free
MAX_PER_GETDATA = 128  # blocks one getdata may ask for (a bigger request is refused)
STALL_TIMEOUT_MIN_S = 2.0
STALL_TIMEOUT_MAX_S = 64.0
BLOCK_TIMEOUT_S = 60.0  # any request older than this goes to another peer
PEER_STALL_TIMEOUT_S = 15.0  # a peer holding requests that delivers none for this long is dropped
HEADERS_TIMEOUT_S = 30.0
MAX_PENDING_HEADERS = 100_000  # ask for more headers only when the download has caught up
UNCONNECTING_TOLERANCE = 8  # unconnecting header batches before each penalty
SUBMIT_RUN_BLOCKS = 32  # consecutive blocks handed to the chain's sync pipeline in one call
RUNS_QUEUED = 2  # runs waiting on the chain thread at once (one applied, the next queued)
# Wire bytes of downloaded blocks not yet answered by the chain (received or in a queued run);
# the window requests no new block beyond it. A decoded block takes ~4x its wire size, so this
# holds ~130 MiB: 110 blocks of 2,000 transfers, three runs and more.
MAX_AHEAD_BYTES = 32 << 20
DECODE_INLINE_MAX = 256 << 10  # larger blocks are decoded on a worker thread (~15 ms per MB)


async def decode_block(message: BlockMsg) -> Block:
    """The block in ``message``; a large one is decoded off the event loop. Raises
    `DecodeError`."""
    if len(message.raw) <= DECODE_INLINE_MAX:
        return message.decode()
    return await asyncio.to_thread(message.decode)


class SyncHost(Protocol):
    """What the sync needs from the peer manager."""

    params: NetworkParams

    async def on_chain(self, fn: Any, *args: Any) -> Any: ...

    async def submit_block(self, block: Block, peer: Peer | None,
                           raw: bytes | None) -> AcceptResult: ...

    async def submit_blocks(
        self, run: list[tuple[Block, Peer | None, bytes | None]]
    ) -> list[AcceptResult]:
        """Accept a run of blocks; runs submitted one after another are accepted in that order
        (the sync queues the next run while the chain applies one)."""
        ...

    def send(self, peer: Peer, message: Message) -> None: ...

    def misbehaving(self, peer: Peer, what: Misbehaviour, detail: str = "") -> None: ...

    def active_peers(self) -> list[Peer]: ...

    def disconnect(self, peer: Peer, reason: str) -> None: ...

    def block_synced(self, block_hash: bytes) -> None: ...

    def background(self, coro: Any) -> None: ...


@dataclass(slots=True)
class PendingHeader:
    header: Header
    work: int  # cumulative, including this header


def header_work(header: Header) -> int:
    try:
        return target_to_work(decode_compact(header.bits))
    except ValueError:
        return 0


class BlockSync:
    def __init__(self, host: SyncHost):
        self.host = host
        self.headers: dict[bytes, PendingHeader] = {}
        self.best: PendingHeader | None = None
        self.path: list[bytes] = []
        self.next = 0  # index in path of the next block the chain has not yet answered
        self.submitted = 0  # index in path of the next block not yet in a run (>= next)
        self.cursor = 0  # index in path of the next block never requested
        self.retry: deque[bytes] = deque()  # blocks to request again (timeouts, notfound)
        self.received: dict[bytes, tuple[Block, Peer | None, bytes]] = {}
        # Runs handed to the chain, oldest first, with their blocks and wire bytes until answered.
        self.runs: deque[tuple[list[tuple[Block, Peer | None, bytes]], asyncio.Future]] = deque()
        self.submitting: set[bytes] = set()
        self.ahead_bytes = 0  # wire bytes of blocks in received and in runs
        self._rewind = False  # re-request what follows a mutated block once its runs are answered
        self.in_flight: dict[bytes, tuple[Peer, float]] = {}
        self.delivered: dict[int, float] = {}  # peer id -> when it last delivered a requested block
        self.headers_asked: dict[int, float] = {}
        self.more_from: dict[int, bytes] = {}  # peer id -> last header of a full batch
        self.stall_timeout = STALL_TIMEOUT_MIN_S
        self.blocks_synced = 0
        self.started_at: float | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._submit_loop(), name="p2p-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        # Runs already on the chain thread finish there; their outcome is nobody's business now.
        await asyncio.gather(*(future for _, future in self.runs), return_exceptions=True)
        self.runs.clear()

    @property
    def active(self) -> bool:
        return self.next < len(self.path)

    def is_intermediate(self, block_hash: bytes) -> bool:
        """A block of the path that is not its last: the node is still catching up, so its
        arrival as a tip is not news worth relaying."""
        return self.active and block_hash != self.path[-1] and block_hash in self.headers

    def wants(self, block_hash: bytes) -> bool:
        return block_hash in self.headers

    def requested(self, block_hash: bytes) -> bool:
        """Whether the download asked some peer for this block and waits for it."""
        return block_hash in self.in_flight

    # --- headers ------------------------------------------------------------------------------
    async def request_headers(self, peer: Peer, start: bytes | None = None,
                              force: bool = False) -> None:  # fmt: skip
        """Ask ``peer`` for headers after our chain (or after the pending header ``start``)."""
        if not peer.active:
            return
        now = time.monotonic()
        asked = self.headers_asked.get(peer.id)
        if asked is not None and now - asked < HEADERS_TIMEOUT_S and not force:
            return
        if len(self.headers) >= MAX_PENDING_HEADERS and not force:
            if self.active:
                return  # the download catches up first
            # No download is under way, so the pending headers lead nowhere (a branch with less
            # work than ours, cheap to make at the proof-of-work limit): forget them rather
            # than let them stop every later sync.
            self.headers.clear()
            self.more_from.clear()
            self.best = None
        self.headers_asked[peer.id] = now
        locator: list[bytes] = await self.host.on_chain(block_locator)
        if start is not None and start not in locator:
            locator = [start, *locator[:100]]
        if peer.active:
            self.host.send(peer, GetHeaders(tuple(locator)))

    async def on_headers(self, peer: Peer, headers: Sequence[Header]) -> None:
        if self.headers_asked.pop(peer.id, None) is None:
            self.host.misbehaving(peer, Misbehaviour.UNREQUESTED, "headers nobody asked for")
            return
        self.more_from.pop(peer.id, None)
        if not headers:
            return
        for previous, header in zip(headers, headers[1:], strict=False):
            if header.prev_hash != previous.hash or header.height != previous.height + 1:
                self.host.misbehaving(peer, Misbehaviour.BAD_HEADERS, "headers do not chain")
                return
        try:
            for header in headers:
                check_proof_of_work(header, self.host.params)
        except ConsensusError as exc:
            self.host.misbehaving(peer, Misbehaviour.BAD_HEADERS, exc.reason)
            return
        facts = await self.host.on_chain(header_facts, headers)
        if facts.invalid:
            self.host.misbehaving(peer, Misbehaviour.INVALID_BLOCK, "headers of an invalid chain")
            return
        first = headers[0]
        pending_parent = self.headers.get(first.prev_hash)
        if pending_parent is not None:
            parent_work, parent_height = pending_parent.work, pending_parent.header.height
        elif facts.parent_work is not None:
            parent_work, parent_height = facts.parent_work, facts.parent_height
        else:
            peer.unconnecting += 1
            if peer.unconnecting % UNCONNECTING_TOLERANCE == 0:
                self.host.misbehaving(peer, Misbehaviour.UNCONNECTING_HEADERS)
            await self.request_headers(peer, force=True)
            return
        if first.height != parent_height + 1:
            self.host.misbehaving(peer, Misbehaviour.BAD_HEADERS, "header height")
            return
        peer.unconnecting = 0
        work = parent_work
        for header in headers:
            work += header_work(header)
            if header.hash not in facts.have_data and header.hash not in self.headers:
                self.headers[header.hash] = PendingHeader(header, work)
        last = headers[-1]
        peer.best_known_height = max(peer.best_known_height, last.height)
        if work > facts.tip_work and (self.best is None or work > self.best.work) \
                and last.hash in self.headers:
            self.best = self.headers[last.hash]
            self._rebuild_path()
        if len(headers) == MAX_HEADERS:
            self.more_from[peer.id] = last.hash
            if len(self.headers) < MAX_PENDING_HEADERS:
                await self.request_headers(peer, start=last.hash, force=True)
        self.fill_requests()

    def _rebuild_path(self) -> None:
        assert self.best is not None
        path = []
        cursor = self.best.header.hash
        while cursor in self.headers:
            path.append(cursor)
            cursor = self.headers[cursor].header.prev_hash
        path.reverse()
        if self.started_at is None or not self.active:
            self.started_at = time.monotonic()
        self.path = path
        self.next = self.submitted = self.cursor = 0
        self._wake.set()
        log.info("syncing %d blocks up to %s at height %d", len(path),
                 self.best.header.hash.hex(), self.best.header.height)  # fmt: skip

    # --- blocks -------------------------------------------------------------------------------
    def fill_requests(self) -> None:
        """Request what the window needs from peers with room, least loaded first."""
        if not self.active:
            return
        now = time.monotonic()
        # A peer gets more only once it has room for a batch, so requests go out in batches
        # (a getdata per arriving block would be a flood of its own).
        peers = [p for p in self.host.active_peers()
                 if len(p.in_flight) <= MAX_IN_FLIGHT - REFILL_BATCH]  # fmt: skip
        if not peers:
            return
        batches: dict[int, list[bytes]] = {}
        end = min(len(self.path), self.next + WINDOW)
        self.cursor = max(self.cursor, self.next)
        postponed: list[bytes] = []

        def assign(block_hash: bytes) -> bool | None:
            """True: requested; False: nobody can serve it now; None: every peer is full."""
            entry = self.headers.get(block_hash)
            if entry is None or block_hash in self.received or block_hash in self.in_flight \
                    or block_hash in self.submitting:
                return True
            height = entry.header.height
            best = None
            for peer in peers:
                load = len(peer.in_flight)
                if load >= MAX_IN_FLIGHT or not peer.active:
                    continue
                if peer.best_known_height < height or block_hash in peer.not_found:
                    continue
                if best is None or load < len(best.in_flight):
                    best = peer
            if best is None:
                return None if all(len(p.in_flight) >= MAX_IN_FLIGHT for p in peers) else False
            best.in_flight[block_hash] = now
            self.in_flight[block_hash] = (best, now)
            batches.setdefault(best.id, []).append(block_hash)
            return True

        while self.retry:
            block_hash = self.retry.popleft()
            outcome = assign(block_hash)
            if outcome is None:
                self.retry.appendleft(block_hash)
                break
            if outcome is False:
                postponed.append(block_hash)
        else:
            while self.cursor < end and self.ahead_bytes < MAX_AHEAD_BYTES:
                outcome = assign(self.path[self.cursor])
                if outcome is None:
                    break
                if outcome is False:
                    postponed.append(self.path[self.cursor])
                self.cursor += 1
        self.retry.extend(postponed)
        by_id = {p.id: p for p in peers}
        for peer_id, hashes in batches.items():
            for i in range(0, len(hashes), MAX_PER_GETDATA):
                chunk = tuple(hashes[i : i + MAX_PER_GETDATA])
                self.host.send(by_id[peer_id], GetData(InvKind.BLOCK, chunk))

    async def on_block(self, peer: Peer, message: BlockMsg, block_hash: bytes) -> None:
        """A block we requested arrived (from the peer asked, or from another one). A block
        nobody asked for is left alone: the window requests it when its turn comes."""
        if block_hash not in self.in_flight or block_hash in self.received:
            return
        try:
            block: Block | None = await decode_block(message)
        except DecodeError as exc:
            block = None
            self.host.misbehaving(peer, Misbehaviour.MALFORMED, str(exc))
        request = self.in_flight.pop(block_hash, None)
        if request is not None:
            request[0].in_flight.pop(block_hash, None)
        peer.in_flight.pop(block_hash, None)
        if block_hash not in self.headers or block_hash in self.received:
            return  # the download moved on, or another copy came first, while this one decoded
        if block is None:
            if request is not None:
                self.retry.append(block_hash)
            self.fill_requests()
            return
        self.received[block_hash] = (block, peer, message.raw)
        self.ahead_bytes += len(message.raw)
        self.delivered[peer.id] = time.monotonic()
        self.stall_timeout = max(STALL_TIMEOUT_MIN_S, self.stall_timeout * 0.9)
        self._wake.set()
        self.fill_requests()

    def on_notfound(self, peer: Peer, hashes: Sequence[bytes]) -> bool:
        """A peer lacks blocks we asked it for; False if it was asked for none of them."""
        any_requested = False
        for block_hash in hashes:
            peer.not_found.add(block_hash)
            if peer.in_flight.pop(block_hash, None) is not None:
                any_requested = True
                request = self.in_flight.get(block_hash)
                if request is not None and request[0] is peer:
                    del self.in_flight[block_hash]
                    self.retry.append(block_hash)
        self.fill_requests()
        return any_requested

    def peer_gone(self, peer: Peer) -> None:
        self.headers_asked.pop(peer.id, None)
        self.delivered.pop(peer.id, None)
        self.more_from.pop(peer.id, None)
        for block_hash in list(peer.in_flight):
            request = self.in_flight.get(block_hash)
            if request is not None and request[0] is peer:
                del self.in_flight[block_hash]
                self.retry.append(block_hash)
        peer.in_flight.clear()

    def check_stalls(self, now: float) -> None:
        """Called every second: replace a peer that holds up the window, re-ask old requests."""
        for peer_id, asked in list(self.headers_asked.items()):
            if now - asked > HEADERS_TIMEOUT_S:
                del self.headers_asked[peer_id]
        if not self.active:
            return
        first = self.path[self.next]
        request = self.in_flight.get(first)
        if first not in self.received and request is not None:
            peer, sent = request
            if now - sent > self.stall_timeout:
                log.info("peer %d stalled the block download for %.1f s: replacing it",
                         peer.id, now - sent)  # fmt: skip
                self.stall_timeout = min(STALL_TIMEOUT_MAX_S, self.stall_timeout * 2)
                self.host.disconnect(peer, "stalled the block download")
        holders = {id(peer): peer for peer, _ in self.in_flight.values()}
        for peer in holders.values():
            if not peer.in_flight:
                continue
            since = max(min(peer.in_flight.values()), self.delivered.get(peer.id, 0.0))
            if now - since > PEER_STALL_TIMEOUT_S:
                log.info("peer %d holds %d block requests and delivered none for %.1f s: "
                         "replacing it", peer.id, len(peer.in_flight), now - since)  # fmt: skip
                self.host.disconnect(peer, "stalled its block requests")
        for block_hash, (peer, sent) in list(self.in_flight.items()):
            if now - sent > BLOCK_TIMEOUT_S:
                del self.in_flight[block_hash]
                peer.in_flight.pop(block_hash, None)
                self.retry.append(block_hash)
        self.fill_requests()

    # --- handing blocks to the chain ----------------------------------------------------------
    async def _submit_loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                self._launch_runs()
                if self.runs and self.runs[0][1].done():
                    run, future = self.runs.popleft()
                    for block, _, raw in run:
                        self.submitting.discard(block.hash)
                        self.ahead_bytes -= len(raw)
                    self._settle_run(run, future.result())
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("block sync failed; starting over")
                self._reset()
            # Until blocks arrive that make another run, or the oldest run is answered.
            wake = asyncio.ensure_future(self._wake.wait())
            waits = [wake, self.runs[0][1]] if self.runs else [wake]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                wake.cancel()

    def _launch_runs(self) -> None:
        """Hand the chain the consecutive blocks that have arrived, as runs of up to
        `SUBMIT_RUN_BLOCKS`, keeping up to `RUNS_QUEUED` runs on the chain thread. A run is queued
        there before ``submit_blocks`` first suspends, so runs are accepted in launch order."""
        self.submitted = max(self.submitted, self.next)
        while len(self.runs) < RUNS_QUEUED and self.submitted < len(self.path) \
                and self.path[self.submitted] in self.received:  # fmt: skip
            run = []
            while (self.submitted < len(self.path) and self.path[self.submitted] in self.received
                   and len(run) < SUBMIT_RUN_BLOCKS):  # fmt: skip
                run.append(self.received.pop(self.path[self.submitted]))
                self.submitted += 1
            self.submitting.update(block.hash for block, _, _ in run)
            self.runs.append((run, asyncio.ensure_future(self.host.submit_blocks(run))))

    def _settle_run(self, run: list[tuple[Block, Peer | None, bytes]],
                    results: list[AcceptResult]) -> None:  # fmt: skip
        """The chain answered a run: move the path on over the blocks it took."""
        for (block, _, _), result in zip(run, results, strict=True):
            block_hash = block.hash
            if not self.active or self.path[self.next] != block_hash:
                # An earlier block failed (or the path changed): this verdict moves nothing, and
                # the block is asked again when its turn comes back.
                continue
            if result.status == AcceptStatus.INVALID:
                if result.error is not None and result.error.mutated:
                    # The header is fine: ask someone else. What follows it in the runs was
                    # handed over unconnectable: request it again once the runs are answered.
                    self.retry.append(block_hash)
                    self.submitted = self.next
                    self._rewind = True
                    continue
                log.info("sync: block %s refused (%s); dropping its branch",
                         block_hash.hex(), result.reason)  # fmt: skip
                self._reset()
                return
            self.headers.pop(block_hash, None)
            self.next += 1
            self.blocks_synced += 1
        if self._rewind and not self.runs:
            self._rewind = False
            self.cursor = self.next
        if self.path and not self.active:
            self._finish()
        else:
            self.fill_requests()

    def _finish(self) -> None:
        last = self.path[-1]
        if self.started_at is not None:
            elapsed = time.monotonic() - self.started_at
            log.info("synced %d blocks in %.2f s", len(self.path), elapsed)
        self.path = []
        self.next = self.submitted = self.cursor = 0
        self.retry.clear()
        self._drop_received()
        self.headers.clear()  # side branches we did not need; a continuation re-reads them
        self.best = None
        self.started_at = None
        self.host.block_synced(last)
        # A peer that sent a full batch has more: continue from where it stopped.
        for peer in self.host.active_peers():
            start = self.more_from.get(peer.id)
            if start is not None:
                self.host.background(self.request_headers(peer, start=start, force=True))

    def _reset(self) -> None:
        for block_hash in list(self.in_flight):
            peer, _ = self.in_flight.pop(block_hash)
            peer.in_flight.pop(block_hash, None)
        self.headers.clear()
        self._drop_received()
        self.retry.clear()
        self.path = []
        self.next = self.submitted = self.cursor = 0
        self._rewind = False
        self.best = None

    def _drop_received(self) -> None:
        self.ahead_bytes -= sum(len(raw) for _, _, raw in self.received.values())
        self.received.clear()
