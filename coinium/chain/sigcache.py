"""A bounded cache of transactions whose signature verified (as bitcoind's sigcache): a
transaction checked when it entered the mempool is not checked again when its block connects.

The key is the txid. It commits to every byte of the transaction, signature included, so a
changed transaction misses the cache and is checked again; the node checks signatures for one
chain id only, so the chain id needs no place in the key. bitcoind salts its cache's hashes because
they pick the slots of a fixed table, which a crafted set of transactions could aim at; here the
table is a dict, whose hashing of bytes keys Python randomizes per process, and the whole 32-byte
txid is compared, so a salted hash would only cost two keyed hashes per transaction. When full,
the oldest entries are dropped first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from coinium.core.transaction import Transaction

DEFAULT_MAX_ENTRIES = 500_000


class SignatureCache:
    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES):
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, None] = OrderedDict()
        # The mempool (event loop) adds while block validation (chain thread) reads.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def contains(self, tx: Transaction) -> bool:
        # Called for every transaction of every block: a lookup in the C OrderedDict is atomic
        # under the GIL, so it needs no lock.
        return tx.txid in self._entries

    def add(self, tx: Transaction) -> None:
        txid = tx.txid
        with self._lock:
            entries = self._entries
            if txid in entries:
                entries.move_to_end(txid)
                return
            entries[txid] = None
            while len(entries) > self.max_entries:
                entries.popitem(last=False)

    def discard(self, tx: Transaction) -> None:
        with self._lock:
            self._entries.pop(tx.txid, None)
