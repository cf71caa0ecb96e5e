"""The mempool's check of a kind's own stateful rules: a transaction of any kind but a plain
transfer is applied on the state a block on the tip would start from (proposals moved along,
`coinium.core.governance.proposals.begin_block`, and the epoch's checkpoint opened,
`coinium.core.staking.finality.begin_block`), after its sender's own pending transactions
(the sender's nonce taken as theirs, and its balance as enough: the mempool checks nonces and
balances itself). So an NFT transfer of a token the sender does not own, a delegation to no
validator or an unbond beyond the stake is refused at the door with its reason code (-26), not
kept until a block template drops it, while a creator may send a class and its mints at once (a
validator its registration and bond). A vote that could not count (a non-validator's, for an
unknown, future or past checkpoint, a repeat) is refused too, though a block may carry it: it
would only waste space, and the P2P layer penalises the peer that relayed it.

Contract transactions (kinds 64-79) are not run here: their only state rules are the fee and the
nonce, which the mempool checks itself, and a failed call lands in the receipt rather than
refusing the transaction, so running its Wasm at the door (up to its gas limit, again for every
later transaction of the sender) would cost much and refuse nothing. In the replay of pending
transactions a contract one only pays its fee and takes its nonce (`pay_fee`).

It is advice, not consensus: a transaction that depends on *another* sender's pending one (a
transfer of a token minted to the sender in the same mempool) is refused until that one confirms,
as a wallet waits for incoming coins. Past `MAX_REPLAY` pending transactions of the sender the
check is skipped (it would cost their square). A block template still drops whatever fails when
applied in order (`coinium.chain.builder.drop_inapplicable`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from coinium.chain.chainstate import ChainState
from coinium.consensus.errors import TransactionError
from coinium.contracts.transactions import CONTRACT_KINDS, pay_fee
from coinium.core.account import Account
from coinium.core.governance import proposals
from coinium.core.kinds import KINDS
from coinium.core.kinds import vote as vote_kind
from coinium.core.staking import finality
from coinium.core.state import NS_ACCOUNT, BlockContext, BlockState
from coinium.core.transaction import Transaction, TxKind
from coinium.core.units import MAX_MONEY
from coinium.crypto.address import account_id


class _AloneView:
    """The tip's records, with the sender's account as the transaction expects it."""

    __slots__ = ("_view", "_sender", "_account")

    def __init__(self, view, sender: bytes, txs: Sequence[Transaction]):
        self._view = view
        self._sender = sender
        raw = view.get(NS_ACCOUNT, sender)
        balance = 0 if raw is None else Account.decode(raw).balance
        spend = min(sum(tx.amount + tx.fee for tx in txs), MAX_MONEY)
        self._account = Account(max(balance, spend), txs[0].nonce)

    def get(self, namespace: int, key: bytes) -> bytes | None:
        if namespace == NS_ACCOUNT and key == self._sender:
            return self._account.encode()
        return self._view.get(namespace, key)


MAX_REPLAY = 200


def state_check(chain: ChainState) -> Callable[[Transaction, Sequence[Transaction]], None]:
    """A function ``check(tx, pending)`` that raises the kind's ConsensusError when ``tx``
    cannot apply on the tip after ``pending``, its sender's pending transactions in nonce
    order."""

    def check(tx: Transaction, pending: Sequence[Transaction] = ()) -> None:
        if (tx.kind == TxKind.TRANSFER or tx.kind in CONTRACT_KINDS or not tx.is_signed
                or len(pending) > MAX_REPLAY):
            return
        txs = [*pending, tx]
        tip = chain.tip
        with chain.store.read() as txn:
            view = _AloneView(chain.store.state_view(txn), account_id(tx.sender), txs)
            state = BlockState(view, BlockContext(tip.height + 1, tip.hash, chain.params,
                                                tip.header.timestamp))
            proposals.begin_block(state)  # as a block does: a passed proposal's values apply
            finality.begin_block(state)
            for each in pending:
                if each.kind in CONTRACT_KINDS:
                    pay_fee(each, state)
                else:
                    KINDS[each.kind].apply([each], state)
            if tx.kind == vote_kind.NUMBER:
                source, target = vote_kind.checkpoints(tx.payload)
                problem = finality.vote_problem(state, tx.recipient, tx.sender, source, target)
                if problem is not None:
                    raise TransactionError(*problem, txid=tx.txid)
            KINDS[tx.kind].apply([tx], state)

    return check
