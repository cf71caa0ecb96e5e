"""Helpers shared by the tests (import them as `from helpers import ...`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from coinium.chain.chainstate import ChainState
from coinium.crypto.keys import PrivateKey


def key(n: int) -> PrivateKey:
    """A deterministic key: the same ``n`` gives the same key in every run."""
    return PrivateKey(n.to_bytes(32, "big"))


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05,
               message: str = "condition") -> Any:  # fmt: skip
    """The predicate's first truthy value, polled every ``interval`` s; TimeoutError after
    ``timeout`` s (a deadline, never a bare sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


STATE_DATABASES = ("state", "state_tree", "height", "undo", "txindex", "meta")


def snapshot(chain: ChainState, databases=STATE_DATABASES) -> dict[str, dict[bytes, bytes]]:
    """Every key and value of the named LMDB databases, to compare stored state before/after."""
    with chain.store.read() as txn:
        return {
            name: {bytes(k): bytes(v) for k, v in chain.store.cursor(txn, name)}
            for name in databases
        }


class DictView:
    """The consensus StateView over a plain dict of records {(namespace, key): bytes}."""

    def __init__(self, records=None):
        self.records = {} if records is None else records

    def get(self, namespace, key):
        return self.records.get((namespace, key))

    def apply(self, delta) -> None:
        for record, value in delta.new.items():
            if value is None:
                self.records.pop(record, None)
            else:
                self.records[record] = value


def replay_records(chain: ChainState) -> dict[tuple[int, bytes], bytes]:
    """Every record computed by replaying the main chain from genesis, independent of the
    store."""
    from coinium.consensus.state_transition import apply_block

    view = DictView()
    for height in range(chain.height + 1):
        block = chain.get_block(chain.hash_at_height(height))
        view.apply(apply_block(block, view, chain.params))
    return view.records


def replay_balances(chain: ChainState) -> dict[bytes, tuple[int, int]]:
    """Accounts computed by replaying the main chain from genesis, independent of the store."""
    from coinium.core.account import Account
    from coinium.core.state import NS_ACCOUNT

    return {key: tuple(Account.decode(value)) for (ns, key), value in replay_records(chain).items()
            if ns == NS_ACCOUNT}  # fmt: skip
