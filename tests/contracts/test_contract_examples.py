"""The example token and escrow contracts on a real chain: upload, instantiate, execute, query,
events, coins held by contracts, migrate, reorgs, and bad inputs that change only the fee."""

from __future__ import annotations

import tempfile

import pytest
from contract_helpers import FEE, Chain, example, u64, wat
from helpers import DictView

from coinium.chain.builder import build_block, mine
from coinium.consensus.state_transition import apply_block
from coinium.contracts import builders, query
from coinium.contracts.limits import MAX_CODE_SIZE
from coinium.contracts.records import code_hash, decode_event
from coinium.core.codec import DecodeError
from coinium.core.params import REGTEST
from coinium.core.state import NS_CONTRACT, NS_CONTRACT_CODE, NS_CONTRACT_EVENT
from coinium.core.transaction import Transaction
from coinium.crypto.state_proof import record_path, root_of_records, value_hash


@pytest.fixture
def chain():
    with tempfile.TemporaryDirectory() as datadir:
        c = Chain(datadir)
        yield c
        c.close()


def token_query(chain: Chain, contract: bytes, message: bytes) -> int:
    result = chain.state.with_tip_state(
        lambda view, height, time: query.query(view, height, time, contract, message))
    assert result.ok, result
    return int.from_bytes(result.result, "little")


def test_token_upload_instantiate_transfer_query_and_events(chain):
    alice, bob = chain.keys[0], chain.keys[1]
    code = example("token")
    token = chain.deploy(alice, code, u64(1_000_000))
    assert chain.state.get_record(NS_CONTRACT_CODE, code_hash(code)) == code
    assert chain.state.get_record(NS_CONTRACT, token) is not None
    before = chain.balance(alice.account)
    tx = chain.execute(alice, token, b"\x01" + bob.account + u64(250))
    chain.block([tx])
    receipt = chain.receipt(tx)
    assert receipt.ok and 0 < receipt.gas_used < 50_000_000 and receipt.contract == token
    assert chain.balance(alice.account) == before - FEE  # the fee, nothing else, in coins
    assert token_query(chain, token, b"\x01" + alice.account) == 1_000_000 - 250
    assert token_query(chain, token, b"\x01" + bob.account) == 250
    assert token_query(chain, token, b"\x02") == 1_000_000
    events = [decode_event(k, v) for k, v in
              chain.state.records_with_prefix(NS_CONTRACT_EVENT, token, 100)]
    assert [(e["topic"], e["txid"], e["height"]) for e in events] == \
        [(b"transfer", tx.txid, chain.state.height)]
    assert events[0]["data"] == alice.account + bob.account + u64(250)
    assert receipt.events == tuple(k for k, _ in
                                   chain.state.records_with_prefix(NS_CONTRACT_EVENT, token, 9))


def test_a_failed_call_changes_nothing_but_the_fee(chain):
    alice, bob = chain.keys[0], chain.keys[1]
    token = chain.deploy(alice, example("token"), u64(100))
    before = chain.balance(bob.account)
    too_much = chain.execute(bob, token, b"\x01" + alice.account + u64(1), coins=5)
    chain.block([too_much])
    receipt = chain.receipt(too_much)
    assert not receipt.ok and receipt.reason == "reverted"
    assert receipt.result == b"insufficient balance" and receipt.gas_used == 50_000_000
    assert chain.balance(bob.account) == before - FEE  # the 5 coins came back
    assert chain.balance(token) == 0
    assert token_query(chain, token, b"\x01" + alice.account) == 100
    assert chain.state.records_with_prefix(NS_CONTRACT_EVENT, token, 10) == []


@pytest.mark.parametrize("case, reason", [
    ("missing contract", "no-contract"),
    ("insufficient coins", "insufficient-coins"),
    ("bad init message", "reverted"),
    ("missing code", "no-code"),
    ("malformed wasm", "code-malformed"),
    ("oversize upload", "code-too-large"),
    ("upload out of gas", "out-of-gas"),
])  # fmt: skip
def test_bad_inputs_get_a_reason_code_and_cost_only_the_fee(chain, case, reason):
    alice = chain.keys[0]
    token = chain.deploy(alice, example("token"), u64(100))
    fee = FEE
    if case == "missing contract":
        tx = chain.execute(alice, bytes(range(1, 21)), b"\x01")
    elif case == "insufficient coins":
        tx = chain.execute(alice, token, b"", coins=chain.balance(alice.account) - FEE + 1)
    elif case == "bad init message":
        tx, _ = chain.instantiate(alice, example("token"), b"short")
    elif case == "missing code":
        tx, _ = chain.instantiate(alice, b"never uploaded", u64(1))
    else:
        code = {"malformed wasm": b"\x00asm\x01\x00\x00\x00\x05\xff",
                "oversize upload": example("token").ljust(MAX_CODE_SIZE + 1, b"\x00"),
                "upload out of gas": example("token")}[case]
        gas = 1_000 if case == "upload out of gas" else 1_000_000_000
        fee = 1_000_000
        tx = chain.upload(alice, code, gas=gas, fee=fee)
    # every record outside the accounts and the receipts
    before = {k: v for k, v in chain.state.iter_records() if k[0] not in (0x01, 0x44)}
    balance = chain.balance(alice.account)
    chain.block([tx])
    receipt = chain.receipt(tx)
    assert not receipt.ok and receipt.reason == reason
    after = {k: v for k, v in chain.state.iter_records() if k[0] not in (0x01, 0x44)}
    assert after == before  # no code, contract, storage or event changed
    assert chain.balance(alice.account) == balance - fee


