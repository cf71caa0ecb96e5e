"""Helpers shared by the tests (import them as `from helpers import ...`)."""

from __future__ import annotations

from coinium.chain.chainstate import ChainState
from coinium.crypto.keys import PrivateKey


def key(n: int) -> PrivateKey:
    """A deterministic key: the same ``n`` gives the same key in every run."""
    return PrivateKey(n.to_bytes(32, "big"))


STATE_DATABASES = ("accounts", "height", "undo", "txindex", "meta")


def snapshot(chain: ChainState, databases=STATE_DATABASES) -> dict[str, dict[bytes, bytes]]:
    """Every key and value of the named LMDB databases, to compare stored state before/after."""
    with chain.store.read() as txn:
        return {
            name: {bytes(k): bytes(v) for k, v in chain.store.cursor(txn, name)}
            for name in databases
        }


def replay_balances(chain: ChainState) -> dict[bytes, tuple[int, int]]:
    """Accounts computed by replaying the main chain from genesis, independent of the store."""
    from coinium.consensus.state_transition import apply_block

    accounts: dict = {}

    class View:
        def get_account(self, account):
            return accounts.get(account)

    for height in range(chain.height + 1):
        block = chain.get_block(chain.hash_at_height(height))
        accounts.update(apply_block(block, View(), chain.params).new)
    return {k: tuple(v) for k, v in accounts.items()}
