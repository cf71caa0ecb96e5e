"""Build and mine blocks on top of a chain: block templates for miners, and an easy way for
tests and demos to drive a regtest chain (build a block from given transactions, mine it with
whatever kernel backend is loaded, connect it)."""

from __future__ import annotations

from collections.abc import Sequence

from coinium import kernels
from coinium.chain.chainstate import AcceptResult, AcceptStatus, ChainState
from coinium.chain.kind_checks import applicable
from coinium.consensus.errors import ConsensusError
from coinium.consensus.header_rules import required_bits
from coinium.consensus.pow import decode_compact
from coinium.consensus.subsidy import block_subsidy
from coinium.core.block import Block
from coinium.core.governance import proposals
from coinium.core.header import Header
from coinium.core.params import BLOCK_VERSION
from coinium.core.staking.ledger import staking_share
from coinium.core.staking.records import TOTALS_KEY, Totals
from coinium.core.state import NS_STAKING
from coinium.core.transaction import Transaction

MAX_NONCE = (1 << 64) - 1


def build_block(
    chain: ChainState,
    transactions: Sequence[Transaction],
    coinbase_recipient: bytes,
    *,
    timestamp: int | None = None,
    extra: bytes = b"",
    parent: bytes | None = None,
    filter_invalid: bool = False,
) -> Block:
    """An unmined block (nonce 0) on the tip, or on ``parent``, paying subsidy + fees and
    committing to the state its parent left. ``filter_invalid`` (templates from the mempool)
    leaves out transactions the state has made invalid since their admission."""
    parent_entry = chain.index[parent] if parent is not None else chain.tip
    height = parent_entry.height + 1
    if filter_invalid:
        transactions = applicable(chain, parent_entry.hash, transactions)
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
