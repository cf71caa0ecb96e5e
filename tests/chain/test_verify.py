"""coinium.chain.verify on a real LMDB chain holding accounts and notes (a test kind with its own
namespace, tests/note_kind.py): a sound chain passes every check and the replay writes nothing;
each kind of forgery (a record, a record with its tree, with the tip's recorded root too, an undo
record, a recorded root) is found by the check that says so."""

from __future__ import annotations

import pytest
from helpers import key, snapshot
from note_kind import NS_NOTE, note, note_kind_registered

from coinium.chain.builder import build_block, mine
from coinium.chain.chainstate import AcceptStatus, ChainState
from coinium.chain.connect import tree_changes
from coinium.chain.verify import (
    ChainCheckError,
    check_linkage,
    check_recent,
    check_state_root,
)
from coinium.consensus.state_transition import decode_undo, encode_undo
from coinium.core.account import Account
from coinium.core.params import REGTEST
from coinium.core.state import NS_ACCOUNT
from coinium.core.transaction import sign_transfer
from coinium.store.chainstore import record_key

ALICE, BOB = key(1), key(2)
OLD_NOTE, NEW_NOTE = b"\x01" * 20, b"\x02" * 20  # written at height 2, at the tip


@pytest.fixture
def chain(tmp_path):
    with note_kind_registered(), ChainState(tmp_path / "datadir", REGTEST) as state:
        def add(txs, miner=ALICE):
            block = mine(build_block(state, txs, miner.account, extra=bytes([state.height])))
            assert state.accept_block(block).status == AcceptStatus.NEW_TIP

        add([])
        add([note(OLD_NOTE, b"old", serial=1)])
        for n in range(3):
            add([sign_transfer(ALICE, REGTEST.chain_id, BOB.account, 1000 + n, 10, n)], BOB)
        add([note(NEW_NOTE, b"new", serial=2), note(OLD_NOTE, b"", serial=3)])  # one deleted
        yield state


def verify_all(chain: ChainState, nblocks: int) -> int:
    with chain.store.read() as txn:
        tip = check_linkage(chain.store, txn, REGTEST)
        check_state_root(chain.store, txn, tip)
    return check_recent(chain.store, REGTEST, nblocks)


def forge(chain: ChainState, records=(), *, tree=False, tip_root=False, undo=None) -> None:
    """Write into the chain's store what a forged backup would hold."""
    store = chain.store
    tip = chain.tip.hash

    def write(txn):
        for (namespace, k), value in records:
            store.put(txn, "state", record_key(namespace, k), value)
        if tree:
            store.state_tree.apply(txn, tree_changes(records))
        if tip_root:
            store.put(txn, "stateroots", tip, store.state_tree.root(txn))
        if undo is not None:
            store.put(txn, "undo", tip, encode_undo(undo(decode_undo(store.get(txn, "undo", tip)))))

    store.write(write)


def test_a_sound_chain_passes_and_the_replay_writes_nothing(chain):
    before = snapshot(chain, ("state", "state_tree", "undo", "stateroots", "meta"))
    assert verify_all(chain, 24) == chain.height  # every block back to genesis
    assert verify_all(chain, 2) == 2
    assert snapshot(chain, ("state", "state_tree", "undo", "stateroots", "meta")) == before


def test_a_forged_record_no_recent_block_touched_is_found_by_its_root(chain):
    forge(chain, [((NS_NOTE, b"\x03" * 20), b"forged")])
    assert check_recent(chain.store, REGTEST, 3) == 3  # the replay does not touch it
    with chain.store.read() as txn, pytest.raises(ChainCheckError) as found:
        check_state_root(chain.store, txn, chain.tip)
    assert "rebuild to root" in str(found.value)
    assert f"record 0x7e:{'03' * 20} is not in the state tree" in str(found.value)


def test_a_forged_balance_is_found_by_the_replay(chain):
    forge(chain, [((NS_ACCOUNT, BOB.account), Account(10**15, 3).encode())])
    with pytest.raises(ChainCheckError, match=f"account {BOB.account.hex()} is stored as"):
        check_recent(chain.store, REGTEST, 4)


def test_a_record_forged_with_its_tree_is_found_by_the_tips_recorded_root(chain):
    forge(chain, [((NS_ACCOUNT, b"\x09" * 20), Account(10**15, 0).encode())], tree=True)
    with chain.store.read() as txn, pytest.raises(ChainCheckError,
                                                  match="not the root recorded after the tip"):
        check_state_root(chain.store, txn, chain.tip)


def test_a_record_forged_with_its_tree_and_the_tips_root_is_found_by_the_tips_header(chain):
    forge(chain, [((NS_ACCOUNT, b"\x09" * 20), Account(10**15, 0).encode())], tree=True,
          tip_root=True)  # fmt: skip
    with chain.store.read() as txn:
        check_state_root(chain.store, txn, chain.tip)  # consistent in itself
    with pytest.raises(ChainCheckError, match=f"undoing block {chain.height} gives state root"):
        check_recent(chain.store, REGTEST, 1)


def test_a_forged_undo_record_of_another_namespace_is_found(chain):
    def wrong_note(old):
        assert old[(NS_NOTE, OLD_NOTE)] == b"old"
        return {**old, (NS_NOTE, OLD_NOTE): b"odd"}

    forge(chain, undo=wrong_note)
    with pytest.raises(ChainCheckError, match=f"undoing block {chain.height} gives state root"):
        check_recent(chain.store, REGTEST, 1)


def test_a_header_that_does_not_commit_to_the_recorded_root_is_found(chain):
    parent = chain.index[chain.tip.prev_hash]
    chain.store.write(lambda txn: chain.store.put(txn, "stateroots", parent.hash, b"\x05" * 32))
    with chain.store.read() as txn, pytest.raises(ChainCheckError,
                                                  match=f"block {chain.height} commits to"):
        check_linkage(chain.store, txn, REGTEST)


def test_verifychain_levels(chain):
    from coinium.rpc.methods.chainstats import verify

    assert all(verify(chain, level, nblocks) for level in range(5) for nblocks in (0, 2))
    forge(chain, [((NS_NOTE, b"\x03" * 20), b"forged")])  # no block touched it
    assert verify(chain, 3, 0) is True  # the replay cannot see it
    assert verify(chain, 4, 0) is False  # the rebuild from every record does
