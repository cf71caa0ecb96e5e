"""The incremental state root against the reference, over random blocks and reorgs.

After every step of a random history (blocks of random transfers, and of random notes — a test
kind with its own namespace, tests/note_kind.py — on the tip, reorgs onto longer branches from a
random fork point, hand invalidations), on a real LMDB datadir:
- the tree's root equals `root_of_records` rebuilt from scratch from every stored record;
- every record of every namespace equals a replay of the main chain from genesis;
- the root recorded for the tip is that root, and each main-chain header commits to the root
  recorded for its parent.
"""

from __future__ import annotations

import random
import tempfile

from helpers import DictView, key, replay_records
from hypothesis import given, settings
from hypothesis import strategies as st
from note_kind import note, note_kind_registered

from coinium.chain.builder import build_block, mine
from coinium.chain.chainstate import AcceptStatus, ChainState
from coinium.consensus.state_transition import apply_block
from coinium.core.account import Account
from coinium.core.params import REGTEST
from coinium.core.state import NS_ACCOUNT
from coinium.core.transaction import sign_transfer
from coinium.crypto.state_proof import record_path, root_of_records, value_hash

KEYS = [key(n) for n in range(1, 6)]
CID = REGTEST.chain_id


def root_of(records: dict) -> bytes:
    return root_of_records((record_path(ns, k), value_hash(v)) for (ns, k), v in records.items())


def state_at(chain: ChainState, height: int) -> DictView:
    view = DictView()
    for h in range(height + 1):
        view.apply(apply_block(chain.get_block(chain.hash_at_height(h)), view, REGTEST))
    return view


def transfers(view: DictView, rng: random.Random, count: int) -> list:
    """Up to ``count`` transfers valid on ``view``, which is updated as they apply."""
    txs = []
    for _ in range(count):
        sender = rng.choice(KEYS)
        raw = view.get(NS_ACCOUNT, sender.account)
        account = Account.decode(raw) if raw is not None else Account(0, 0)
        if account.balance < 1000:
            continue
        recipient = rng.choice([*(k.account for k in KEYS), bytes([rng.randrange(256)]) * 20])
        amount, fee = rng.randint(1, account.balance // 2), rng.randint(0, 100)
        txs.append(sign_transfer(sender, CID, recipient, amount, fee, account.nonce))
        view.records[(NS_ACCOUNT, sender.account)] = Account(
            account.balance - amount - fee, account.nonce + 1).encode()
        if recipient != sender.account:
            before = view.get(NS_ACCOUNT, recipient)
            to = Account.decode(before) if before is not None else Account(0, 0)
            view.records[(NS_ACCOUNT, recipient)] = Account(to.balance + amount,
                                                             to.nonce).encode()  # fmt: skip
    return txs


def check(chain: ChainState) -> None:
    stored = dict(chain.iter_records())
    assert chain.state_root() == root_of(stored)
    assert stored == replay_records(chain)
    assert chain.state_root_after(chain.tip.hash) == chain.state_root()
    for height in range(1, chain.height + 1):
        header = chain.index[chain.hash_at_height(height)].header
        assert header.state_root == chain.state_root_after(header.prev_hash)


steps = st.lists(st.tuples(st.sampled_from(["extend", "extend", "notes", "reorg", "invalidate"]),
                           st.integers(0, 2**32 - 1)), min_size=1, max_size=7)  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(steps)
def test_incremental_root_equals_the_rebuilt_root_and_state_equals_a_replay(history):
    with note_kind_registered(), tempfile.TemporaryDirectory() as datadir, \
            ChainState(datadir, REGTEST) as chain:
        for n, k in enumerate(KEYS[:3]):  # funds to move around
            block = mine(build_block(chain, [], k.account, extra=bytes([n])))
            assert chain.accept_block(block).status == AcceptStatus.NEW_TIP
        check(chain)
        for action, seed in history:
            rng = random.Random(seed)
            if action == "extend":
                view = state_at(chain, chain.height)
                block = mine(build_block(chain, transfers(view, rng, rng.randint(0, 6)),
                                         rng.choice(KEYS).account))  # fmt: skip
                assert chain.accept_block(block).status == AcceptStatus.NEW_TIP
            elif action == "notes":  # a few keys written, rewritten and deleted
                keys = [bytes([rng.randrange(4)]) * 20 for _ in range(rng.randint(1, 6))]
                txs = [note(k, rng.choice([b"", b"a", rng.randbytes(rng.randint(1, 32))]),
                            serial=(chain.height << 8) + i) for i, k in enumerate(keys)]
                block = mine(build_block(chain, txs, rng.choice(KEYS).account))
                assert chain.accept_block(block).status == AcceptStatus.NEW_TIP
            elif action == "reorg":
                depth = rng.randint(1, min(3, chain.height))
                fork = chain.height - depth
                view = state_at(chain, fork)
                parent = chain.hash_at_height(fork)
                for _ in range(depth + 1):
                    block = mine(build_block(chain, transfers(view, rng, rng.randint(0, 4)),
                                             rng.choice(KEYS).account, parent=parent,
                                             extra=b"side"))  # fmt: skip
                    view.apply(_coinbase_credit(block, view))
                    chain.accept_block(block)
                    parent = block.hash
                assert chain.tip.hash == parent and chain.height == fork + depth + 1
            elif chain.height > 1:
                target = chain.hash_at_height(chain.height - rng.randint(0, 1))
                chain.invalidate_block(target)
                check(chain)
                chain.reconsider_block(target)
            check(chain)


def _coinbase_credit(block, view: DictView):
    """The coinbase's credit (the transfers were applied to ``view`` as they were made)."""
    cb = block.transactions[0]
    raw = view.get(NS_ACCOUNT, cb.recipient)
    miner = Account.decode(raw) if raw is not None else Account(0, 0)

    class Delta:
        new = {(NS_ACCOUNT, cb.recipient): Account(miner.balance + cb.amount,
                                                   miner.nonce).encode()}  # fmt: skip

    return Delta