def test_escrow_holds_coins_and_releases_them_to_the_beneficiary(chain):
    depositor, arbiter, beneficiary = chain.keys
    escrow = chain.deploy(depositor, example("escrow"), arbiter.account + beneficiary.account,
                          coins=7_000)  # fmt: skip
    assert chain.balance(escrow) == 7_000
    stranger = chain.execute(beneficiary, escrow, b"\x01")
    chain.block([stranger])
    assert chain.receipt(stranger).result == b"only the arbiter decides"
    assert chain.balance(escrow) == 7_000
    before = chain.balance(beneficiary.account)
    release = chain.execute(arbiter, escrow, b"\x01")
    chain.block([release])
    assert chain.receipt(release).ok
    assert chain.balance(escrow) == 0
    assert chain.balance(beneficiary.account) == before + 7_000
    again = chain.execute(arbiter, escrow, b"\x02")
    chain.block([again])
    assert chain.receipt(again).result == b"already settled"


MIGRATED = wat("""(module
  (import "env" "storage_set" (func $set (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "vmigrated")
  (func (export "migrate") (result i32)
    (call $set (i32.const 0) (i32.const 1) (i32.const 1) (i32.const 8)) (i32.const 0)))""")


def test_only_the_admin_migrates_and_storage_and_coins_stay(chain):
    alice, bob = chain.keys[0], chain.keys[1]
    token = chain.deploy(alice, example("token"), u64(500), admin=alice.account)
    upload = chain.upload(bob, MIGRATED)
    by_bob = chain.migrate(bob, token, MIGRATED)
    chain.block([upload, by_bob])
    assert chain.receipt(by_bob).reason == "not-admin"
    by_alice = chain.migrate(alice, token, MIGRATED)
    chain.block([by_alice])
    assert chain.receipt(by_alice).ok
    assert chain.storage(token, b"v") == b"migrated"
    assert chain.storage(token, b"s") == u64(500)  # the token's storage stays
    no_admin = chain.deploy(bob, example("token"), u64(1))
    tx = chain.migrate(bob, no_admin, MIGRATED)
    chain.block([tx])
    assert chain.receipt(tx).reason == "not-admin"


def test_a_reorg_restores_contract_storage_and_events(chain):
    alice, bob = chain.keys[0], chain.keys[1]
    token = chain.deploy(alice, example("token"), u64(1_000))
    fork = chain.state.tip.hash
    snapshot = dict(chain.state.iter_records())
    tx = chain.execute(alice, token, b"\x01" + bob.account + u64(400))
    chain.block([tx])
    assert token_query(chain, token, b"\x01" + bob.account) == 400
    parent = fork
    for n in range(2):  # a longer branch without the transfer
        side = mine(build_block(chain.state, [], bytes(20), extra=b"side%d" % n, parent=parent))
        chain.state.accept_block(side)
        parent = side.hash
    assert chain.state.tip.hash == parent
    assert token_query(chain, token, b"\x01" + bob.account) == 0
    after = dict(chain.state.iter_records())
    changed = {k for k in after.keys() | snapshot.keys() if after.get(k) != snapshot.get(k)}
    assert {ns for ns, _ in changed} <= {0x01}  # only the coinbase payouts of the branch
    # the tree after the reorg is the tree of exactly these records, contract ones included
    assert chain.state.state_root() == root_of_records(
        (record_path(ns, k), value_hash(v)) for (ns, k), v in after.items())
    # and every record equals a replay of the main chain from genesis (contracts re-executed)
    replay = DictView()
    for height in range(chain.state.height + 1):
        block = chain.state.get_block(chain.state.hash_at_height(height))
        replay.apply(apply_block(block, replay, REGTEST))
    assert replay.records == after


def test_an_upload_past_the_codec_cap_cannot_be_built_or_decoded(chain):
    alice = chain.keys[0]
    huge = bytes(MAX_CODE_SIZE + 1024)
    with pytest.raises(ValueError, match="contract_upload data"):
        builders.upload(alice, REGTEST.chain_id, huge, gas=1, fee=1, nonce=0)
    fits = builders.upload(alice, REGTEST.chain_id, b"x", gas=1, fee=1, nonce=0)
    raw = bytearray(fits.raw[:78]) + (len(huge) + 8).to_bytes(4, "little") + huge + bytes(72)
    with pytest.raises(DecodeError, match="tx.contract_upload.data_length"):
        Transaction.decode(bytes(raw))


def test_reading_a_balance_creates_no_account_record(chain):
    alice = chain.keys[0]
    escrow = chain.deploy(alice, example("escrow"), alice.account + bytes(range(20)), coins=10)
    stranger = bytes(range(40, 60))
    escaped = "".join(f"\\{b:02x}" for b in stranger)
    spy = wat(f"""(module
      (import "env" "balance" (func $balance (param i32) (result i64)))
      (memory (export "memory") 1)
      (data (i32.const 0) "{escaped}")
      (func (export "instantiate") (result i32) (i32.const 0))
      (func (export "execute") (result i32) (i32.wrap_i64 (call $balance (i32.const 0)))))""")
    contract = chain.deploy(alice, spy)
    tx = chain.execute(alice, contract)
    chain.block([tx])
    assert chain.receipt(tx).ok  # the stranger's balance read as 0
    assert chain.state.get_record(0x01, stranger) is None
    assert chain.balance(escrow) == 10
