"""Contract calls through wasmtime's C API, below wasmtime-py's generic wrappers.

wasmtime-py builds Python objects for every store, instance, export and host-call argument;
with a token transfer worth a few microseconds of Wasm, those objects were most of its cost.
This bridge calls the C API (`wasmtime._bindings.dll`) with plain integer pointers instead:

- a module is linked once (`Prepared`: wasmtime's InstancePre, imports resolved), and each call
  instantiates it into a fresh store with one C call;
- a call's C-side scratch (the instance, the two exports, the result slot, the trap) is one
  ctypes structure (`_Space`), allocated once per call;
- host functions are defined with wasmtime's *unchecked* callback, one trampoline per function
  that unpacks exactly its arguments from the raw slots with one `struct` call;
- fuel and guest memory are read and written through the store's raw context pointer.

It relies on the C API of the pinned wasmtime version, like the rest of the VM.
"""

from __future__ import annotations

import ctypes
import struct
import threading
from collections.abc import Callable
from ctypes import c_bool, c_char_p, c_int32, c_int64, c_size_t, c_uint8, c_uint64, c_void_p

import wasmtime
from wasmtime import _bindings as ffi

I32, I64 = 0x7F, 0x7E
_TRAP_MESSAGE = b"coinium host call stopped the contract"
_OUT_OF_FUEL = wasmtime.TrapCode.OUT_OF_FUEL.value


class Stop(Exception):
    """Raised by a host function: the call ends with a trap (the frame holds the reason)."""


def _c(name: str, restype, *argtypes):  # type: ignore[no-untyped-def]
    """A C API function taking and returning plain integers (a new function object: the
    bindings' own, with typed pointers, stay as wasmtime-py set them)."""
    function = ffi.dll[name]
    function.restype, function.argtypes = restype, argtypes
    return function


P = c_void_p
_store_new = _c("wasmtime_store_new", P, P, P, P)
_store_context = _c("wasmtime_store_context", P, P)
_store_limiter = _c("wasmtime_store_limiter", None, P, c_int64, c_int64, c_int64, c_int64,
                    c_int64)  # fmt: skip
_store_delete = _c("wasmtime_store_delete", None, P)
_get_fuel = _c("wasmtime_context_get_fuel", P, P, P)
_set_fuel = _c("wasmtime_context_set_fuel", P, P, c_uint64)
_pre_instantiate = _c("wasmtime_instance_pre_instantiate", P, P, P, P, P)
_export_get = _c("wasmtime_instance_export_get", c_bool, P, P, c_char_p, c_size_t, P)
_func_call = _c("wasmtime_func_call_unchecked", P, P, P, P, c_size_t, P)
_trap_code = _c("wasmtime_trap_code", c_bool, P, P)
_trap_delete = _c("wasm_trap_delete", None, P)
_trap_new = _c("wasmtime_trap_new", P, c_char_p, c_size_t)
_error_delete = _c("wasmtime_error_delete", None, P)
_memory_base = _c("wasmtime_memory_data", P, P, P)
_memory_size = _c("wasmtime_memory_data_size", c_size_t, P, P)
_string_at = ctypes.string_at
_memmove = ctypes.memmove


# --- host functions -----------------------------------------------------------------------------
class _Running(threading.local):
    def __init__(self) -> None:
        self.stack: list[object] = []  # the calls running on this thread, innermost last
        self.error: BaseException | None = None  # a host function's bug, raised after the call


RUNNING = _Running()  # the VM pushes each call's frame; a host function gets the innermost
HostFunction = Callable[..., int | None]  # (frame, *arguments) -> result
_CALLBACK = ctypes.CFUNCTYPE(c_size_t, P, P, P, c_size_t)  # (env, caller, slots, count) -> trap
_FINALIZER = ctypes.CFUNCTYPE(None, P)
_define = _c("wasmtime_linker_define_func_unchecked", P, P, c_char_p, c_size_t, c_char_p,
             c_size_t, P, _CALLBACK, P, _FINALIZER)  # fmt: skip
_KEEP: list[object] = []  # the trampolines wasmtime calls: they must live as long as the process


@_FINALIZER
def _finalize(env):  # type: ignore[no-untyped-def]
    return None


