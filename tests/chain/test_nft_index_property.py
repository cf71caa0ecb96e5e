"""The NFT indexes and the state root on a real LMDB chain, over random mints, transfers, burns
and reorgs: after every step the stored indexes equal a rebuild from the records and the main
chain (`nftindex`'s check), the tree's root equals the root rebuilt from every record, and the
records equal a replay from genesis. An invalid NFT block is refused and changes nothing."""

from __future__ import annotations

import random
import tempfile

from helpers import DictView, replay_records, snapshot
from hypothesis import given, settings
from hypothesis import strategies as st
from nft_helpers import Wallet

from coinium.chain import nft_queries
from coinium.chain.builder import build_block, mine
from coinium.chain.chainstate import AcceptStatus, ChainState
from coinium.consensus.state_transition import apply_block
from coinium.core.account import Account
from coinium.core.kinds.nft.common import TokenRecord, split_token_key
from coinium.core.params import REGTEST
from coinium.core.state import NS_ACCOUNT, NS_NFT_TOKEN
from coinium.crypto.state_proof import record_path, root_of_records, value_hash


def view_at(chain: ChainState, height: int) -> DictView:
    view = DictView()
    for h in range(height + 1):
        view.apply(apply_block(chain.get_block(chain.hash_at_height(h)), view, REGTEST))
    return view


def random_ops(view: DictView, wallets: list[Wallet], rng: random.Random, count: int,
               serial: list[int]) -> list:  # fmt: skip
    """Up to ``count`` NFT transactions valid on ``view`` in order (the view is not changed)."""
    for w in wallets:
        raw = view.get(NS_ACCOUNT, w.account)
        w.nonce = Account.decode(raw).nonce if raw else 0
    by_account = {w.account: w for w in wallets}
    tokens = {split_token_key(k)[1]: TokenRecord.decode(v).owner
              for (ns, k), v in view.records.items() if ns == NS_NFT_TOKEN}  # fmt: skip
    txs = []
    for _ in range(count):
        choice = rng.random()
        if choice < 0.4 or not tokens:
            serial[0] += 1
            token_id = str(serial[0]).encode()
            owner = rng.choice(wallets).account
            txs.append(wallets[0].mint(token_id, owner=owner))
            tokens[token_id] = owner
        elif choice < 0.85:
            token_id = rng.choice(sorted(tokens))
            to = rng.choice(wallets).account
            txs.append(by_account[tokens[token_id]].transfer(token_id, to))
            tokens[token_id] = to
        else:
            token_id = rng.choice(sorted(tokens))
            txs.append(by_account[tokens.pop(token_id)].burn(token_id))
    return txs


def extend(chain: ChainState, parent: bytes, txs, miner: bytes, extra: bytes = b""):
    block = mine(build_block(chain, txs, miner, parent=parent, extra=extra))
    return chain.accept_block(block)


def check_everything(chain: ChainState) -> None:
    report = nft_queries.check_indexes(chain)
    assert report["ok"], report
    records = dict(chain.iter_records())
    assert records == replay_records(chain)
    assert chain.state_root() == root_of_records(
        (record_path(ns, k), value_hash(v)) for (ns, k), v in records.items())


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 2**32), st.lists(st.sampled_from(["block", "block", "reorg"]),
                                       min_size=2, max_size=7))  # fmt: skip
def test_indexes_equal_a_rebuild_and_the_root_matches_through_reorgs(seed, steps):
    rng = random.Random(seed)
    wallets = [Wallet(n) for n in (11, 12, 13)]
    serial = [0]
    with tempfile.TemporaryDirectory() as tmp:
        chain = ChainState(f"{tmp}/d", REGTEST)
        try:
            for w in wallets:
                extend(chain, chain.tip.hash, [], w.account)
            wallets[0].nonce = 0
            assert extend(chain, chain.tip.hash, [wallets[0].create_class(minter=0)],
                          wallets[0].account).status == AcceptStatus.NEW_TIP
            for i, step in enumerate(steps):
                if step == "block":
                    txs = random_ops(view_at(chain, chain.height), wallets, rng, 6, serial)
                    result = extend(chain, chain.tip.hash, txs, wallets[1].account)
                    assert result.status == AcceptStatus.NEW_TIP, result
                else:  # a branch one block longer from a random recent fork point
                    fork = max(4, chain.height - rng.randint(0, 2))
                    parent = chain.hash_at_height(fork)
                    height = fork
                    for j in range(chain.height - fork + 1):
                        txs = random_ops(view_at_branch(chain, parent), wallets, rng, 4, serial)
                        result = extend(chain, parent, txs, wallets[2].account,
                                        extra=bytes([i, j, 7]))  # fmt: skip
                        parent = result.block_hash
                        height += 1
                    assert chain.height == height
                check_everything(chain)
        finally:
            chain.close()


def view_at_branch(chain: ChainState, tip_hash: bytes) -> DictView:
    """The records after a stored block that may be off the main chain."""
    path = []
    entry = chain.index[tip_hash]
    while True:
        path.append(entry.hash)
        if entry.height == 0:
            break
        entry = chain.index[entry.prev_hash]
    view = DictView()
    for block_hash in reversed(path):
        view.apply(apply_block(chain.get_block(block_hash), view, REGTEST))
    return view


def test_an_invalid_nft_block_is_refused_and_changes_nothing(tmp_path):
    a, b = Wallet(21), Wallet(22)
    chain = ChainState(tmp_path / "d", REGTEST)
    try:
        extend(chain, chain.tip.hash, [], a.account)
        extend(chain, chain.tip.hash, [], b.account)
        extend(chain, chain.tip.hash, [a.create_class(), a.mint(b"1")], a.account)
        databases = ("state", "state_tree", "undo", "nftowner", "nfthistory", "meta")
        before = snapshot(chain, databases)
        result = extend(chain, chain.tip.hash, [b.transfer(b"1", b.account)], b.account)
        assert result.status == AcceptStatus.INVALID
        assert result.error.reason == "bad-nft-not-owner"
        assert snapshot(chain, databases) == before
        assert [t.token_id for t in nft_queries.tokens_of_owner(chain, a.account)] == [b"1"]
    finally:
        chain.close()


def test_block_templates_drop_what_fails_with_its_sender_s_later_transactions(tmp_path):
    from coinium.chain.builder import drop_inapplicable

    a, b = Wallet(41), Wallet(42)
    chain = ChainState(tmp_path / "d", REGTEST)
    try:
        extend(chain, chain.tip.hash, [], a.account)
        extend(chain, chain.tip.hash, [], b.account)
        extend(chain, chain.tip.hash, [a.create_class(), a.mint(b"1")], a.account)
        first, second, later = (a.transfer(b"1", b.account), a.transfer(b"1", b.account),
                                a.mint(b"2"))  # fmt: skip
        other = b.set_operator(Wallet(43).account)
        kept = drop_inapplicable(chain, [first, other, second, later])
        assert kept == [first, other]
        assert extend(chain, chain.tip.hash, kept, b.account).status == AcceptStatus.NEW_TIP
    finally:
        chain.close()
