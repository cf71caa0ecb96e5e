"""The consensus engine: the pinned wasmtime version, and the configuration refusing what the
static check refuses too (a second line of defence), but for what wasmtime cannot turn off."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import wasmtime
from contract_helpers import Chain, example, u64, wat
from test_contract_static_check import FORBIDDEN, module

from coinium.contracts import query
from coinium.contracts.engine import ENGINE, WASMTIME_VERSION, installed_version
from coinium.contracts.validate import CodeError, check_code

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_the_installed_wasmtime_is_the_pinned_consensus_version():
    pinned = re.search(r'"wasmtime==([^"]+)"', PYPROJECT.read_text())
    assert pinned is not None and pinned.group(1) == WASMTIME_VERSION == installed_version()


@pytest.mark.parametrize("text", [
    '(module (func (drop (v128.const i64x2 0 0))))',
    '(module (memory 1 1 shared))',
    '(module (memory 1) (func (memory.fill (i32.const 0) (i32.const 0) (i32.const 0))))',
    '(module (func $f (return_call $f)))',
])  # fmt: skip
def test_the_engine_itself_refuses_the_proposals(text):
    with pytest.raises(wasmtime.WasmtimeError):
        wasmtime.Module(ENGINE, wat(text))


@pytest.mark.parametrize("name", [n for n, (_, what) in FORBIDDEN.items() if what != "float"
                                  and not what.startswith("float:")])  # fmt: skip
def test_the_engine_refuses_every_proposal_the_static_check_refuses(name):
    # reference types included: component-model-async (which needs them) is off too
    with pytest.raises(wasmtime.WasmtimeError):
        wasmtime.Module.validate(ENGINE, wat(FORBIDDEN[name][0]))


@pytest.mark.parametrize("text", [
    module("(func (drop (f32.add (f32.const 1) (f32.const 2))))"),  # floats
    module("(func (drop (i32.trunc_sat_f32_s (f32.const 1))))"),  # saturating float-to-int
    module("(global i32 (i32.add (i32.const 1) (i32.const 2)))"),  # extended constants
    module("(func $s) (start $s)"),  # a start function (MVP)
])  # fmt: skip
def test_what_wasmtime_cannot_turn_off_is_left_to_the_static_check(text):
    # docs/CONTRACTS.md lists these: the engine accepts them, the static check does not
    wasmtime.Module.validate(ENGINE, wat(text))
    with pytest.raises(CodeError):
        check_code(wat(text))


def test_calls_on_several_threads_at_once_meter_alike(tmp_path):
    # RPC threads run queries while the chain thread connects blocks: they share the compiled
    # and linked modules; each thread keeps its own call stack and each call its own store.
    chain = Chain(str(tmp_path))
    try:
        alice, bob = chain.keys[0], chain.keys[1]
        token = chain.deploy(alice, example("token"), u64(1_000))
        message = b"\x01" + bob.account + u64(1)

        def estimate(_):
            return chain.state.with_tip_state(lambda view, height, time: query.estimate(
                view, height, time, "execute", alice.account, token, message, 0))

        alone = estimate(None)
        assert alone.ok
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(estimate, range(200)))
        assert {(r.ok, r.gas_used, r.result) for r in results} == \
            {(True, alone.gas_used, alone.result)}
    finally:
        chain.close()
