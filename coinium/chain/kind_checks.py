"""Stateful checks of the kinds whose rules go beyond nonce and balance (staking, votes,
slashing evidence), for the mempool and for block templates.

The mempool knows a sender's nonce and balance; it does not know whether a delegation names a
validator or an unbond exceeds a stake. `check_against_tip` runs a transaction's kind rule on the
state after the tip (the sender's nonce and balance taken as already right, the mempool checks
those), so a bad staking transaction is refused at admission with its reason code (-26); so is
a vote that could not count (a non-validator's, for an unknown, future or past checkpoint, a
repeat): the P2P layer penalises the peer that relayed it, as for any invalid transaction.
`applicable` keeps a template from carrying a transaction that the state has made invalid since
it was admitted (a validator slashed, a stake unbonded): a block holding it would be invalid.
"""

from __future__ import annotations

from collections.abc import Sequence

from coinium.chain.chainstate import ChainState
from coinium.consensus.errors import ConsensusError, TransactionError
from coinium.consensus.subsidy import block_subsidy
from coinium.core.account import Account
from coinium.core.governance import proposals
from coinium.core.kinds import KINDS
from coinium.core.kinds import transfer as transfer_kind
from coinium.core.kinds import vote as vote_kind
from coinium.core.staking import finality, ledger
from coinium.core.state import NS_ACCOUNT, BlockContext, BlockState, StateView
from coinium.core.transaction import Transaction
from coinium.core.units import MAX_MONEY
from coinium.crypto.address import account_id


class _SenderReady:
    """The tip's state, with the sender's account able to pay and at the transaction's nonce."""

    def __init__(self, view: StateView, sender: bytes, nonce: int):
        self._view, self._sender, self._nonce = view, sender, nonce

    def get(self, namespace: int, key: bytes) -> bytes | None:
        if namespace == NS_ACCOUNT and key == self._sender:
            raw = self._view.get(namespace, key)
            balance = 0 if raw is None else Account.decode(bytes(raw)).balance
            return Account(max(balance, MAX_MONEY // 2), self._nonce).encode()
        raw = self._view.get(namespace, key)
        return None if raw is None else bytes(raw)


def check_against_tip(chain: ChainState, tx: Transaction) -> None:
    """Raise the ConsensusError a block on the tip holding ``tx`` would fail with, for kinds
    with rules beyond nonce and balance (nothing to do for a transfer)."""
    if tx.kind == transfer_kind.NUMBER:
        return
    tip = chain.tip
    with chain.store.read() as txn:
        view = _SenderReady(chain.store.state_view(txn), account_id(tx.sender), tx.nonce)
        state = BlockState(view, BlockContext(tip.height + 1, tip.hash, chain.params))
        proposals.begin_block(state)
        finality.begin_block(state)
        if tx.kind == vote_kind.NUMBER:
            source, target = vote_kind.checkpoints(tx.payload)
            problem = finality.vote_problem(state, tx.recipient, tx.sender, source, target)
            if problem is not None:
                raise TransactionError(*problem, txid=tx.txid)
        KINDS[tx.kind].apply([tx], state)


def applicable(chain: ChainState, parent: bytes, txs: Sequence[Transaction]
               ) -> list[Transaction]:  # fmt: skip
    """``txs`` without those that would fail on the parent's state (and the later ones of their
    senders, whose nonces would then not follow). Only the tip's state is read: on another
    parent, or with transfers only, ``txs`` are returned as they are."""
    if parent != chain.tip.hash or all(tx.kind == transfer_kind.NUMBER for tx in txs):
        return list(txs)
    height = chain.tip.height + 1
    kept: list[Transaction] = []
    skipped: set[bytes] = set()
    with chain.store.read() as txn:
        state = BlockState(chain.store.state_view(txn),
                           BlockContext(height, parent, chain.params))  # fmt: skip
        proposals.begin_block(state)
        finality.begin_block(state)
        ledger.issue_rewards(state, block_subsidy(height, chain.params))
        for tx in txs:
            if tx.sender in skipped:
                continue
            saved = (dict(state.accounts), dict(state.old_accounts), dict(state.records),
                     dict(state.old_records), len(state.senders))  # fmt: skip
            try:
                KINDS[tx.kind].apply([tx], state)
            except ConsensusError:
                state.accounts, state.old_accounts, state.records, state.old_records = saved[:4]
                del state.senders[saved[4]:]
                skipped.add(tx.sender)
                continue
            kept.append(tx)
    return kept
