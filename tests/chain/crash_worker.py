"""Child process for test_crash_safety.py: drives a regtest chain until it is killed.

    python tests/chain/crash_worker.py DATADIR SEED

Opens (or reopens) the chain in DATADIR and loops forever: mines blocks of transfers between a few
deterministic keys, takes runs of blocks at once as a sync does (accept_blocks, whose batched
commits are then killed too), builds longer competing branches from a few blocks back (reorgs,
sometimes sent child-first so the orphan pool triggers them), and invalidates then reconsiders
main-chain blocks. Prints one flushed line per committed change so the parent can see progress:

    ready HEIGHT | block HEIGHT | sync COUNT HEIGHT | reorg DEPTH HEIGHT | invalidate HEIGHT |
    reconsider HEIGHT

Any unexpected outcome raises, so the child exits non-zero and the parent fails on it.
"""

from __future__ import annotations

import random
import sys

from coinium.chain import pipeline
from coinium.chain.builder import build_block, mine
from coinium.chain.chainstate import AcceptStatus, ChainState
from coinium.consensus.state_transition import decode_undo
from coinium.consensus.subsidy import block_subsidy
from coinium.core.account import Account
from coinium.core.block import Block
from coinium.core.header import Header
from coinium.core.params import BLOCK_VERSION, REGTEST
from coinium.core.state import NS_ACCOUNT
from coinium.core.transaction import Transaction, sign_transfer
from coinium.crypto.keys import PrivateKey
from coinium.kernels import merkle_root

KEYS = [PrivateKey(bytes([0xC0, n]) + bytes(30)) for n in range(1, 5)]
# An account no key here controls: coins sent to it leave circulation among the keys for good.
SINK = bytes([0x5D]) * 20
MAX_REORG_DEPTH = 4


def emit(line: str) -> None:
    print(line, flush=True)


def accounts_at(chain: ChainState, height: int) -> dict[bytes, Account]:
    """The keys' accounts as of main-chain ``height``: today's, rolled back through undo records."""
    state = {k.account: chain.get_account(k.account) for k in KEYS}
    with chain.store.read() as txn:
        for h in range(chain.height, height, -1):
            raw = chain.store.get(txn, "undo", chain.main_chain[h])
            assert raw is not None, f"no undo record at height {h}"
            for (namespace, account), old in decode_undo(bytes(raw)).items():
                if namespace == NS_ACCOUNT and account in state:
                    state[account] = Account(0, 0) if old is None else Account.decode(old)
    return state