def _trampoline(function: HostFunction, params: bytes, results: bytes):  # type: ignore[no-untyped-def]
    # Each Wasm value sits in a 16-byte slot (wasmtime_val_raw_t), little endian.
    unpack = struct.Struct("<" + "".join("i12x" if p == I32 else "q8x" for p in params)).unpack
    size = 16 * len(params)
    result = None if not results else c_int32 if results[0] == I32 else c_int64

    running = RUNNING

    def call(env, caller, slots, count):  # type: ignore[no-untyped-def]
        try:
            value = function(running.stack[-1], *unpack(_string_at(slots, size)))
            if result is not None:
                result.from_address(slots).value = value
            return 0
        except Stop:
            return _trap_new(_TRAP_MESSAGE, len(_TRAP_MESSAGE))
        except BaseException as exc:  # a bug: it must not become a receipt (consensus), so
            running.error = exc  # the call stops here and `Call.run` raises it
            return _trap_new(_TRAP_MESSAGE, len(_TRAP_MESSAGE))

    return _CALLBACK(call)


def define(linker: wasmtime.Linker, module: str, name: str, params: bytes, results: bytes,
           function: HostFunction) -> None:  # fmt: skip
    """Define ``module.name`` in ``linker`` as ``function(frame, *arguments)``, where ``frame``
    is the innermost of `RUNNING.stack` on the calling thread: the frame of the call whose Wasm
    called the host (its `Call` is that store's, so `Call.get_fuel` and friends act on it)."""
    kinds = {I32: wasmtime.ValType.i32(), I64: wasmtime.ValType.i64()}
    ty = wasmtime.FuncType([kinds[p] for p in params], [kinds[r] for r in results])
    trampoline = _trampoline(function, params, results)
    _KEEP.append(trampoline)
    module_bytes, name_bytes = module.encode(), name.encode()
    error = _define(ctypes.cast(linker.ptr(), P), module_bytes, len(module_bytes), name_bytes,
                    len(name_bytes), ctypes.cast(ty.ptr(), P), trampoline, None, _finalize)
    if error:
        raise wasmtime.WasmtimeError._from_ptr(ctypes.cast(error, ctypes.POINTER(
            ffi.wasmtime_error_t)))  # fmt: skip


# --- linking once, calling many times -----------------------------------------------------------
def entry_points(module: wasmtime.Module, names: tuple[str, ...]) -> frozenset[str]:
    """The names among ``names`` that ``module`` exports as functions of type () -> i32 (only
    those may be called through `Call.run`, which does not check the type)."""
    found = set()
    for export in module.exports:
        ty = export.type
        if export.name in names and isinstance(ty, wasmtime.FuncType) and not ty.params \
                and [str(r) for r in ty.results] == ["i32"]:
            found.add(export.name)
    return frozenset(found)


class _Space(ctypes.Structure):
    """The C-side scratch of one call."""

    _fields_ = [("instance", ffi.wasmtime_instance_t), ("memory", ffi.wasmtime_extern_t),
                ("entry", ffi.wasmtime_extern_t), ("slot", ffi.wasmtime_val_raw_t),
                ("trap", c_void_p), ("fuel", c_uint64), ("code", c_uint8)]  # fmt: skip


_EXTERN_OF = ffi.wasmtime_extern_t.of.offset
_EXTERN_FUNC, _EXTERN_MEMORY = 0, 3  # wasmtime_extern_kind_t (wasmtime/extern.h)
_OFFSETS = {name: getattr(_Space, name).offset for name, _ in _Space._fields_}
_ENTRY_NAMES: dict[str, bytes] = {}  # entry point name -> its bytes


class Limits:
    """A store's resource limits (`wasmtime_store_limiter`)."""

    def __init__(self, memory_size: int, table_elements: int, instances: int, tables: int,
                 memories: int):  # fmt: skip
        self.args = (memory_size, table_elements, instances, tables, memories)


