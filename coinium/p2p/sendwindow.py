"""How many bytes a peer may have in flight from us: a window acknowledged by ping/pong.

libzmq queues what we hand it per connection up to a high-water mark counted in messages, not
bytes (20,000 of them: 80 GB of 4 MB blocks), and never tells us what the peer has read. So the
sender counts the bulk bytes (blocks, headers, transactions, addresses) it hands to libzmq, and
every ``FLOW_PING_BYTES`` it also sends a ping of its own. The link is ordered, so the pong says
the peer has read everything before that ping: those bytes leave the window. With
``SEND_WINDOW_BYTES`` unacknowledged, bulk frames wait (control frames, pongs among them, still
go, so two nodes waiting on each other cannot deadlock); a peer that leaves us waiting for
``SEND_STUCK_S`` is dropped (`PeerManager._maintain`). Peers answer pings as they arrive, not
behind the blocks they are still processing, so a busy honest peer never looks stuck.

What a dropped peer held is given back to the operating system: large buffers are kept out of
the heap (``M_MMAP_THRESHOLD``) and the heap is trimmed (``malloc_trim``) once its queue is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import random
import time
from dataclasses import dataclass

log = logging.getLogger("coinium.net")

SEND_WINDOW_BYTES = 16 << 20  # >= 4 blocks of the largest size
FLOW_PING_BYTES = 4 << 20
SEND_STUCK_S = 10.0  # a peer that acknowledges nothing for this long while we wait is dropped
MMAP_THRESHOLD_BYTES = 256 << 10


@dataclass(slots=True)
class SendWindow:
    sent: int = 0  # bulk bytes handed to libzmq
    acked: int = 0  # of those, read by the peer (its pong arrived)
    ping_nonce: int | None = None
    ping_at_bytes: int = 0  # `sent` when our outstanding flow ping went out
    ping_sent_at: float = 0.0  # monotonic
    blocked_since: float | None = None  # monotonic: when bulk frames started to wait

    @property
    def unacked(self) -> int:
        return self.sent - self.acked

    def room(self, now: float | None = None) -> bool:
        """Whether a bulk frame may go now (one frame always may into an empty window)."""
        if self.unacked == 0 or self.unacked < SEND_WINDOW_BYTES:
            self.blocked_since = None
            return True
        if self.blocked_since is None:
            self.blocked_since = time.monotonic() if now is None else now
        return False

    def record(self, size: int) -> int | None:
        """Account a bulk frame handed to libzmq; a nonce when a flow ping should follow it."""
        self.sent += size
        if self.ping_nonce is None and self.sent - self.acked >= FLOW_PING_BYTES:
            self.ping_nonce = random.getrandbits(64)
            self.ping_at_bytes = self.sent
            self.ping_sent_at = time.monotonic()
            return self.ping_nonce
        return None

    def acknowledge(self, nonce: int) -> bool:
        """A pong: True (and the window moves) if it answers our flow ping."""
        if self.ping_nonce is None or nonce != self.ping_nonce:
            return False
        self.ping_nonce = None
        self.acked = max(self.acked, self.ping_at_bytes)
        return True

    def stuck(self, now: float) -> bool:
        return self.blocked_since is not None and now - self.blocked_since > SEND_STUCK_S


# --- giving memory back -----------------------------------------------------------------------
_M_MMAP_THRESHOLD = -3
_libc = None
with contextlib.suppress(OSError, TypeError):
    _name = ctypes.util.find_library("c")
    if _name and "libc" in _name:
        _libc = ctypes.CDLL(_name)
        if not hasattr(_libc, "malloc_trim") or not hasattr(_libc, "mallopt"):
            _libc = None


def keep_large_buffers_out_of_the_heap() -> None:
    """glibc raises its mmap threshold after freeing large buffers, so later 4 MB blocks land on
    the heap and stay there when freed; a fixed threshold keeps them in their own mappings."""
    if _libc is not None:
        _libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


def trim_heap() -> None:
    """Return free heap memory to the operating system (after a peer's queues are gone)."""
    if _libc is not None:
        _libc.malloc_trim(0)
