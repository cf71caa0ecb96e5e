"""The upload check: every forbidden feature refused (one module each, written as WAT), the host
API's imports only, bounded memories and tables; random bytes never crash it."""

from __future__ import annotations

import pytest
from contract_helpers import example, wat
from hypothesis import given, settings
from hypothesis import strategies as st

from coinium.contracts.validate import CodeError, check_code

GOOD = """(module
  (import "env" "input" (func $input (param i32 i32) (result i32)))
  (memory (export "memory") 1 16)
  (global $g (mut i64) (i64.const 7))
  (table 2 funcref) (elem (i32.const 0) $execute)
  (data (i32.const 8) "hi")
  (func $execute (export "execute") (result i32) (local i64)
    (drop (call $input (i32.const 0) (i32.const 0)))
    (local.set 0 (i64.extend_i32_u (i32.const 5)))
    (block (loop (br_if 1 (i64.eqz (local.get 0)))
      (local.set 0 (i64.sub (local.get 0) (i64.const 1))) (br 0)))
    (i32.wrap_i64 (global.get $g))))"""

MEMORY = '(memory (export "memory") 1)'


def module(body: str, memory: str = MEMORY) -> str:
    return f"(module {body} {memory})"


FORBIDDEN = {
    "f32 arithmetic": (module('(func (export "execute") (result i32) '
                              '(drop (f32.add (f32.const 1) (f32.const 2))) (i32.const 0))'),
                       "float"),
    "f64 local": (module('(func (export "execute") (result i32) (local f64) (i32.const 0))'),
                  "float: f64 local"),
    "f64 parameter": (module("(func (param f64))"), "float: f64 parameter"),
    "float global": (module("(global f32 (f32.const 0))"), "float"),
    "float conversion": (module('(func (result i32) (i32.trunc_f32_s (f32.const 1)))'), "float"),
    "float load": (module("(func (drop (f64.load (i32.const 0))))"), "float"),
    "simd": (module("(func (drop (v128.const i64x2 0 0)))"), "simd"),
    "threads (shared memory)": (module("", '(memory (export "memory") 1 1 shared)'), "threads"),
    "threads (atomics)": (module("(func (drop (i32.atomic.load (i32.const 0))))"), "threads"),
    "bulk memory (memory.fill)": (
        module("(func (memory.fill (i32.const 0) (i32.const 0) (i32.const 0)))"), "bulk-memory"),
    "bulk memory (passive data)": (module('(data "x")'), "bulk-memory"),
    "reference types (ref.null)": (module("(func (drop (ref.null func)))"), "reference-types"),
    "reference types (externref table)": (module("(table 1 externref)"), "reference-types"),
    "tail calls": (module("(func $f (return_call $f))"), "tail-call"),
    "multi-value": (module("(func (result i32 i32) (i32.const 1) (i32.const 2))"),
                    "multi-value"),
}  # fmt: skip


def test_a_module_of_the_integer_mvp_subset_passes():
    check_code(wat(GOOD))
    check_code(example("token"))
    check_code(example("escrow"))


@pytest.mark.parametrize("name", FORBIDDEN)
def test_each_forbidden_feature_is_refused(name):
    text, what = FORBIDDEN[name]
    with pytest.raises(CodeError) as err:
        check_code(wat(text))
    assert err.value.reason == "code-forbidden-feature" and what in err.value.detail


@pytest.mark.parametrize("text, reason, detail", [
    (module('(import "env" "getrandom" (func))'), "code-bad-import", "env.getrandom"),
    (module('(import "wasi" "fd_write" (func))'), "code-bad-import", "wasi.fd_write"),
    (module('(import "env" "input" (func (param i32) (result i32)))'), "code-bad-import",
     "wrong signature"),
    (module("", '(import "env" "memory" (memory 1)) (export "memory" (memory 0))'),
     "code-bad-import", "only functions"),
    (module("", '(memory (export "memory") 17)'), "code-too-large", "memory"),
    (module("", '(memory (export "memory") 1 100)'), "code-too-large", "memory"),
    (module("(table 5000 funcref)"), "code-too-large", "table"),
    (module("", "(memory 1)"), "code-bad-exports", "memory"),
    ("(module)", "code-bad-exports", "memory"),
    (module("(func $s) (start $s)"), "code-bad-exports", "start"),
])  # fmt: skip
def test_imports_limits_and_exports(text, reason, detail):
    with pytest.raises(CodeError) as err:
        check_code(wat(text))
    assert err.value.reason == reason and detail in err.value.detail


@pytest.mark.parametrize("code", [b"", b"\x00asm", b"\x00asm\x02\x00\x00\x00", b"\x7fELF",
                                  b"\x00asm\x01\x00\x00\x00\x01\x05\x01\x60\x00",
                                  b"\x00asm\x01\x00\x00\x00\x0a\x04\x01\x02\x00\x0b"])
def test_malformed_binaries_are_code_malformed(code):
    with pytest.raises(CodeError) as err:
        check_code(code)
    assert err.value.reason in ("code-malformed", "code-bad-exports")


def test_an_oversize_module_is_refused_before_parsing():
    with pytest.raises(CodeError) as err:
        check_code(b"\x00asm\x01\x00\x00\x00" + bytes(256 * 1024))
    assert err.value.reason == "code-too-large"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 2000))
def test_mutated_modules_give_a_code_error_or_pass_never_a_crash(noise, position):
    code = bytearray(example("token"))
    code[position % len(code):position % len(code) + len(noise)] = noise
    try:
        check_code(bytes(code))
    except CodeError as exc:
        assert exc.reason.startswith("code-")
