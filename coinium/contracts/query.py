"""Contract calls outside blocks: `callcontract` (read-only, free, gas-capped) and
`estimategas` (a transaction's call run on the tip's state and thrown away).

Both run on a throwaway `BlockState` over a read transaction's view, at the tip's height and
time, so they see what the next block would see and write nothing. They use the gas schedule in
the tip's state (a change activating in the next block is not yet in it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from coinium.contracts import governed, limits
from coinium.contracts.records import Instance, Receipt
from coinium.contracts.transactions import CONTRACT_KINDS
from coinium.contracts.vm import CallResult, Execution, Overlay, StateBase
from coinium.core.errors import ConsensusError
from coinium.core.kinds import KINDS
from coinium.core.state import (
    NS_CONTRACT,
    NS_CONTRACT_CODE,
    NS_CONTRACT_RECEIPT,
    BlockContext,
    BlockState,
    StateView,  # fmt: skip
)

if TYPE_CHECKING:
    from coinium.core.transaction import Transaction

ZERO_ID = bytes(20)


def _context(height: int, time: int) -> BlockContext:
    # No block is applied: contract code reads only the height and time of its context.
    return BlockContext(height, bytes(32), None, time)


def query(view: StateView, height: int, time: int, contract: bytes, message: bytes,
          gas: int = limits.QUERY_GAS_LIMIT, caller: bytes = ZERO_ID) -> CallResult:
    """Call ``query``: storage writes, sends and events fail with ``read-only``."""
    gas = min(gas, limits.QUERY_GAS_LIMIT)
    state = BlockState(view, _context(height, time))
    return Execution(height, time, governed.schedule(state), readonly=True).call(
        StateBase(state), contract, "query", caller, 0, message, gas)  # fmt: skip


def estimate(view: StateView, height: int, time: int, entry: str, sender: bytes,
             contract: bytes, message: bytes, coins: int, gas: int = limits.MAX_TX_GAS,
             code_hash: bytes | None = None) -> CallResult:
    """What an execute (``entry`` "execute"), instantiate (``code_hash`` given) or migrate call
    would do on the tip's state: its gas if it succeeds, the reason if not."""
    state = BlockState(view, _context(height + 1, time))
    base = StateBase(state)
    top = Overlay(base)
    if code_hash is not None:
        if base.get(NS_CONTRACT_CODE, code_hash) is None:
            return CallResult(False, 0, "no-code")
        raw = base.get(NS_CONTRACT, contract)
        old = Instance.decode(raw) if raw is not None else None
        top.put(NS_CONTRACT, contract, Instance(code_hash, old.admin if old else None, sender,
                                                height + 1).encode())  # fmt: skip
    return Execution(height + 1, time, governed.schedule(state)).call(
        top, contract, entry, sender, coins, message, gas)  # fmt: skip


def estimate_transaction(view: StateView, height: int, time: int, tx: Transaction) -> Receipt:
    """Apply one contract transaction (its signature unchecked) to the tip's state exactly as
    the next block would, and return its receipt; nothing is written. ConsensusError if the
    block would refuse it (nonce, fee, gas limit); ValueError if it is not a contract kind."""
    if tx.kind not in CONTRACT_KINDS or tx.kind not in KINDS:
        raise ValueError("not a contract transaction")
    kind = KINDS[tx.kind]
    kind.check(tx)
    state = BlockState(view, _context(height + 1, time))
    kind.apply([tx], state)
    raw = state.records.get((NS_CONTRACT_RECEIPT, tx.txid))
    if raw is None:
        raise ConsensusError("no-receipt", "the transaction left no receipt")
    return Receipt.decode(raw)
