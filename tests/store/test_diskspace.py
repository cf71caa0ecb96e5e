"""Which store errors mean a full disk (the node then stops cleanly: store/diskspace.py)."""

from __future__ import annotations

import errno

import lmdb

from coinium.store.diskspace import is_disk_full


def test_the_errors_of_a_full_disk_are_recognised():
    assert is_disk_full(OSError(errno.ENOSPC, "no space"))
    assert is_disk_full(lmdb.DiskError("mdb_txn_commit: No space left on device"))
    # LMDB's commit reports a page write cut short by the filling disk as EIO
    assert is_disk_full(lmdb.Error("mdb_txn_commit: Input/output error"))
    try:
        raise RuntimeError("store failed") from lmdb.DiskError("mdb_put: No space left on device")
    except RuntimeError as wrapped:
        assert is_disk_full(wrapped)


def test_other_errors_are_not():
    assert not is_disk_full(lmdb.Error("mdb_get: Input/output error"))  # a read, not a commit
    assert not is_disk_full(lmdb.MapFullError("mdb_put: MDB_MAP_FULL"))
    assert not is_disk_full(ValueError("bad value"))
