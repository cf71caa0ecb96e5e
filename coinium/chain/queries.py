"""Reads of the chain, as a mixin of `ChainState`: the tip and the main chain, blocks, state
records and their proofs, the state root after any stored block, the transaction and address
indexes, and what the header rules need to know about a block's ancestors.

Each read runs in one LMDB read transaction, so what it returns agrees with itself; none writes
(`state_root_after` applies a branch in a write transaction that it then aborts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import lmdb

from coinium.chain.connect import apply_block_state, disconnect_block, load_block
from coinium.consensus.header_rules import ParentContext, median_time_past, required_bits
from coinium.core.account import Account
from coinium.core.block import Block
from coinium.core.state import NS_ACCOUNT, RecordKey
from coinium.crypto.state_proof import StateProof, record_path
from coinium.store.chainstore import record_key, split_record_key
from coinium.store.records import IndexEntry, decode_address_index_key, decode_tx_location

T = TypeVar("T")


class ChainQueries:
    """Mixed into `ChainState` (``self`` is one): reads its store, index and main chain."""

    @property
    def tip(self) -> IndexEntry:
        return self.index[self.main_chain[-1]]

    @property
    def height(self) -> int:
        return len(self.main_chain) - 1

    def hash_at_height(self, height: int) -> bytes | None:
        return self.main_chain[height] if 0 <= height < len(self.main_chain) else None

    def is_on_main_chain(self, block_hash: bytes) -> bool:
        entry = self.index.get(block_hash)
        return entry is not None and self.hash_at_height(entry.height) == block_hash

    def get_block(self, block_hash: bytes) -> Block | None:
        with self.store.read() as txn:
            raw = self.store.get(txn, "blocks", block_hash)
        return None if raw is None else Block.decode(bytes(raw))

    def get_account(self, account: bytes) -> Account:
        with self.store.read() as txn:
            raw = self.store.state_view(txn).get(NS_ACCOUNT, account)
        return Account(0, 0) if raw is None else Account.decode(raw)

    def state_root(self) -> bytes:
        """The root of the state after the tip: what the tip's child must commit to."""
        with self.store.read() as txn:
            return self.store.state_tree.root(txn)

    def state_root_after(self, block_hash: bytes, then: Iterable[Block] = ()) -> bytes:
        """The root of the state after a stored block (and then after each block of ``then``,
        a chain of blocks on it that need not be stored): what the next child must commit to.

        Recorded when a block was connected; otherwise the branch (and ``then``) is applied in
        a write transaction that is then thrown away. Raises ConsensusError if one of those
        blocks breaks a rule, KeyError for an unknown block."""
        then = list(then)
        if not then:
            with self.store.read() as txn:
                raw = self.store.get(txn, "stateroots", block_hash)
            if raw is not None:
                return bytes(raw)
        to_disconnect, to_connect = self._path_to(self.index[block_hash])

        def trial(txn: lmdb.Transaction) -> None:
            for entry in to_disconnect:
                disconnect_block(self.store, txn, entry)
            for entry in to_connect:
                block = load_block(self.store, txn, entry.hash)
                apply_block_state(self.store, self.params, txn, block)
            for block in then:
                apply_block_state(self.store, self.params, txn, block)
            raise _RootFound(self.store.state_tree.root(txn))  # aborts the transaction

        try:
            self.store.write(trial)
        except _RootFound as found:
            return found.root
        raise AssertionError("unreachable")

    def get_record(self, namespace: int, key: bytes) -> bytes | None:
        """One state record after the tip (any namespace), or None."""
        with self.store.read() as txn:
            raw = self.store.state_view(txn).get(namespace, key)
        return None if raw is None else bytes(raw)

    def prove_record(self, namespace: int, key: bytes
                     ) -> tuple[StateProof, bytes | None, bytes, int]:  # fmt: skip
        """(proof, record or None, state root, height) of one record in the state after the
        tip, all read in one transaction so they agree."""
        with self.store.read() as txn:
            tip = self.store.get(txn, "meta", b"tip")
            height = self.index[bytes(tip)].height if tip is not None else -1
            record = self.store.state_view(txn).get(namespace, key)
            proof = self.store.state_tree.prove(txn, record_path(namespace, key))
            root = self.store.state_tree.root(txn)
        return proof, None if record is None else bytes(record), root, height

    def with_tip_state(self, fn: Callable[..., T]) -> T:
        """``fn(view, height, time)`` over the state after the tip, in one read transaction
        (contract queries and gas estimates run on it and write nothing)."""
        with self.store.read() as txn:
            tip = self.tip
            return fn(self.store.state_view(txn), tip.height, tip.header.timestamp)

    def iter_records(self) -> Iterable[tuple[RecordKey, bytes]]:
        """Every state record of every namespace, in key order."""
        with self.store.read() as txn:
            for key, value in self.store.cursor(txn, "state"):
                yield split_record_key(bytes(key)), bytes(value)

    def records_with_prefix(self, namespace: int, prefix: bytes = b"", limit: int | None = None,
                            after: bytes = b"") -> list[tuple[bytes, bytes]]:
        """(key, value) of the records of one namespace whose key starts with ``prefix``, in key
        order; at most ``limit`` of them (None: all), from the first key above ``after``
        (paging)."""
        head = record_key(namespace, prefix)
        start = record_key(namespace, max(prefix, after + b"\x00")) if after else head
        found: list[tuple[bytes, bytes]] = []
        with self.store.read() as txn:
            cursor = self.store.cursor(txn, "state")
            more = cursor.set_range(start)
            while more and (limit is None or len(found) < limit):
                key = bytes(cursor.key())
                if not key.startswith(head):
                    break
                found.append((key[1:], bytes(cursor.value())))
                more = cursor.next()
        return found

    def get_tx_location(self, txid: bytes) -> tuple[bytes, int] | None:
        """(block hash, position) of a transaction on the main chain."""
        with self.store.read() as txn:
            raw = self.store.get(txn, "txindex", txid)
        return None if raw is None else decode_tx_location(bytes(raw))

    def account_history(self, account: bytes, limit: int) -> list[tuple[int, int, bytes]]:
        """(height, position, txid) of the account's main-chain transactions, newest first."""
        found: list[tuple[int, int, bytes]] = []
        with self.store.read() as txn:
            cursor = self.store.cursor(txn, "addrindex")
            # Step onto the account's last key: just before the first key past its range.
            more = cursor.prev() if cursor.set_range(account + b"\xff" * 8) else cursor.last()
            while more and len(found) < limit:
                owner, height, position = decode_address_index_key(bytes(cursor.key()))
                if owner != account:
                    break
                found.append((height, position, bytes(cursor.value())))
                more = cursor.prev()
        return found

    def parent_context(self, entry: IndexEntry) -> ParentContext:
        """What the rules need to know to check a child of ``entry``."""
        timestamps = []
        cursor: IndexEntry | None = entry
        while cursor is not None and len(timestamps) < self.params.median_time_span:
            timestamps.append(cursor.header.timestamp)
            cursor = self.index.get(cursor.prev_hash) if cursor.height > 0 else None
        return ParentContext(entry.height, entry.header.timestamp, timestamps)

    def median_time_past(self, entry: IndexEntry | None = None) -> int:
        return median_time_past(self.parent_context(entry or self.tip).recent_timestamps)

    def next_bits(self) -> int:
        """The bits a child of the current tip must carry."""
        tip = self.tip
        return required_bits(self.params, tip.height, tip.header.timestamp)

    def iter_accounts(self) -> Iterable[tuple[bytes, Account]]:
        for (namespace, key), value in self.iter_records():
            if namespace == NS_ACCOUNT:
                yield key, Account.decode(value)


class _RootFound(Exception):
    def __init__(self, root: bytes):
        super().__init__(root.hex())
        self.root = root
