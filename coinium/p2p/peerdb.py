"""The peers' own LMDB environment, ``<datadir>/peers.lmdb``: bans and known addresses.

It is separate from the chain's environment on purpose: peer bookkeeping changes on a different
rhythm (a ban now, a batch of addresses every minute), can be deleted without touching the chain,
and never shares a write transaction with a block.

    bans    subject (a key in hex, or an IP network) -> created u64 | until u64 | reason var
    addrs   Curve public key (32 bytes) -> `coinium.p2p.addrman.KnownAddress` record
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import lmdb

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

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None

    def items(self, db: str) -> Iterator[tuple[bytes, bytes]]:
        with self.env.begin(write=False) as txn:
            for key, value in txn.cursor(db=self.db[db]):
                yield bytes(key), bytes(value)

    def write(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        """Run ``fn`` in one write transaction; the map doubles when full."""
        while True:
            txn = self.env.begin(write=True)
            try:
                result = fn(txn)
                txn.commit()
                return result
            except lmdb.MapFullError:
                txn.abort()
                size = self.env.info()["map_size"]
                if size >= MAX_MAP_SIZE:
                    raise
                self.env.set_mapsize(size * 2)
            except BaseException:
                txn.abort()
                raise

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
