"""A full disk: how to recognise it, and how much room the datadir has left.

When the disk under the datadir fills up, LMDB's commit fails with ENOSPC (``lmdb.DiskError:
mdb_txn_commit: No space left on device``; the store may wrap it in its own error) and the
debug log cannot be written. A node that carried on from there kept running with its miner dead
and nothing committed. As bitcoind does (``AbortNode`` / "Disk space is too low!"), the node
instead logs one clear line and shuts down cleanly; LMDB keeps its last commit, so once space is
back the node starts again where it stopped. It also refuses to start, and shuts down while
running, when less than ``MIN_FREE_BYTES`` is free (bitcoind's 50 MB), before any write fails.

An LMDB map that is full (MDB_MAP_FULL) is not a full disk: the store grows the map itself.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

MIN_FREE_BYTES = 50 << 20
CHECK_INTERVAL_S = 10.0
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
# LMDB reports a page write cut short (the disk filled up during it) as EIO, not ENOSPC (its
# mdb_page_flush: "short write, filesystem full?"); a commit failing so is taken as a full disk.
_NO_SPACE_TEXT = (os.strerror(errno.ENOSPC), os.strerror(errno.EDQUOT),
                  f"mdb_txn_commit: {os.strerror(errno.EIO)}")  # fmt: skip


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc``, or an exception it was raised from, says the disk is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _NO_SPACE:
            return True
        if any(text in str(current) for text in _NO_SPACE_TEXT):
            return True  # lmdb.DiskError carries the C library's message, not an errno
        current = current.__cause__ or current.__context__
    return False


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on the filesystem holding ``path``."""
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize
