"""The one wasmtime engine every contract runs on, configured for determinism, and the cache of
compiled modules.

The configuration is consensus: fuel metering on (gas), every proposal that is not the integer
MVP off (`_PROPOSALS_OFF`), NaN canonicalization on (belt and braces: the
static check refuses floats anyway), a fixed Wasm stack (deep recursion traps), traps by explicit
checks. The wasmtime version is pinned in pyproject.toml; a new
version may charge different fuel for the same code, so upgrading it is a consensus change, made
at a flag height like any fork (docs/CONTRACTS.md).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from importlib import metadata

import wasmtime
from wasmtime import _bindings as ffi

from coinium.contracts import bridge, limits
from coinium.contracts.host_api import ENTRY_POINTS

WASMTIME_VERSION = "50.0.1"  # the consensus version, as pinned in pyproject.toml
_CACHE_SIZE = 256


# Proposals the static check refuses, turned off in the engine too (a second line of defence).
# Floats cannot be turned off in wasmtime (the static check alone refuses them), nor can
# extended constant expressions or sign extension (the static check refuses the first and allows
# the second: it is deterministic); docs/CONTRACTS.md lists these.
_PROPOSALS_OFF = ("wasm_simd", "wasm_relaxed_simd", "wasm_threads", "wasm_bulk_memory",
                  "wasm_reference_types", "wasm_multi_memory", "wasm_memory64",
                  "wasm_tail_call", "wasm_function_references", "wasm_gc", "wasm_exceptions",
                  "wasm_multi_value", "wasm_wide_arithmetic", "wasm_custom_page_sizes",
                  "wasm_stack_switching", "wasm_component_model")  # fmt: skip
# Component-model features wasmtime-py's Config does not expose; component-model-async needs
# reference types, so it must be off before reference types can be (the engine refuses to start
# otherwise). Contracts are core modules: nothing of the component model is used.
_C_API_OFF = ("wasm_component_model_async", "wasm_component_model_async_stackful",
              "wasm_component_model_more_async_builtins")  # fmt: skip


def _config() -> wasmtime.Config:
    config = wasmtime.Config()
    config.consume_fuel = True
    for feature in _C_API_OFF:
        getattr(ffi, f"wasmtime_config_{feature}_set")(config.ptr(), False)
    # (Write-only properties: set them directly, never behind hasattr.)
    for proposal in _PROPOSALS_OFF:
        setattr(config, proposal, False)
    config.gc_support = False  # no GC heap: nothing without reference types could use one
    config.cranelift_nan_canonicalization = True
    # Traps by explicit checks, not by signal handlers: a process that installs its own SIGILL
    # or SIGSEGV handler after wasmtime (Python's faulthandler does) would otherwise die on
    # the first out-of-bounds access or stack overflow instead of getting a trap.
    config.signals_based_traps = False
    config.max_wasm_stack = limits.MAX_WASM_STACK
    # Memory: reserve exactly the largest memory a contract may have, never move it (host calls
    # keep its address for the whole call), no guard pages (without signal-based traps every
    # access is bounds-checked in code anyway). Faster to map and unmap per call; no effect on
    # what a contract computes or the fuel it burns.
    config.memory_reservation = limits.MAX_MEMORY_PAGES * 65536
    config.memory_reservation_for_growth = 0
    config.memory_guard_size = 0
    config.memory_may_move = False
    config.parallel_compilation = False
    return config


def installed_version() -> str:
    return metadata.version("wasmtime")


if installed_version() != WASMTIME_VERSION:  # another version may meter gas differently: a fork
    raise RuntimeError(f"wasmtime {installed_version()} is installed; contracts need exactly "
                       f"{WASMTIME_VERSION} (pip install wasmtime=={WASMTIME_VERSION})")

ENGINE = wasmtime.Engine(_config())


ENGINE_POINTER = bridge.engine_pointer(ENGINE)


class ModuleCache:
    """Modules compiled and linked (`bridge.Prepared`) by code hash: compiling is milliseconds,
    linking tens of microseconds, instantiating a prepared module a few."""

    def __init__(self, linker: wasmtime.Linker, size: int = _CACHE_SIZE):
        self._linker = linker
        self._modules: OrderedDict[bytes, bridge.Prepared] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def cached(self, code_hash: bytes) -> bridge.Prepared | None:
        with self._lock:
            found = self._modules.get(code_hash)
            if found is not None:
                self._modules.move_to_end(code_hash)
            return found

    def get(self, code_hash: bytes, code: bytes) -> bridge.Prepared:
        with self._lock:
            found = self._modules.get(code_hash)
            if found is not None:
                self._modules.move_to_end(code_hash)
                return found
        found = bridge.Prepared(self._linker, wasmtime.Module(ENGINE, code), ENTRY_POINTS)
        with self._lock:
            self._modules[code_hash] = found
            while len(self._modules) > self._size:
                self._modules.popitem(last=False)
        return found


def compile_check(code: bytes) -> None:
    """wasmtime's own validation under the consensus configuration (WasmtimeError if refused)."""
    wasmtime.Module.validate(ENGINE, code)
