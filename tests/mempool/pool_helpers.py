"""What the mempool tests share: an event recorder, a pool on a chain, mining and paying."""

from __future__ import annotations

from dataclasses import dataclass

from coinium.chain.builder import build_block, mine
from coinium.chain.chainstate import AcceptResult, AcceptStatus, ChainState
from coinium.core.params import REGTEST
from coinium.core.transaction import Transaction, sign_transfer
from coinium.core.units import COIN
from coinium.mempool.policy import MempoolPolicy
from coinium.mempool.pool import Mempool

CHAIN_ID = REGTEST.chain_id
REWARD = 50 * COIN  # regtest subsidy at these heights
# Tests of ordering and chain events use fees below the relay floor; the floor has its own tests.
NO_FLOOR = MempoolPolicy(min_relay_fee_rate=0)


@dataclass(frozen=True)
class Event:
    kind: str  # "A" or "R"
    txid: bytes
    sequence: int
    reason: str | None = None


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def transaction_added(self, tx_raw: bytes, txid: bytes, mempool_sequence: int) -> None:
        assert Transaction.decode(tx_raw).txid == txid
        self.events.append(Event("A", txid, mempool_sequence))

    def transaction_removed(
        self, tx_raw: bytes, txid: bytes, reason: str, mempool_sequence: int
    ) -> None:
        assert Transaction.decode(tx_raw).txid == txid
        self.events.append(Event("R", txid, mempool_sequence, reason))

    def removed(self) -> list[tuple[bytes, str | None]]:
        return [(e.txid, e.reason) for e in self.events if e.kind == "R"]


def make_pool(chain: ChainState, **kwargs) -> tuple[Mempool, Recorder]:
    pool = Mempool(REGTEST, chain.get_account, **kwargs)
    recorder = Recorder()
    pool.listeners.append(recorder)
    return pool, recorder


def publish(pool: Mempool, chain: ChainState, result: AcceptResult) -> None:
    """What node.publish does: disconnected, connected, then the tip once."""
    assert result.status == AcceptStatus.NEW_TIP, result
    for block in result.disconnected:
        pool.block_disconnected(block)
    for block in result.connected:
        pool.block_connected(block)
    pool.tip_updated(chain.get_block(chain.tip.hash))


def mine_on(
    chain: ChainState, txs, recipient: bytes, parent: bytes | None = None, extra: bytes = b""
) -> AcceptResult:
    block = build_block(chain, txs, recipient, parent=parent, extra=extra)
    return chain.accept_block(mine(block))


def pay(sender, recipient, amount: int, nonce: int, fee: int = 1000, memo: bytes = b""):
    return sign_transfer(sender, CHAIN_ID, recipient.account, amount, fee, nonce, memo)
