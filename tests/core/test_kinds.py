"""The transaction kinds registry: its invariants, and that a kind added as one module is carried
by every layer that dispatches on it — the codec (errors named after the kind), block rules,
apply, the versioned undo record and the state tree of a real chain, reorgs included."""

from __future__ import annotations

import struct

import pytest
from helpers import DictView, key, replay_records, snapshot
from hypothesis import given
from hypothesis import strategies as st
from note_kind import NOTE, NS_NOTE, note, note_kind_registered

from coinium.chain.builder import build_block, mine
from coinium.chain.chainstate import AcceptStatus, ChainState
from coinium.consensus.block_rules import check_block_body
from coinium.consensus.state_transition import apply_block, decode_undo, encode_undo
from coinium.core.codec import DecodeError
from coinium.core.kinds import KINDS, MAX_TX_SIZE, TxKind
from coinium.core.params import REGTEST
from coinium.core.transaction import Transaction, sign_transfer
from coinium.crypto.state_proof import record_path, root_of_records, value_hash
from coinium.p2p import messages

# --- the registry as shipped ------------------------------------------------------------------


def test_registry_numbers_names_and_enum_agree():
    assert KINDS[0].name == "coinbase" and KINDS[1].name == "transfer"
    # Staking and finality take kind numbers 16-31, NFTs 32-47, contracts 64-79 (issues 12, 14
    # and 15).
    staking = {k.name for n, k in KINDS.items() if 16 <= n <= 31}
    assert staking == {"validator_register", "bond", "delegate", "unbond", "withdraw", "vote",
                       "slash"}
    assert all(k.name.startswith("nft_") for n, k in KINDS.items() if 32 <= n <= 47)
    assert {k.name for n, k in KINDS.items() if 64 <= n <= 79} == {
        "contract_upload", "contract_instantiate", "contract_execute", "contract_migrate"}
    assert sorted(n for n in KINDS if 64 <= n <= 79) == [64, 65, 66, 67]
    for number, kind in KINDS.items():
        assert kind.number == number and TxKind[kind.name.upper()] == number
    assert [k.name for k in KINDS.values() if k.coinbase] == ["coinbase"]
    assert [k.name for k in KINDS.values() if not k.signed] == ["coinbase"]


def test_max_size_is_the_longest_encoding_and_the_p2p_cap():
    longest_transfer = Transaction.transfer(bytes(32), bytes(20), 1, 1, 1, memo=bytes(256))
    longest_coinbase = Transaction.coinbase(1, bytes(20), 1, extra=bytes(100))
    assert KINDS[1].max_size == len(longest_transfer.raw) == 400
    assert KINDS[0].max_size == len(longest_coinbase.raw) == 136
    assert MAX_TX_SIZE == max(k.max_size for k in KINDS.values())
    # The largest of all: a contract upload of the largest code, far above slash evidence (two
    # signed votes, 576 bytes) and an NFT class (551 bytes); tests/contracts cover its size.
    assert MAX_TX_SIZE == KINDS[64].max_size > KINDS[22].max_size == 576 > KINDS[32].max_size
    assert KINDS[32].max_size == 551
    assert MAX_TX_SIZE == messages.MAX_TX_SIZE == messages.MAX_PAYLOAD[messages.MsgType.TX]


@given(st.integers(2, 255).filter(lambda n: n not in KINDS))
def test_a_kind_number_the_registry_does_not_know_is_refused_at_decode(number):
    raw = bytearray(Transaction.coinbase(1, bytes(20), 1).raw)
    raw[1] = number
    with pytest.raises(DecodeError, match=f"unknown transaction kind {number}") as err:
        Transaction.decode(bytes(raw))
    assert err.value.what == "tx.kind" and err.value.offset == 1


# --- a kind added as one module (tests/note_kind.py) ---------------------------------------------


@pytest.fixture
def with_note():
    with note_kind_registered():
        yield


def test_the_codec_dispatches_to_the_new_kind_and_names_it_in_errors(with_note):
    tx = note(bytes([5]) * 20, b"hello")
    assert tx.raw == bytes((1, NOTE)) + bytes([5]) * 20 + bytes(8) + b"\x05\x00hello"
    assert Transaction.decode(tx.raw) == tx
    with pytest.raises(DecodeError) as err:
        Transaction.decode(tx.raw[:-1])
    assert err.value.what == "tx.note.text"
    too_long = bytes((1, NOTE)) + bytes(28) + struct.pack("<H", 33) + bytes(33)
    with pytest.raises(DecodeError, match="exceeds limit") as err:
        Transaction.decode(too_long)
    assert err.value.what == "tx.note.text_length"


