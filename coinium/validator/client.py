"""`coinium node --validator WALLET`: vote on every checkpoint with the wallet's voting key.

The wallet's first key is the validator's operator (its id); the key labelled ``voting`` signs
the votes and pays their fee (fund it: `coinium wallet validator register` does). At each new tip
the client reads the finality record; once per epoch, when its validator is active and has not
voted, it builds the vote (last justified checkpoint -> the epoch's checkpoint), records it in the
slashing-protection file (durably, before anything leaves the process) and hands it to the mempool,
which relays it to peers like any transaction and miners include it for its fee.

Doppelganger protection: the client never votes in the epoch it started in, and it watches every
vote of its voting key that reaches the node (mempool or block) and the validator's state record:
a vote it did not sign means another node holds the key, and it stops voting for good (logged as
an error, shown by ``getvalidatorclient``), since two nodes voting with one key would sooner or
later sign a slashable pair.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from coinium.core.block import Block
from coinium.core.kinds import vote as vote_kind
from coinium.core.staking.records import ACTIVE, NO_VOTE, Validator
from coinium.core.staking.transactions import sign_vote
from coinium.core.state import NS_VALIDATOR
from coinium.core.transaction import Transaction
from coinium.crypto.address import account_id
from coinium.crypto.keys import PrivateKey
from coinium.validator.protection import ProtectionError, SlashingProtection

if TYPE_CHECKING:
    from coinium.node import Node

log = logging.getLogger(__name__)
VOTE_SIZE = 214


class ValidatorClient:
    """A chain and mempool listener of the node that signs its validator's votes."""

    def __init__(self, node: Node, operator: bytes, voting_key: PrivateKey, datadir: Path):
        self.node = node
        self.operator = operator
        self.voting_key = voting_key
        self.voter_account = account_id(voting_key.public_key)
        self.protection = SlashingProtection(datadir)
        self.stopped: str | None = None  # why voting stopped (another node uses the key)
        self.started_epoch: int | None = None
        self.votes_sent = 0
        self.last_error: str | None = None

    def close(self) -> None:
        self.protection.close()

    def status(self) -> dict:
        return {"validator": self.operator.hex(), "votingkey": self.voting_key.public_key.hex(),
                "votes_sent": self.votes_sent, "stopped": self.stopped,
                "last_error": self.last_error, "last_signed": self.protection.last(
                    self.voting_key.public_key)}  # fmt: skip

    # --- doppelganger detection ---------------------------------------------------------------
    def _saw_vote(self, tx: Transaction) -> None:
        if tx.kind != vote_kind.NUMBER or tx.sender != self.voting_key.public_key:
            return
        target = vote_kind.checkpoints(tx.payload)[1]
        if self.protection.signed(tx.sender, target.epoch) != tx.txid:
            self._stop(f"vote {tx.txid.hex()} for epoch {target.epoch} was signed with this "
                       "node's voting key by another node")  # fmt: skip

    def _stop(self, why: str) -> None:
        if self.stopped is None:
            self.stopped = why
            log.error("validator client stops voting: %s", why)

    def transaction_added(self, tx_raw: bytes, txid: bytes, mempool_sequence: int) -> None:
        try:
            self._saw_vote(Transaction.decode(tx_raw))
        except ValueError:
            pass

    def transaction_removed(self, tx_raw: bytes, txid: bytes, reason: str,
                            mempool_sequence: int) -> None:  # fmt: skip
        pass

    def block_connected(self, block: Block) -> None:
        for tx in block.transactions[1:]:
            self._saw_vote(tx)

    def block_disconnected(self, block: Block) -> None:
        pass

    def tip_updated(self, tip: Block) -> None:
        try:
            self.vote_if_due()
        except Exception as exc:  # a vote never takes the node down
            self.last_error = str(exc)
            log.warning("validator client: %s", exc)

    # --- voting -------------------------------------------------------------------------------
    def vote_if_due(self) -> Transaction | None:
        """Sign and submit this epoch's vote when one is due; the vote, or None."""
        if self.stopped is not None:
            return None
        chain = self.node.chain
        f = chain.finality()
        raw = chain.get_record(NS_VALIDATOR, self.operator)
        if f is None or raw is None:
            return None
        validator = Validator.decode(raw)
        epoch = f.current.epoch
        last = self.protection.last(self.voting_key.public_key)
        if validator.last_vote_epoch != NO_VOTE and (last is None
                                                     or validator.last_vote_epoch > last[1]):
            self._stop(f"the chain holds this validator's vote for epoch "
                       f"{validator.last_vote_epoch}, which this node never signed")  # fmt: skip
            return None
        if self.started_epoch is None:
            self.started_epoch = epoch
        if epoch == self.started_epoch:
            return None  # the first epoch only listens for another node with this key
        if validator.status != ACTIVE or validator.voting_key != self.voting_key.public_key:
            return None
        if validator.weight(epoch) == 0 or validator.last_vote_epoch == epoch:
            return None
        if self.protection.signed(self.voting_key.public_key, epoch) is not None:
            return None  # signed already, waiting for a block
        mempool = self.node.mempool
        fee = -(-mempool.min_fee_rate() * VOTE_SIZE // 1000)
        nonce = mempool.pending_nonce(self.voter_account)
        vote = sign_vote(self.voting_key, chain.params.chain_id, self.operator, f.source,
                         f.current, fee, nonce)  # fmt: skip
        try:
            self.protection.record(vote.sender, f.source.epoch, epoch, vote.txid)
        except ProtectionError as exc:
            self.last_error = str(exc)
            log.warning("slashing protection refused a vote: %s", exc)
            return None
        mempool.add(vote)
        self.votes_sent += 1
        log.info("voted %d -> %d (%s)", f.source.epoch, epoch, f.current.hash.hex())
        return vote
