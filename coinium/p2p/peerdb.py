"""The peers' own LMDB environment, ``<datadir>/peers.lmdb``: bans and known addresses.

It is separate from the chain's environment on purpose: peer bookkeeping changes on a different
rhythm (a ban now, a batch of addresses every minute), can be deleted without touching the chain,
and never shares a write transaction with a block.

Writes run on one writer thread of their own, in the order they were asked for: each commit
syncs to disk, which must not stall the event loop (a ban, the address flush every few seconds).
The callers go on at once; `flush` waits for what was queued, and `close` does too.

    bans    subject (a key in hex, or an IP network) -> created u64 | until u64 | reason var
    addrs   Curve public key (32 bytes) -> `coinium.p2p.addrman.KnownAddress` record
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import lmdb

from coinium.store.chainstore import write_transaction

log = logging.getLogger("coinium.net")

T = TypeVar("T")

DB_FILE = "peers.lmdb"
DATABASES = ("bans", "addrs")
INITIAL_MAP_SIZE = 8 << 20
MAX_MAP_SIZE = 1 << 30


class PeerDB:
    def __init__(self, datadir: Path, *, sync: bool = True):
        Path(datadir).mkdir(parents=True, exist_ok=True)
        self.env = lmdb.open(str(Path(datadir) / DB_FILE), subdir=True, max_dbs=len(DATABASES),
                             map_size=INITIAL_MAP_SIZE, sync=sync, metasync=sync,
                             readahead=False)  # fmt: skip
        self.db = {name: self.env.open_db(name.encode()) for name in DATABASES}
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="peerdb-writer")

    def close(self) -> None:
        """Finish the queued writes, then close the environment."""
        if self.env is not None:
            self._writer.shutdown(wait=True)
            self.env.close()
            self.env = None

    def flush(self) -> None:
        """Wait until every write queued so far is committed."""
        self._writer.submit(lambda: None).result()

    def items(self, db: str) -> Iterator[tuple[bytes, bytes]]:
        with self.env.begin(write=False) as txn:
            for key, value in txn.cursor(db=self.db[db]):
                yield bytes(key), bytes(value)

    def write(self, fn: Callable[[lmdb.Transaction], T]) -> Future[T]:
        """Run ``fn`` in one write transaction on the writer thread (queued after the writes
        asked for before); the future holds its result. A failure is logged."""
        future = self._writer.submit(self._write, fn)
        future.add_done_callback(_log_failure)
        return future

    def _write(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        """Run ``fn`` in one write transaction; the map doubles when full."""
        return write_transaction(self.env, fn, MAX_MAP_SIZE)

    def put(self, db: str, key: bytes, value: bytes) -> None:
        self.write(lambda txn: txn.put(key, value, db=self.db[db]))

    def delete(self, db: str, key: bytes) -> None:
        self.write(lambda txn: txn.delete(key, db=self.db[db]))

    def put_many(self, db: str, items: list[tuple[bytes, bytes]],
                 deletes: list[bytes] = ()) -> None:  # type: ignore[assignment]  # fmt: skip
        def write(txn: lmdb.Transaction) -> None:
            for key in deletes:
                txn.delete(key, db=self.db[db])
            for key, value in items:
                txn.put(key, value, db=self.db[db])

        self.write(write)

    def clear(self, db: str) -> None:
        self.write(lambda txn: txn.drop(self.db[db], delete=False))


def _log_failure(future: Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("peers.lmdb: a write failed", exc_info=future.exception())