def test_apply_and_undo_cover_the_new_namespace(with_note):
    miner, k = key(9).account, bytes([6]) * 20
    block = build_on_nothing([note(k, b"first"), note(k, b"second")], miner)
    check_block_body(block)
    view = DictView()
    delta = apply_block(block, view, REGTEST)
    assert delta.new[(NS_NOTE, k)] == b"second"  # each sees the one before
    assert delta.old[(NS_NOTE, k)] is None
    assert decode_undo(encode_undo(delta.old)) == delta.old


def build_on_nothing(txs, miner):
    from coinium.consensus.subsidy import block_subsidy
    from coinium.core.block import Block
    from coinium.core.header import Header
    from coinium.kernels import merkle_root

    body = (Transaction.coinbase(1, miner, block_subsidy(1, REGTEST)), *txs)
    header = Header(2, 1, bytes(32), merkle_root([t.txid for t in body]), bytes(32), 0,
                    REGTEST.genesis_bits, 0)  # fmt: skip
    return Block(header, body)


def root_of(records) -> bytes:
    return root_of_records((record_path(ns, k), value_hash(v)) for (ns, k), v in records)


def test_a_chain_commits_and_reorgs_the_new_namespace_byte_for_byte(with_note, tmp_path):
    alice, miner = key(1), key(9).account
    with ChainState(tmp_path / "chain", REGTEST) as chain:
        b1 = mine(build_block(chain, [], alice.account))
        assert chain.accept_block(b1).status == AcceptStatus.NEW_TIP
        before = snapshot(chain)
        root_before = chain.state_root()

        notes = [note(bytes([7]) * 20, b"kept"), note(bytes([8]) * 20, b"gone")]
        pay = sign_transfer(alice, REGTEST.chain_id, bytes([7]) * 20, 5, 1, 0)
        b2 = mine(build_block(chain, [*notes, pay, note(bytes([8]) * 20, b"")], miner))
        assert chain.accept_block(b2).status == AcceptStatus.NEW_TIP
        records = dict(chain.iter_records())
        assert records[(NS_NOTE, bytes([7]) * 20)] == b"kept"
        assert (NS_NOTE, bytes([8]) * 20) not in records  # written, then deleted in one block
        assert chain.state_root() == root_of(records.items()) != root_before
        b3 = mine(build_block(chain, [note(bytes([7]) * 20, b"next")], miner))
        assert chain.accept_block(b3).status == AcceptStatus.NEW_TIP
        assert b3.header.state_root == root_of(records.items())  # the lagged commitment

        # Disconnecting b3 and b2 restores every namespace, and the tree, byte for byte.
        tables = ("state", "state_tree")
        with_notes = snapshot(chain, tables)
        chain.invalidate_block(b2.hash)
        assert chain.tip.hash == b1.hash
        assert snapshot(chain, tables) == {name: before[name] for name in tables}
        assert chain.state_root() == root_before
        chain.reconsider_block(b2.hash)
        assert chain.tip.hash == b3.hash and snapshot(chain, tables) == with_notes

        # A longer branch from b1 without the notes wins: the notes are gone, the rest agrees
        # with a replay and the root with one rebuilt from the records.
        side = b1.hash
        for i in range(3):
            block = mine(build_block(chain, [], miner, parent=side, extra=bytes([i])))
            chain.accept_block(block)
            side = block.hash
        assert chain.tip.hash == side
        records = dict(chain.iter_records())
        assert all(ns != NS_NOTE for ns, _ in records)
        assert records == replay_records(chain)
        assert chain.state_root() == root_of(records.items())


def test_the_mempool_takes_only_signed_kinds(with_note, tmp_path):
    from coinium.mempool.pool import Mempool, MempoolReject

    with ChainState(tmp_path / "chain", REGTEST) as chain:
        pool = Mempool(REGTEST, chain.get_account)
        with pytest.raises(MempoolReject) as reject:
            pool.add(note(bytes([5]) * 20, b"spam"))
        assert reject.value.reason == "bad-txns-kind" and "note" in reject.value.detail
        with pytest.raises(MempoolReject) as reject:
            pool.add(Transaction.coinbase(1, bytes(20), 1))
        assert reject.value.reason == "bad-txns-kind"
        assert len(pool) == 0
