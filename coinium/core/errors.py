"""One error hierarchy for every consensus failure, with bitcoind-style reason codes.

It lives in core/ because the transaction kinds (`coinium.core.kinds`) raise it; the rules and
the chain import it as `coinium.consensus.errors`.

``reason`` is the short code bitcoind would give (``high-hash``, ``bad-txnmrklroot``, ...).
``permanent`` says whether the object can never become valid (False for ``time-too-new``: the same
block may be fine in an hour). ``mutated`` says the *body* did not match its header (bad Merkle
root, duplicate transactions): the header itself may be fine, so its hash must not be remembered
as invalid, or a peer could ban a good block by sending a corrupted copy of it.

A storage or kernel failure is never a ConsensusError and never marks a block invalid.
"""

from __future__ import annotations


class ConsensusError(Exception):
    level = "consensus"

    def __init__(self, reason: str, detail: str = "", *, permanent: bool = True,
                 mutated: bool = False):  # fmt: skip
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.permanent = permanent
        self.mutated = mutated


class BlockError(ConsensusError):
    """The block breaks a rule (its header, its body, or the state change it makes)."""

    level = "block"


class HeaderError(BlockError):
    """The header alone breaks a rule: proof of work, difficulty, time, height."""

    level = "header"


class TransactionError(ConsensusError):
    """A transaction breaks a rule; inside a block it makes the block invalid too."""

    level = "transaction"

    def __init__(self, reason: str, detail: str = "", *, txid: bytes | None = None,
                 permanent: bool = True):  # fmt: skip
        super().__init__(reason, detail, permanent=permanent)
        self.txid = txid
