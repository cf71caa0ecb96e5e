"""The chain's LMDB environment.

One environment per datadir, holding these named databases:

    headers   block hash -> IndexEntry (header, cumulative work, status, arrival order)
    blocks    block hash -> serialized block
    height    u32 big-endian height -> block hash, for the main chain only
    state     namespace u8 | key -> record: every record of every namespace (accounts are
              0x01 | account id -> Account); see `coinium.core.state`
    state_tree  the state's sparse Merkle tree, nodes keyed by path (`StateTree`)
    undo      block hash -> undo record of a connected block (versioned, any namespace)
    stateroots  block hash -> root of the state after the block (what its child commits to),
              for every block ever connected
    txindex   txid -> (block hash, position), for the main chain only
    addrindex account id | height u32 BE | position u32 BE -> txid, for the main chain only
              (every transaction an account sent or received, in chain order)
    nftowner, nfthistory  the NFT indexes (`coinium.store.nft_index`), main chain only
    meta      b"tip" -> hash of the main chain's tip; b"network" -> network name;
              b"version" -> the chain format (`FORMAT_VERSION`)

Every change goes through `write()`, one LMDB write transaction: it all lands or none of it does,
and a process killed half-way leaves the last committed state. When the map is full the
transaction is aborted, the map doubled and the whole function run again, so the map grows by
itself. An exclusive lock file stops a second process from opening the same datadir.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import lmdb

from coinium.core.state import RecordKey
from coinium.store.state_tree import StateTree

log = logging.getLogger("coinium.store")

T = TypeVar("T")

# The chain format: 1 had 92-byte headers and account-only state; 2 has the 124-byte version-2
# header committing to the state root, namespaced state and its tree. A datadir of another format
# is refused with `ChainFormatError` (the genesis blocks differ: nothing carries over).
FORMAT_VERSION = b"2"
DATABASES = ("headers", "blocks", "height", "state", "undo", "stateroots", "txindex", "addrindex",
             "meta")
DATABASES += ("nftowner", "nfthistory")  # coinium.store.nft_index
INITIAL_MAP_SIZE = 64 << 20
MAX_MAP_SIZE = 1 << 40


def grow_map(env: lmdb.Environment, limit: int = MAX_MAP_SIZE) -> None:
    """Double a full LMDB map (no transaction of this process may be open)."""
    current = env.info()["map_size"]
    if current >= limit:
        raise StoreError(f"LMDB map reached {current} bytes; refusing to grow further")
    log.info("LMDB map full at %d MiB; growing to %d MiB", current >> 20, current >> 19)
    env.set_mapsize(current * 2)


def write_transaction(
    env: lmdb.Environment, fn: Callable[[lmdb.Transaction], T], map_limit: int = MAX_MAP_SIZE
) -> T:
    """Run ``fn`` in one write transaction, committed only if it returns normally; when the map
    is full the transaction is aborted, the map doubled and ``fn`` run again."""
    while True:
        txn = env.begin(write=True)
        try:
            result = fn(txn)
            txn.commit()
            return result
        except lmdb.MapFullError:
            txn.abort()
            grow_map(env, map_limit)
        except BaseException:
            txn.abort()
            raise


class StoreError(Exception):
    """The store cannot be used (locked, wrong network, unreadable); never a consensus failure."""


class DatadirLockedError(StoreError):
    pass


class ChainFormatError(StoreError):
    """The datadir holds a chain in a format this version cannot read."""


class BatchLostError(StoreError):
    """The writes of a batch since its last flush did not reach the store."""


class _Batch:
    __slots__ = ("txn", "done")

    def __init__(self) -> None:
        self.txn: lmdb.Transaction | None = None  # open while writes are pending
        self.done: list[Callable[[lmdb.Transaction], object]] = []  # pending writes, in order


class ChainStore:
    def __init__(self, path: str | os.PathLike[str], network: str, *, sync: bool = True,
                 map_size: int = INITIAL_MAP_SIZE):  # fmt: skip
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_file = self._take_lock(self.path / ".lock")
        self._batch: _Batch | None = None
        try:
            self.env = lmdb.open(
                str(self.path / "chainstate"),
                subdir=True,
                max_dbs=len(DATABASES) + 8,  # + the state tree's own database
                map_size=map_size,
                sync=sync,
                metasync=sync,
                readahead=False,
                max_readers=256,
            )
            self._check_format()
            self.db = {name: self.env.open_db(name.encode()) for name in DATABASES}
            self._check_identity(network)
            self.state_tree = StateTree(self.env)
            self.db["state_tree"] = self.env.open_db(b"state_tree")  # for cursors and snapshots
        except Exception:
            self._release_lock()
            raise

    # --- lifecycle ----------------------------------------------------------------------------
    @staticmethod
    def _take_lock(lock_path: Path):
        handle = open(lock_path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise DatadirLockedError(
                    f"cannot lock data directory {lock_path.parent}: another coinium process "
                    "is probably using it"
                ) from None
            raise
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        return handle

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def _check_format(self) -> None:
        """Refuse a datadir of another chain format before reading anything else of it."""
        with self.env.begin(write=False) as txn:
            if txn.get(b"meta") is None:  # no meta database: a new datadir
                return
        meta = self.env.open_db(b"meta")
        with self.env.begin(write=False) as txn:
            stored = txn.get(b"version", db=meta)
        if stored is None or stored == FORMAT_VERSION:
            return
        version = stored.decode(errors="replace")
        chainstate = self.path / "chainstate"
        raise ChainFormatError(
            f"{chainstate} holds a chain in format version {version}, and this coinium uses "
            f"format {FORMAT_VERSION.decode()}: block headers are now version 2 (124 bytes, "
            "committing to the state root) and every network's genesis block changed, so the "
            f"old chain cannot be read or upgraded. To start afresh, stop every coinium process "
            f"using it, then move or delete {chainstate} (regtest and test chain data is "
            "disposable; your wallets are elsewhere in the datadir) and start the node again: "
            "it creates a new chain and syncs it from peers."
        )

    def _check_identity(self, network: str) -> None:
        def check(txn: lmdb.Transaction) -> None:
            meta = self.db["meta"]
            stored = txn.get(b"network", db=meta)
            if stored is None:
                txn.put(b"network", network.encode(), db=meta)
                txn.put(b"version", FORMAT_VERSION, db=meta)
            elif stored.decode() != network:
                raise StoreError(
                    f"{self.path} holds the {stored.decode()!r} chain, not {network!r}"
                )

        self.write(check)

    def close(self) -> None:
        if getattr(self, "env", None) is not None:
            self.env.close()
            self.env = None
        self._release_lock()

    def __enter__(self) -> ChainStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transactions -------------------------------------------------------------------------
    @contextmanager
    def read(self) -> Iterator[lmdb.Transaction]:
        with self.env.begin(write=False) as txn:
            yield txn

    def write(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        """Run ``fn`` in one write transaction, committed only if it returns normally.

        ``fn`` may be run more than once (after the map grows, or to rebuild a batch), so it
        must only write through the transaction and compute the same writes every time."""
        if self._batch is not None:
            return self._write_in_batch(fn)
        return write_transaction(self.env, fn)

    # --- batches: several writes per commit -----------------------------------------------------
    # A commit writes every page its transaction dirtied and waits for the disk. A block's
    # tx-index and address-index entries land at random places in large B-trees, so a block
    # dirties thousands of pages, and consecutive blocks dirty many of the same ones (the same
    # accounts' address-index pages above all). During a sync, committing several blocks at once
    # writes those pages once instead of once per block.
    @contextmanager
    def batch(self) -> Iterator[None]:
        """Let the `write` calls made inside share write transactions, committed by `flush`
        and when the block ends.

        Each write still lands whole or not at all, in order: a write whose ``fn`` raises leaves
        nothing (the shared transaction is aborted, the batch's earlier writes are run again in a
        fresh one and committed, then the exception goes on), as outside a batch. What changes is
        when writes become durable and visible to `read`: at the next flush. A process killed
        inside a batch keeps the writes up to the last flush. If a commit fails, the writes since
        the last flush are lost and `BatchLostError` says so: whoever keeps state in memory
        next to the store must reload it."""
        if self._batch is not None:
            raise RuntimeError("batches do not nest")
        self._batch = _Batch()
        try:
            yield
        finally:
            try:
                self.flush()  # whatever was written completed: keep it, even on an exception
            finally:
                self._batch = None

    def flush(self) -> None:
        """Commit the writes of the current batch (nothing outside a batch)."""
        batch = self._batch
        if batch is None or batch.txn is None:
            return
        txn, batch.txn, batch.done = batch.txn, None, []
        try:
            txn.commit()
        except lmdb.Error as exc:
            raise BatchLostError(f"committing a batch of writes failed: {exc}") from exc

    def _write_in_batch(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        batch = self._batch
        assert batch is not None
        while True:
            if batch.txn is None:
                self._rebuild_batch()
            txn = batch.txn
            assert txn is not None
            try:
                result = fn(txn)
            except lmdb.MapFullError:
                self._abort_batch()
                self._grow()
                continue  # the batch's earlier writes and this one, on a larger map
            except BaseException:
                # fn's partial writes share the transaction with the earlier ones: drop them all
                # and write the earlier ones again, so that fn leaves nothing behind.
                self._abort_batch()
                self._rebuild_batch()
                self.flush()
                raise
            batch.done.append(fn)
            return result

    def _abort_batch(self) -> None:
        batch = self._batch
        assert batch is not None and batch.txn is not None
        batch.txn.abort()
        batch.txn = None

    def _rebuild_batch(self) -> None:
        """Open the batch's transaction and run its completed writes again (none, usually)."""
        batch = self._batch
        assert batch is not None
        while True:
            batch.txn = self.env.begin(write=True)
            try:
                for fn in batch.done:
                    fn(batch.txn)
                return
            except lmdb.MapFullError:
                self._abort_batch()
                self._grow()
            except BaseException as exc:
                self._abort_batch()
                batch.done = []
                raise BatchLostError(f"writing a batch again failed: {exc}") from exc

    def _grow(self) -> None:
        grow_map(self.env)

    # --- typed helpers ------------------------------------------------------------------------
    def get(self, txn: lmdb.Transaction, db: str, key: bytes) -> bytes | None:
        return txn.get(key, db=self.db[db])

    def put(self, txn: lmdb.Transaction, db: str, key: bytes, value: bytes) -> None:
        txn.put(key, value, db=self.db[db])

    def put_many(self, txn: lmdb.Transaction, db: str,
                 items: Iterable[tuple[bytes, bytes]]) -> None:  # fmt: skip
        """Put many (key, value) pairs in one call: LMDB loops in C. Pass them sorted by key,
        so that consecutive puts walk the same B-tree pages (fewer cache misses)."""
        with txn.cursor(db=self.db[db]) as cursor:
            cursor.putmulti(items)

    def delete(self, txn: lmdb.Transaction, db: str, key: bytes) -> None:
        txn.delete(key, db=self.db[db])

    def cursor(self, txn: lmdb.Transaction, db: str) -> lmdb.Cursor:
        return txn.cursor(db=self.db[db])

    def state_view(self, txn: lmdb.Transaction) -> RecordView:
        return RecordView(txn, self.db["state"])


def record_key(namespace: int, key: bytes) -> bytes:
    """The LMDB key of a state record: namespace byte, then the key."""
    return bytes((namespace,)) + key


def split_record_key(stored: bytes) -> RecordKey:
    return stored[0], stored[1:]


class RecordView:
    """The consensus `StateView` over an LMDB transaction (a write one sees its own writes)."""

    __slots__ = ("_txn", "_db")

    def __init__(self, txn: lmdb.Transaction, db: lmdb._Database):
        self._txn = txn
        self._db = db

    def get(self, namespace: int, key: bytes) -> bytes | None:
        return self._txn.get(bytes((namespace,)) + key, db=self._db)