class Call:
    """One call's store and instance: `start` instantiates, `run` calls an entry point, and
    meanwhile host functions read and set its fuel and guest memory; `close` deletes the store
    (always call it).

    The context is the store's (`wasmtime_store_context`); a host function called by this
    store's Wasm gets the very same pointer from `wasmtime_caller_context`, so it is kept once
    instead of asked for on every host call."""

    __slots__ = ("space", "base", "store", "context", "memory", "memory_base", "fuel_address")

    def __init__(self, engine: int, limits: Limits, fuel: int):
        self.space = _Space()
        self.base = base = ctypes.addressof(self.space)
        self.store = _store_new(engine, None, None)
        self.context = _store_context(self.store)
        _store_limiter(self.store, *limits.args)
        _set_fuel(self.context, fuel)
        self.memory = base + _OFFSETS["memory"] + _EXTERN_OF
        self.memory_base = 0
        self.fuel_address = base + _OFFSETS["fuel"]

    def start(self, prepared: Prepared, entry: str) -> bool:
        """Instantiate the module; False if that failed (a limit, a data segment out of
        bounds) or it lacks a ``memory`` export that is a memory or ``entry`` as a function."""
        base, context, space = self.base, self.context, self.space
        error = _pre_instantiate(prepared.pre, context, base + _OFFSETS["instance"],
                                 base + _OFFSETS["trap"])  # fmt: skip
        if error:
            _error_delete(error)
            return False
        if space.trap:
            _trap_delete(space.trap)
            space.trap = None
            return False
        instance = base + _OFFSETS["instance"]
        name = _ENTRY_NAMES.get(entry) or _ENTRY_NAMES.setdefault(entry, entry.encode())
        # (The static check and `entry_points` already ensure both; the kinds are checked
        # anyway, as the C API would read a function as a memory without complaint.)
        if not (_export_get(context, instance, b"memory", 6, base + _OFFSETS["memory"])
                and _export_get(context, instance, name, len(name), base + _OFFSETS["entry"])
                and space.memory.kind == _EXTERN_MEMORY and space.entry.kind == _EXTERN_FUNC):
            return False
        # The memory never moves (`memory_may_move` is off and the reservation holds the
        # largest memory: engine.py), so its address holds for the whole call.
        self.memory_base = _memory_base(context, self.memory)
        return True

    def run(self) -> tuple[int | None, bool]:
        """Call the entry point `start` found (type () -> i32 per `entry_points`): (its result,
        or None if it trapped; whether out of fuel). An exception other than `Stop` in a host
        function (a bug) is raised here: it must stop the block, not become its receipt."""
        base, space = self.base, self.space
        error = _func_call(self.context, base + _OFFSETS["entry"] + _EXTERN_OF,
                           base + _OFFSETS["slot"], 1, base + _OFFSETS["trap"])  # fmt: skip
        bug = RUNNING.error
        if bug is not None:
            RUNNING.error = None
            if space.trap:
                _trap_delete(space.trap)
                space.trap = None
            if error:
                _error_delete(error)
            raise bug
        if error:
            _error_delete(error)
            return None, False
        trap = space.trap
        if trap:
            out_of_fuel = _trap_code(trap, base + _OFFSETS["code"]) \
                and space.code == _OUT_OF_FUEL
            _trap_delete(trap)
            space.trap = None
            return None, out_of_fuel
        return space.slot.i32, False

    # --- for host functions (and the caller, after `run`) ---
    def get_fuel(self) -> int:
        _get_fuel(self.context, self.fuel_address)  # cannot fail: the engine meters fuel
        return self.space.fuel

    def set_fuel(self, value: int) -> None:
        _set_fuel(self.context, value)  # cannot fail: the engine meters fuel

    def read(self, pointer: int, length: int) -> bytes | None:
        """``length`` bytes of guest memory from ``pointer``; None unless all inside it."""
        if pointer + length > _memory_size(self.context, self.memory):
            return None
        return _string_at(self.memory_base + pointer, length)

    def write(self, pointer: int, data: bytes) -> bool:
        if pointer + len(data) > _memory_size(self.context, self.memory):
            return False
        _memmove(self.memory_base + pointer, data, len(data))
        return True

    def close(self) -> None:
        if self.store:
            _store_delete(self.store)
            self.store = self.context = None


class Prepared:
    """A module linked against the host functions once (wasmtime's InstancePre): instantiating
    it skips resolving imports. Shared by every thread (wasmtime's InstancePre is)."""

    __slots__ = ("module", "entries", "_pre", "pre")

    def __init__(self, linker: wasmtime.Linker, module: wasmtime.Module, names: tuple[str, ...]):
        self.module = module
        self.entries = entry_points(module, names)
        self._pre = linker.instantiate_pre(module)  # owns the C object
        self.pre = ctypes.cast(self._pre.ptr(), P).value


def engine_pointer(engine: wasmtime.Engine) -> int:
    return ctypes.cast(engine.ptr(), P).value
