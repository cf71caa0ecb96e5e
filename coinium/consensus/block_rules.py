"""Context-free block rules: size, coinbase placement, Merkle root, duplicates, signatures.

These need the block alone (plus the chain id for signatures). The Merkle root and the signatures
go through `coinium.kernels`, so they run compiled; the verdicts are the same on every backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from coinium import kernels
from coinium.consensus.errors import BlockError, TransactionError
from coinium.core.block import MAX_BLOCK_SIZE, MAX_BLOCK_TXS, Block
from coinium.core.kinds import KINDS
from coinium.core.transaction import Transaction, signing_hashes

# Returns True for a transaction whose signature is already known good (a signature cache).
SignatureFilter = Callable[[Transaction], bool]

# The kind numbers whose transactions are a coinbase / carry a signature: from the registry as it
# stands at import (every kind registers there), as sets because these loops see every transaction.
_COINBASE_KINDS = frozenset(k.number for k in KINDS.values() if k.coinbase)
_SIGNED_KINDS = frozenset(k.number for k in KINDS.values() if k.signed)


def check_block_body(block: Block) -> None:
    """Everything that makes a block well-formed, signatures aside.

    The body is checked against the header's Merkle root first (as Bitcoin Core's CheckBlock
    does): any other failure of a body its header does not commit to would be recorded as the
    block's own, and a peer could get a good block marked invalid for good by sending it with a
    tampered body (a wrong coinbase height, say)."""
    txs = block.transactions
    txids = block.txids()
    if kernels.merkle_root(txids) != block.header.merkle_root:
        raise BlockError("bad-txnmrklroot", "Merkle root mismatch", mutated=True)
    if len(set(txids)) != len(txids):
        raise BlockError("bad-txns-duplicate", "duplicate transaction", mutated=True)
    if not txs:
        raise BlockError("bad-blk-length", "a block has at least its coinbase")
    if len(txs) > MAX_BLOCK_TXS:
        raise BlockError("bad-blk-length", f"{len(txs)} transactions exceed {MAX_BLOCK_TXS}")
    size = block.size
    if size > MAX_BLOCK_SIZE:
        raise BlockError("bad-blk-length", f"{size} bytes exceed {MAX_BLOCK_SIZE}")
    if txs[0].kind not in _COINBASE_KINDS:
        raise BlockError("bad-cb-missing", "the first transaction is not a coinbase")
    if txs[0].nonce != block.header.height:
        raise BlockError(
            "bad-cb-height", f"coinbase height {txs[0].nonce}, block height {block.header.height}"
        )
    for tx in txs[1:]:
        if tx.kind in _COINBASE_KINDS:
            raise BlockError("bad-cb-multiple", "more than one coinbase")
        check_transaction_sanity(tx)


def check_transaction_sanity(tx: Transaction) -> None:
    """Rules a non-coinbase transaction must meet wherever it appears (block or mempool): its
    kind's stateless checks (a coinbase's refuses it here)."""
    KINDS[tx.kind].check(tx)


def check_signatures(
    transactions: Iterable[Transaction], chain_id: int, skip: SignatureFilter | None = None
) -> None:
    """Verify every signed transaction's signature in one kernel batch; raise on the first bad
    one."""
    to_check = [tx for tx in transactions if tx.kind in _SIGNED_KINDS]
    if skip is not None:
        to_check = [tx for tx in to_check if not skip(tx)]
    if not to_check:
        return
    verdicts = kernels.verify_batch(
        [tx.sender for tx in to_check],
        signing_hashes(to_check, chain_id),
        [tx.signature for tx in to_check],
    )
    for tx, ok in zip(to_check, verdicts, strict=True):
        if not ok:
            raise TransactionError("bad-txns-signature", "signature does not verify", txid=tx.txid)


def check_block(block: Block, chain_id: int, skip: SignatureFilter | None = None) -> None:
    check_block_body(block)
    try:
        check_signatures(block.transactions, chain_id, skip)
    except TransactionError as exc:
        raise BlockError(exc.reason, f"tx {exc.txid.hex() if exc.txid else '?'}: {exc.detail}") \
            from None
