"""Gas and limits on a real chain: loops, recursion, memory growth and call depth are stopped and
charged; out of gas falls at the identical point; a failed nested call's writes never land."""

from __future__ import annotations

import tempfile

import pytest
from contract_helpers import FEE, GAS, Chain, example, u64, wat

from coinium.contracts import limits, query
from coinium.contracts.records import code_hash
from coinium.core.state import NS_CONTRACT

# Memory: input writes env (64 bytes) at 0, the message at 64; scratch from 1024.
LOOP = wat("""(module (memory (export "memory") 1)
  (func (export "instantiate") (result i32) (i32.const 0))
  (func (export "execute") (result i32) (loop $l (br $l)) (i32.const 0)))""")

RECURSE = wat("""(module (memory (export "memory") 1)
  (func (export "instantiate") (result i32) (i32.const 0))
  (func $f (param i32) (result i32) (call $f (i32.add (local.get 0) (i32.const 1))))
  (func (export "execute") (result i32) (call $f (i32.const 0))))""")

GROW = wat("""(module (memory (export "memory") 1)
  (func (export "instantiate") (result i32) (i32.const 0))
  ;; one page at a time until refused; then 7 if refused at the cap (16 pages), 9 if not
  (func (export "execute") (result i32)
    (block $refused (loop $l
      (br_if $refused (i32.eq (memory.grow (i32.const 1)) (i32.const -1))) (br $l)))
    (if (result i32) (i32.eq (memory.size) (i32.const 16))
      (then (i32.const 7)) (else (i32.const 9)))))""")

# msg[0] = 1: write "n" += 1, call itself, store the status it got under "s" if not 0.
# msg[0] = 2: call the contract at msg[1..21] with message [3] and store the status under "t".
# msg[0] = 3: write "b", then revert.
CALLER = wat("""(module
  (import "env" "input" (func $input (param i32 i32) (result i32)))
  (import "env" "storage_get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "env" "storage_set" (func $set (param i32 i32 i32 i32)))
  (import "env" "call" (func $call (param i32 i32 i32 i64 i64) (result i32)))
  (import "env" "revert" (func $revert (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 512) "nstb\\03boom")
  (func (export "instantiate") (result i32) (i32.const 0))
  (func (export "execute") (result i32) (local $status i32)
    (drop (call $input (i32.const 0) (i32.const 200)))
    (if (i32.eq (i32.load8_u (i32.const 64)) (i32.const 1)) (then
      (drop (call $get (i32.const 512) (i32.const 1) (i32.const 600) (i32.const 4)))
      (i32.store (i32.const 600) (i32.add (i32.load (i32.const 600)) (i32.const 1)))
      (call $set (i32.const 512) (i32.const 1) (i32.const 600) (i32.const 4))
      (local.set $status (call $call (i32.const 20) (i32.const 64) (i32.const 1) (i64.const 0)
                                     (i64.const 1000000000)))
      (i32.store (i32.const 604) (local.get $status))
      (if (local.get $status) (then
        (call $set (i32.const 513) (i32.const 1) (i32.const 604) (i32.const 4))))
      (return (i32.const 0))))
    (if (i32.eq (i32.load8_u (i32.const 64)) (i32.const 2)) (then
      (i32.store (i32.const 604) (call $call (i32.const 65) (i32.const 516) (i32.const 1)
                                             (i64.const 0) (i64.const 1000000000)))
      (call $set (i32.const 514) (i32.const 1) (i32.const 604) (i32.const 4))
      (return (i32.const 0))))
    (call $set (i32.const 515) (i32.const 1) (i32.const 604) (i32.const 4))
    (call $revert (i32.const 517) (i32.const 4))
    (i32.const 0)))""")


@pytest.fixture
def chain():
    with tempfile.TemporaryDirectory() as datadir:
        c = Chain(datadir)
        yield c
        c.close()


@pytest.mark.parametrize("code, reason, result", [
    (LOOP, "out-of-gas", b""),
    (RECURSE, "trap", b""),  # the Wasm stack is capped (limits.MAX_WASM_STACK)
    (GROW, "contract-error", b"7"),  # memory.grow past 16 pages returned -1
])  # fmt: skip
def test_runaway_contracts_are_stopped_and_charged(chain, code, reason, result):
    alice = chain.keys[0]
    contract = chain.deploy(alice, code)
    before = chain.balance(alice.account)
    tx = chain.execute(alice, contract, gas=GAS)
    chain.block([tx])
    receipt = chain.receipt(tx)
    assert (receipt.ok, receipt.reason, receipt.result, receipt.gas_used) == \
        (False, reason, result, GAS)
    assert chain.balance(alice.account) == before - FEE


