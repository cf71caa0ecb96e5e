"""Contracts during block connect: token transfers per second, a block of host-call spam against
a block of plain Wasm of the same gas, and what a host call and 1M fuel cost.

    PYTHONPATH=. python -m pytest bench/test_bench_contracts.py -s        # ~1 min

Host-call spam is measured for each of several host functions (SPAMMED): its cost per call,
that cost in fuel of plain Wasm, its price, and the spam block's time against plain Wasm of the
same gas. Every figure times `apply_block` (the state transition, where contracts run) over the
chain's LMDB state in process CPU time (steadier than wall time on shared cores; contracts run
on the chain thread, one core), the median of ROUNDS. The token is
contracts/examples/token.c built with clang. Targets (issue 15): >= 10,000 token transfers/s;
host-call spam at most 2x the time of plain Wasm of the same gas.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "contracts"))
from contract_helpers import Chain, example, u64, wat  # noqa: E402

from coinium.chain.builder import build_block, mine  # noqa: E402
from coinium.consensus.state_transition import apply_block  # noqa: E402
from coinium.contracts import query  # noqa: E402
from coinium.core.params import REGTEST  # noqa: E402
from coinium.core.transaction import sign_transfer  # noqa: E402

ROUNDS = 3
TOKEN_TXS = 1_000
SPAM_TXS = 40

# execute: K = the message's first byte * 10 calls of one host function, chosen by its second
# byte (SPAMMED), each the cheapest way to call it; a second `storage_set` of a key is a write
# to the call's pending overlay, and `storage_get` reads a key that does not exist (LMDB).
SPAMMED = ("balance", "storage_get", "storage_set", "input", "return_data")
SPAM = wat("""(module
  (import "env" "input" (func $input (param i32 i32) (result i32)))
  (import "env" "balance" (func $balance (param i32) (result i64)))
  (import "env" "storage_get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "env" "storage_set" (func $set (param i32 i32 i32 i32)))
  (import "env" "return_data" (func $return_data (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 512) "k")
  (func (export "instantiate") (result i32) (i32.const 0))
  (func (export "execute") (result i32) (local $n i32) (local $which i32)
    (drop (call $input (i32.const 0) (i32.const 100)))
    (local.set $n (i32.mul (i32.load8_u (i32.const 64)) (i32.const 10)))
    (local.set $which (i32.load8_u (i32.const 65)))
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (block $next (block $c4 (block $c3 (block $c2 (block $c1 (block $c0
        (br_table $c0 $c1 $c2 $c3 $c4 (local.get $which)))
        (drop (call $balance (i32.const 0))) (br $next))
        (drop (call $get (i32.const 512) (i32.const 1) (i32.const 600) (i32.const 8)))
        (br $next))
        (call $set (i32.const 512) (i32.const 1) (i32.const 512) (i32.const 1)) (br $next))
        (drop (call $input (i32.const 0) (i32.const 0))) (br $next))
        (drop (call $return_data (i32.const 0) (i32.const 0))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br $l)))
    (i32.const 0)))""")

# execute: arithmetic until the gas runs out (so its gas is exactly the limit it is given).
BURN = wat("""(module (memory (export "memory") 1)
  (func (export "instantiate") (result i32) (i32.const 0))
  (func (export "execute") (result i32) (local $x i64)
    (loop $l (local.set $x (i64.add (i64.mul (local.get $x) (i64.const 3)) (i64.const 1)))
      (br $l))
    (i32.const 0)))""")


def time_apply(chain: Chain, txs: list) -> float:
    block = mine(build_block(chain.state, txs, bytes(20)))
    times = []
    for _ in range(ROUNDS):
        def run(view, height, when):
            start = time.process_time()
            apply_block(block, view, REGTEST)
            return time.process_time() - start

        times.append(chain.state.with_tip_state(run))
    return statistics.median(times)


@pytest.fixture(scope="module")
def chain():
    with tempfile.TemporaryDirectory() as datadir:
        c = Chain(datadir)
        yield c
        c.close()


def test_token_transfers_per_second_against_plain_transfers(chain):
    alice, bob = chain.keys[0], chain.keys[1]
    token = chain.deploy(alice, example("token"), u64(10**12))
    message = b"\x01" + bob.account + u64(1)
    estimate = chain.state.with_tip_state(lambda view, height, when: query.estimate(
        view, height, when, "execute", alice.account, token, message, 0))
    gas = estimate.gas_used
    start = chain.nonces[alice.account]
    token_txs = [chain.execute(alice, token, message, gas=gas) for _ in range(TOKEN_TXS)]
    chain.nonces[alice.account] = start
    plain = [sign_transfer(alice, REGTEST.chain_id, bob.account, 1, 1_000, start + n)
             for n in range(TOKEN_TXS)]  # fmt: skip
    token_s, plain_s = time_apply(chain, token_txs), time_apply(chain, plain)
    rate = TOKEN_TXS / token_s
    print(f"\ntoken transfer: {gas:,} gas each; apply_block of {TOKEN_TXS:,}: "
          f"{rate:,.0f} token transfers/s vs {TOKEN_TXS / plain_s:,.0f} plain transfers/s "
          f"({token_s / plain_s:.1f}x the time); target >= 10,000/s: "
          f"{'met' if rate >= 10_000 else 'NOT met'}")


def test_host_call_spam_against_plain_wasm_of_the_same_gas(chain):
    alice, bob = chain.keys[0], chain.keys[2]
    spam = chain.deploy(alice, SPAM)
    burn = chain.deploy(bob, BURN)
    per_million_fuel = []
    rows = []
    for which, name in enumerate(SPAMMED):
        results = {}
        for tens in (10, 30):  # 100 and 300 host calls per transaction
            message = bytes([tens, which])
            used = chain.state.with_tip_state(
                lambda view, height, when, message=message: query.estimate(
                    view, height, when, "execute", alice.account, spam, message, 0)).gas_used
            a0, b0 = chain.nonces[alice.account], chain.nonces[bob.account]
            spam_txs = [chain.execute(alice, spam, message, gas=used) for _ in range(SPAM_TXS)]
            burn_txs = [chain.execute(bob, burn, gas=used) for _ in range(SPAM_TXS)]
            chain.nonces[alice.account], chain.nonces[bob.account] = a0, b0
            results[tens] = (used, time_apply(chain, spam_txs), time_apply(chain, burn_txs))
        (g1, s1, b1), (g2, s2, b2) = results[10], results[30]
        per_call = (s2 - s1) / (SPAM_TXS * 200)
        per_million_fuel.append((b2 - b1) / (SPAM_TXS * (g2 - g1) / 1e6))
        rows.append((name, per_call, (g2 - g1) // 200, s2 / b2, g2))
    fuel_us = statistics.median(per_million_fuel)
    print(f"\n1M fuel of plain Wasm (i64 multiply-add loop): {fuel_us * 1e6:.0f} us")
    for name, per_call, gas, ratio, total in rows:
        print(f"{name:>12}: {per_call * 1e6:5.1f} us per call = {per_call / fuel_us * 1e6:7,.0f} "
              f"fuel of time, priced {gas:,} gas; a block of {SPAM_TXS} txs x 300 calls "
              f"({total:,} gas each) takes {ratio:.2f}x the time of plain Wasm of the same gas")
    worst = max(rows, key=lambda row: row[3])
    print(f"worst host-call spam ({worst[0]}): {worst[3]:.2f}x plain Wasm of the same gas "
          f"(target <= 2x): {'met' if worst[3] <= 2 else 'NOT met'}")