def make_transfers(state: dict[bytes, Account], rng: random.Random) -> list[Transaction]:
    """Up to two transfers per funded key; ``state`` is updated as they would apply."""
    txs = []
    for key in KEYS:
        for _ in range(rng.randint(0, 2)):
            sender = state[key.account]
            if sender.balance < 10_000:
                break
            fee = rng.randint(0, 1_000)
            amount = rng.randint(1, sender.balance // 3)
            to = rng.choice([*(k.account for k in KEYS if k is not key), SINK])
            txs.append(sign_transfer(key, REGTEST.chain_id, to, amount, fee, sender.nonce))
            state[key.account] = Account(sender.balance - amount - fee, sender.nonce + 1)
            if to in state:
                state[to] = Account(state[to].balance + amount, state[to].nonce)
    return txs


def new_block(chain: ChainState, parent: bytes | Block, state: dict[bytes, Account],
              rng: random.Random, state_root: bytes | None = None) -> Block:  # fmt: skip
    """A mined block on ``parent`` with transfers valid against ``state`` (the parent's).

    ``parent`` is a known block's hash, or a block the chain has not seen yet (to build a branch
    that can be sent children first); then ``state_root`` is the root of the state after it."""
    txs = make_transfers(state, rng)
    miner = rng.choice(KEYS).account
    extra = rng.randbytes(4)
    if isinstance(parent, bytes):
        block = build_block(chain, txs, miner, parent=parent, extra=extra)
    else:
        # build_block needs the parent in the index; this is the same block on an unseen parent.
        height = parent.height + 1
        fees = sum(tx.fee for tx in txs)
        coinbase = Transaction.coinbase(height, miner, block_subsidy(height, REGTEST) + fees,
                                        extra)  # fmt: skip
        body = (coinbase, *txs)
        assert state_root is not None
        header = Header(BLOCK_VERSION, height, parent.hash, merkle_root([t.txid for t in body]),
                        state_root, parent.header.timestamp + 1, REGTEST.genesis_bits,
                        0)  # fmt: skip
        block = Block(header, body)
    block = mine(block)
    # The coinbase (subsidy + fees) is part of the state the next block sees.
    state[miner] = Account(state[miner].balance + block.transactions[0].amount,
                           state[miner].nonce)  # fmt: skip
    return block


def extend_tip(chain: ChainState, rng: random.Random) -> None:
    block = new_block(chain, chain.tip.hash, accounts_at(chain, chain.height), rng)
    result = chain.accept_block(block)
    assert result.status == AcceptStatus.NEW_TIP, result
    emit(f"block {chain.height}")


def reorg(chain: ChainState, rng: random.Random) -> None:
    """A branch one block longer than the main chain above a fork point a few blocks back."""
    if chain.height < 1:  # nothing to fork from yet (a kill before the first block)
        return extend_tip(chain, rng)
    depth = rng.randint(1, min(MAX_REORG_DEPTH, chain.height))
    fork_height = chain.height - depth
    state = accounts_at(chain, fork_height)
    parent: bytes | Block = chain.main_chain[fork_height]
    branch: list[Block] = []
    fork_hash = chain.main_chain[fork_height]
    for _ in range(depth + 1):
        root = None if not branch else chain.state_root_after(fork_hash, then=branch)
        branch.append(new_block(chain, parent, state, rng, root))
        parent = branch[-1]
    if rng.random() < 0.3:
        branch.reverse()  # children first: orphans until the fork block arrives
    if rng.random() < 0.5:
        result = chain.accept_blocks(branch)[-1]  # signatures ahead, commits batched
    else:
        for block in branch:
            result = chain.accept_block(block)
    assert chain.tip.hash == max(branch, key=lambda b: b.height).hash, result
    assert len(result.disconnected) == depth, result
    emit(f"reorg {depth} {chain.height}")


def sync_run(chain: ChainState, rng: random.Random) -> None:
    """A few blocks on the tip built ahead and taken at once, as a sync does (accept_blocks)."""
    state = accounts_at(chain, chain.height)
    tip = chain.tip.hash
    parent: bytes | Block = tip
    blocks: list[Block] = []
    for _ in range(rng.randint(2, 6)):
        root = None if not blocks else chain.state_root_after(tip, then=blocks)
        blocks.append(new_block(chain, parent, state, rng, root))
        parent = blocks[-1]
    results = chain.accept_blocks(blocks)
    assert all(r.status == AcceptStatus.NEW_TIP for r in results), results
    emit(f"sync {len(blocks)} {chain.height}")


def invalidate_and_reconsider(chain: ChainState, rng: random.Random) -> None:
    if chain.height < 2:
        return extend_tip(chain, rng)
    target = chain.main_chain[chain.height - rng.randint(0, 2)]
    chain.invalidate_block(target)
    assert not chain.is_on_main_chain(target)
    emit(f"invalidate {chain.height}")
    for _ in range(rng.randint(0, 2)):
        extend_tip(chain, rng)
    chain.reconsider_block(target)
    emit(f"reconsider {chain.height}")


def main(datadir: str, seed: int) -> None:
    rng = random.Random(seed)
    # accept_blocks commits every few blocks here (not every 32,000 transactions), so that kills
    # land between the commits of one call, too.
    pipeline.BATCH_TRANSACTIONS = 6
    with ChainState(datadir, REGTEST) as chain:
        emit(f"ready {chain.height}")
        while True:
            roll = rng.random()
            if roll < 0.55:
                extend_tip(chain, rng)
            elif roll < 0.7:
                sync_run(chain, rng)
            elif roll < 0.92:
                reorg(chain, rng)
            else:
                invalidate_and_reconsider(chain, rng)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
