"""Build and mine blocks on top of a chain: block templates for miners, and an easy way for
tests and demos to drive a regtest chain (build a block from given transactions, mine it with
whatever kernel backend is loaded, connect it)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from coinium import kernels
from coinium.chain.chainstate import AcceptResult, AcceptStatus, ChainState
from coinium.consensus.errors import ConsensusError
from coinium.consensus.header_rules import required_bits
from coinium.consensus.pow import decode_compact
from coinium.consensus.state_transition import apply_block
from coinium.consensus.subsidy import block_subsidy
from coinium.core.block import Block
from coinium.core.governance import proposals
from coinium.core.header import Header
from coinium.core.params import BLOCK_VERSION
from coinium.core.staking.ledger import staking_share
from coinium.core.staking.records import TOTALS_KEY, Totals
from coinium.core.state import NS_STAKING
from coinium.core.transaction import Transaction, TxKind

MAX_NONCE = (1 << 64) - 1


def build_block(
    chain: ChainState,
    transactions: Sequence[Transaction],
    coinbase_recipient: bytes,
    *,
    timestamp: int | None = None,
    extra: bytes = b"",
    parent: bytes | None = None,
) -> Block:
    """An unmined block (nonce 0) on the tip, or on ``parent``, paying subsidy (less the
    stakers' share) + fees and committing to the state its parent left. Templates from the
    mempool pass their transactions through `drop_inapplicable` first."""
    parent_entry = chain.index[parent] if parent is not None else chain.tip
    height = parent_entry.height + 1
    fees = sum(tx.fee for tx in transactions)
    coinbase = Transaction.coinbase(
        height, coinbase_recipient, miner_subsidy(chain, parent_entry.hash, height) + fees, extra
    )
    txs = (coinbase, *transactions)
    if timestamp is None:
        timestamp = max(chain.median_time_past(parent_entry) + 1, int(chain.clock()))
    bits = required_bits(chain.params, parent_entry.height, parent_entry.header.timestamp)
    merkle = kernels.merkle_root([tx.txid for tx in txs])
    try:
        state_root = chain.state_root_after(parent_entry.hash)
    except (ConsensusError, RuntimeError):
        # The parent's branch is invalid or not stored, so no state follows it: a child of it
        # cannot be valid whatever it commits to (tests build such blocks on purpose).
        state_root = bytes(32)
    header = Header(BLOCK_VERSION, height, parent_entry.hash, merkle, state_root, timestamp, bits,
                    0)
    return Block(header, txs)


def drop_inapplicable(chain: ChainState, transactions: Sequence[Transaction],
                      parent: bytes | None = None) -> list[Transaction]:  # fmt: skip
    """The transactions a block on the tip can hold: the mempool checks nonces and balances
    only, so a kind with rules of its own (an NFT transfer of a token the sender no longer owns)
    may fail when applied, and the state may have made one invalid since its admission (a
    validator slashed, a stake unbonded). Each failing transaction is dropped with its sender's
    later ones, and the rest tried again. Plain transfers (the mempool guarantees them) are not
    tried."""
    txs = list(transactions)
    if all(tx.kind == TxKind.TRANSFER for tx in txs):
        return txs
    if parent is not None and parent != chain.tip.hash:
        return txs  # a stale template: the next one is built on the new tip
    height = chain.tip.height + 1
    while txs:
        block = Block(Header(BLOCK_VERSION, height, chain.tip.hash, bytes(32), bytes(32), 0, 0, 0),
                      (Transaction.coinbase(height, bytes(20), 0), *txs))  # fmt: skip
        try:
            with chain.store.read() as txn:
                apply_block(block, chain.store.state_view(txn), chain.params)
            return txs
        except ConsensusError as exc:
            failed = _FAILED_TX.match(exc.detail or "")
            if failed is None:
                return []
            bad = next((i for i, tx in enumerate(txs) if tx.txid.hex() == failed[1]), None)
            if bad is None:
                return []
            sender = txs[bad].sender
            txs = txs[:bad] + [tx for tx in txs[bad + 1 :] if tx.sender != sender]
    return txs


_FAILED_TX = re.compile(r"tx ([0-9a-f]{64}):")


def miner_subsidy(chain: ChainState, parent: bytes, height: int) -> int:
    """The subsidy a block on ``parent`` may pay its miner: the stakers' share is left out
    while the parent's state has bonded stake."""
    subsidy = block_subsidy(height, chain.params)
    try:
        raw = chain.record_after(parent, NS_STAKING, TOTALS_KEY)
    except (ConsensusError, RuntimeError, KeyError):
        return subsidy  # no valid state after the parent: the block cannot be valid anyway
    if raw is None:
        return subsidy
    bonded = Totals.decode(raw).bonded
    share_bp = proposals.value_at(lambda ns, key: chain.record_after(parent, ns, key), height,
                                  "reward_share_bp")  # fmt: skip
    if share_bp is None:
        share_bp = chain.params.staking.reward_share_bp
    return subsidy - staking_share(bonded, subsidy, share_bp)


def mine(block: Block, start_nonce: int = 0, chunk: int = 1 << 20) -> Block:
    """Search nonces from ``start_nonce`` until the header meets its target."""
    target = decode_compact(block.header.bits)
    raw = block.header.encode()
    nonce = start_nonce
    while nonce <= MAX_NONCE:
        count = min(chunk, MAX_NONCE - nonce + 1)
        found, _ = kernels.pow_search(raw, target, nonce, count)
        if found is not None:
            return Block(block.header.with_nonce(found), block.transactions)
        nonce += count
    raise RuntimeError("nonce space exhausted; change the timestamp or coinbase extra")


def generate(
    chain: ChainState,
    count: int,
    recipient: bytes,
    transactions: Sequence[Transaction] = (),
) -> list[Block]:
    """Mine ``count`` blocks on the tip (the first holds ``transactions``); each must connect."""
    blocks = []
    for i in range(count):
        block = mine(build_block(chain, transactions if i == 0 else (), recipient))
        result = chain.accept_block(block)
        if result.status != AcceptStatus.NEW_TIP:
            raise BlockNotAccepted(result)
        blocks.append(block)
    return blocks


class BlockNotAccepted(Exception):
    def __init__(self, result: AcceptResult):
        super().__init__(f"block {result.block_hash.hex()} not accepted: {result.status.value}"
                         + (f" ({result.error})" if result.error else ""))  # fmt: skip
        self.result = result
