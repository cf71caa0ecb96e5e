"""ChainState on real LMDB files: connecting, fork choice, reorgs, orphans and restarts."""

from __future__ import annotations

import pytest
from helpers import key, replay_balances, snapshot

from coinium.chain.builder import build_block, generate, mine
from coinium.chain.chainstate import AcceptStatus, ChainState
from coinium.consensus.subsidy import block_subsidy
from coinium.core.account import Account
from coinium.core.params import MAIN, REGTEST
from coinium.core.transaction import sign_transfer
from coinium.core.units import COIN
from coinium.store.chainstore import DatadirLockedError, StoreError
from coinium.store.records import BlockStatus, IndexEntry

CHAIN_ID = REGTEST.chain_id


def test_new_datadir_starts_at_genesis(chain):
    assert chain.height == 0
    assert chain.tip.hash == REGTEST.genesis_hash
    assert chain.get_account(bytes(20)) == Account(block_subsidy(0, REGTEST), 0)


def test_blocks_connect_and_survive_a_restart(tmp_path, alice):
    with ChainState(tmp_path, REGTEST) as chain:
        blocks = generate(chain, 5, alice.account)
        assert chain.height == 5 and chain.tip.hash == blocks[-1].hash
        state = snapshot(chain)
    with ChainState(tmp_path, REGTEST) as chain:
        assert chain.height == 5 and chain.tip.hash == blocks[-1].hash
        assert snapshot(chain) == state
        assert chain.get_account(alice.account).balance == 5 * 50 * COIN


def test_transfer_moves_balance_and_nonce(chain, alice, bob):
    generate(chain, 1, alice.account)
    tx = sign_transfer(alice, CHAIN_ID, bob.account, 7 * COIN, 1000, 0)
    [block] = generate(chain, 1, key(9).account, [tx])
    assert chain.get_account(alice.account) == Account(50 * COIN - 7 * COIN - 1000, 1)
    assert chain.get_account(bob.account) == Account(7 * COIN, 0)
    assert chain.get_account(key(9).account).balance == 50 * COIN + 1000  # subsidy + fee
    assert chain.get_tx_location(tx.txid) == (block.hash, 1)
    assert replay_balances(chain) == {k: tuple(v) for k, v in chain.iter_accounts()}


def test_two_processes_cannot_share_a_datadir(tmp_path):
    with ChainState(tmp_path, REGTEST):
        with pytest.raises(DatadirLockedError, match="another coinium process"):
            ChainState(tmp_path, REGTEST)


def test_datadir_of_another_network_is_refused(tmp_path):
    ChainState(tmp_path, REGTEST).close()
    with pytest.raises(StoreError, match="holds the 'regtest' chain, not 'main'"):
        ChainState(tmp_path, MAIN)


def test_equal_work_first_seen_stays_then_more_work_reorgs(chain, alice, bob):
    generate(chain, 2, alice.account)
    fork_point = chain.tip.hash
    a3 = mine(build_block(chain, [], alice.account))
    b3 = mine(build_block(chain, [], bob.account, extra=b"b"))
    assert chain.accept_block(a3).status == AcceptStatus.NEW_TIP
    result = chain.accept_block(b3)
    assert result.status == AcceptStatus.SIDE_BRANCH  # equal work: first seen stays
    assert chain.tip.hash == a3.hash

    b4 = mine(build_block(chain, [], bob.account, parent=b3.hash))
    result = chain.accept_block(b4)
    assert result.status == AcceptStatus.NEW_TIP
    assert [b.hash for b in result.disconnected] == [a3.hash]
    assert [b.hash for b in result.connected] == [b3.hash, b4.hash]
    assert chain.tip.hash == b4.hash and chain.hash_at_height(2) == fork_point
    assert chain.get_account(alice.account).balance == 2 * 50 * COIN
    assert chain.get_account(bob.account).balance == 2 * 50 * COIN
    assert replay_balances(chain) == {k: tuple(v) for k, v in chain.iter_accounts()}


