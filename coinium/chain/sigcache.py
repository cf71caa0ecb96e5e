"""A bounded, per-process salted cache of transactions whose signature verified (as bitcoind's
sigcache): a transaction checked when it entered the mempool is not checked again when its block
connects.

The key is a keyed BLAKE3 of the txid under a random per-process salt. The txid commits to every
byte of the transaction, signature included, so a changed transaction misses the cache and is
checked again; the node checks signatures for one chain id only, so the chain id needs no place
in the key. The salt keeps the keys unpredictable to whoever crafts transactions. When full, the
oldest entries are dropped first.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

from blake3 import blake3 as _blake3

from coinium.core.transaction import Transaction

DEFAULT_MAX_ENTRIES = 500_000


class SignatureCache:
    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES):
        self.max_entries = max_entries
        self._salt = os.urandom(32)
        self._entries: OrderedDict[bytes, None] = OrderedDict()
        # The mempool (event loop) adds while block validation (chain thread) reads.
        self._lock = threading.Lock()

    def _key(self, tx: Transaction) -> bytes:
        return _blake3(tx.txid, key=self._salt).digest()[:16]

    def __len__(self) -> int:
        return len(self._entries)

    def contains(self, tx: Transaction) -> bool:
        # Called for every transaction of every block: the key is computed inline, and a lookup
        # in the C OrderedDict is atomic under the GIL, so it needs no lock.
        return _blake3(tx.txid, key=self._salt).digest()[:16] in self._entries

    def add(self, tx: Transaction) -> None:
        key = self._key(tx)
        with self._lock:
            self._entries[key] = None
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def discard(self, tx: Transaction) -> None:
        with self._lock:
            self._entries.pop(self._key(tx), None)
