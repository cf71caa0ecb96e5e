"""The consensus engine: the pinned wasmtime version, and the configuration refusing what the
static check refuses too (a second line of defence)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import wasmtime
from contract_helpers import wat

from coinium.contracts.engine import ENGINE, WASMTIME_VERSION, installed_version

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


def test_reference_types_are_left_to_the_static_check():
    # this wasmtime build needs reference types on (component-model-async); validate.py refuses
    # them (test_contract_static_check.py), so an upload never reaches the engine with them
    wasmtime.Module(ENGINE, wat("(module (func (drop (ref.null func))))"))