def test_calls_stop_at_the_depth_limit_and_the_levels_above_keep_their_writes(chain):
    alice = chain.keys[0]
    contract = chain.deploy(alice, CALLER)
    tx = chain.execute(alice, contract, b"\x01", gas=limits.MAX_TX_GAS)
    chain.block([tx])
    receipt = chain.receipt(tx)
    assert receipt.ok, receipt
    # every level up to MAX_CALL_DEPTH ran; the last one's call was refused as too deep (2)
    assert chain.storage(contract, b"n") == limits.MAX_CALL_DEPTH.to_bytes(4, "little")
    assert chain.storage(contract, b"s") == (2).to_bytes(4, "little")
    assert receipt.gas_used > limits.MAX_CALL_DEPTH * limits.SCHEDULE.instantiate


def test_a_failed_nested_call_writes_nothing_and_its_caller_goes_on(chain):
    alice = chain.keys[0]
    outer = chain.deploy(alice, CALLER)
    inner = chain.deploy(alice, CALLER)
    tx = chain.execute(alice, outer, b"\x02" + inner, gas=limits.MAX_TX_GAS)
    chain.block([tx])
    assert chain.receipt(tx).ok
    assert chain.storage(outer, b"t") == (1).to_bytes(4, "little")  # CALL_FAILED
    assert chain.storage(inner, b"b") is None  # the reverted call's write never landed
    missing = chain.execute(alice, outer, b"\x02" + bytes(20), gas=limits.MAX_TX_GAS)
    chain.block([missing])
    assert chain.storage(outer, b"t") == (3).to_bytes(4, "little")  # CALL_NO_CONTRACT


def test_out_of_gas_falls_at_the_identical_point(chain):
    alice, bob = chain.keys[0], chain.keys[1]
    token = chain.deploy(alice, example("token"), u64(1_000))
    message = b"\x01" + bob.account + u64(10)
    estimate = chain.state.with_tip_state(lambda view, height, time: query.estimate(
        view, height, time, "execute", alice.account, token, message, 0))
    assert estimate.ok
    exact = chain.execute(alice, token, message, gas=estimate.gas_used)
    short = chain.execute(alice, token, message, gas=estimate.gas_used - 1)
    chain.block([exact, short])
    assert chain.receipt(exact).ok and chain.receipt(exact).gas_used == estimate.gas_used
    assert (chain.receipt(short).ok, chain.receipt(short).reason) == (False, "out-of-gas")
    again = [chain.execute(alice, token, message, gas=estimate.gas_used) for _ in range(3)]
    chain.block(again)
    assert {chain.receipt(tx).gas_used for tx in again} == {estimate.gas_used}


def test_a_read_only_query_cannot_write(chain):
    alice = chain.keys[0]
    contract = chain.deploy(alice, CALLER)
    result = chain.state.with_tip_state(lambda view, height, time: query.query(
        view, height, time, contract, b"\x01"))
    assert (result.ok, result.reason) == (False, "no-entry-point")  # CALLER has no query
    token = chain.deploy(alice, example("token"), u64(5))
    spam = chain.state.with_tip_state(lambda view, height, time: query.query(
        view, height, time, token, b"\x02", gas=10**12))
    assert spam.ok and spam.gas_used <= limits.QUERY_GAS_LIMIT
    assert code_hash(example("token")) != code_hash(CALLER)


# An active data segment past the end of memory: instantiating traps (wasmtime checks segments
# at instantiation, the static check cannot know the memory's size at run time).
BAD_SEGMENT = wat("""(module (memory (export "memory") 1)
  (data (i32.const 65535) "xy")
  (func (export "instantiate") (result i32) (i32.const 0))
  (func (export "execute") (result i32) (i32.const 0)))""")


def test_a_module_whose_instantiation_traps_fails_the_call_not_the_block(chain):
    alice = chain.keys[0]
    before = chain.balance(alice.account)
    upload = chain.upload(alice, BAD_SEGMENT)
    tx, contract = chain.instantiate(alice, BAD_SEGMENT)
    chain.block([upload, tx])  # the block connects: the trap is the call's, not the node's
    assert chain.receipt(upload).ok
    receipt = chain.receipt(tx)
    assert (receipt.ok, receipt.reason, receipt.gas_used) == (False, "trap", GAS)
    assert chain.balance(alice.account) == before - upload.fee - FEE
    assert chain.state.get_record(NS_CONTRACT, contract) is None