def test_reorg_undoes_transfers_and_txindex(chain, alice, bob):
    generate(chain, 1, alice.account)
    tx = sign_transfer(alice, CHAIN_ID, bob.account, COIN, 10, 0)
    [with_tx] = generate(chain, 1, alice.account, [tx])
    parent = with_tx.header.prev_hash
    side = [mine(build_block(chain, [], bob.account, parent=parent, extra=b"side"))]
    assert chain.accept_block(side[0]).status == AcceptStatus.SIDE_BRANCH
    side.append(mine(build_block(chain, [], bob.account, parent=side[0].hash)))
    assert chain.accept_block(side[1]).status == AcceptStatus.NEW_TIP
    assert chain.tip.hash == side[-1].hash
    assert chain.get_tx_location(tx.txid) is None
    assert chain.get_account(bob.account) == Account(2 * 50 * COIN, 0)
    assert chain.get_account(alice.account) == Account(50 * COIN, 0)  # nonce back to 0


def test_orphan_then_parent_connects_both(tmp_path, alice):
    # Build blocks 1..3 on one chain, then feed them to a fresh chain in reverse order.
    with ChainState(tmp_path / "source", REGTEST) as source:
        blocks = generate(source, 3, alice.account)
    with ChainState(tmp_path / "sink", REGTEST) as sink:
        assert sink.accept_block(blocks[2]).status == AcceptStatus.ORPHAN
        assert sink.accept_block(blocks[1]).status == AcceptStatus.ORPHAN
        assert sink.accept_block(blocks[1]).status == AcceptStatus.DUPLICATE
        assert sink.height == 0 and len(sink.orphans) == 2
        result = sink.accept_block(blocks[0])
        assert result.status == AcceptStatus.NEW_TIP
        assert [b.hash for b in result.connected] == [b.hash for b in blocks]
        assert sink.tip.hash == blocks[2].hash and len(sink.orphans) == 0


def test_orphan_pool_is_bounded(tmp_path, alice):
    with ChainState(tmp_path / "source", REGTEST) as source:
        blocks = generate(source, 8, alice.account)
    with ChainState(tmp_path / "sink", REGTEST, max_orphans=3) as sink:
        for block in blocks[1:]:
            assert sink.accept_block(block).status == AcceptStatus.ORPHAN
        assert len(sink.orphans) == 3
        assert blocks[7].hash in sink.orphans and blocks[1].hash not in sink.orphans


def test_duplicate_block(chain, alice):
    [block] = generate(chain, 1, alice.account)
    assert chain.accept_block(block).status == AcceptStatus.DUPLICATE


def test_invalidate_and_reconsider(chain, alice):
    blocks = generate(chain, 3, alice.account)
    before = snapshot(chain)
    result = chain.invalidate_block(blocks[1].hash)
    assert [b.hash for b in result.disconnected] == [blocks[2].hash, blocks[1].hash]
    assert chain.tip.hash == blocks[0].hash
    assert chain.accept_block(blocks[2]).reason == "duplicate-invalid"
    result = chain.reconsider_block(blocks[1].hash)
    assert [b.hash for b in result.connected] == [blocks[1].hash, blocks[2].hash]
    assert snapshot(chain) == before


def test_restart_connects_a_stored_but_unconnected_block(tmp_path, alice):
    """A crash between storing a block and connecting it loses nothing."""
    with ChainState(tmp_path, REGTEST) as chain:
        generate(chain, 1, alice.account)
        block = mine(build_block(chain, [], alice.account))
        entry = IndexEntry(block.header, chain.tip.chainwork + 2, BlockStatus.HAVE_DATA, 99)
        chain.store.write(lambda txn: (
            chain.store.put(txn, "blocks", block.hash, block.encode()),
            chain.store.put(txn, "headers", block.hash, entry.encode()),
        ))  # fmt: skip
    with ChainState(tmp_path, REGTEST) as chain:
        assert chain.tip.hash == block.hash and chain.height == 2


def test_address_index_follows_the_main_chain(chain, alice, bob):
    generate(chain, 1, alice.account)
    tx = sign_transfer(alice, CHAIN_ID, bob.account, COIN, 10, 0)
    [with_tx] = generate(chain, 1, alice.account, [tx])
    history = chain.account_history(alice.account, 10)
    assert [(h, p) for h, p, _ in history] == [(2, 1), (2, 0), (1, 0)]  # newest first
    assert history[0][2] == tx.txid
    assert chain.account_history(bob.account, 10) == [(2, 1, tx.txid)]
    assert chain.account_history(alice.account, 1) == history[:1]
    chain.invalidate_block(with_tx.hash)
    assert chain.account_history(bob.account, 10) == []
    assert [(h, p) for h, p, _ in chain.account_history(alice.account, 10)] == [(1, 0)]
