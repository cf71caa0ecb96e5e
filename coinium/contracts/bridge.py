"""The host functions' bridge into wasmtime's C API, below wasmtime-py's generic wrappers.

wasmtime-py calls a Python host function through a trampoline that rebuilds every parameter's
type and value objects on each call; with a host call priced against ~200,000 instructions of
Wasm, that overhead is the price. This bridge defines the host functions with wasmtime's
*unchecked* callback (the arguments arrive as raw 64-bit slots, the result goes back in the
first), reads the store's fuel and the guest's memory through the raw context pointer, and
answers a failure with a trap. It relies on `wasmtime._bindings` (the C API as ctypes), so it is
tied to the pinned wasmtime version like the rest of the VM.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

import wasmtime
from wasmtime import _bindings as ffi

I32, I64 = 0x7F, 0x7E
_TRAP_MESSAGE = b"coinium host call stopped the contract"


class Stop(Exception):
    """Raised by a host function: the call ends with a trap (the frame holds the reason)."""


Context = Any  # ctypes pointer to wasmtime_context_t

# The guest memory's base address as a plain integer (wasmtime-py's binding returns a typed
# pointer, which costs a ctypes cast per access); a separate function object of the same symbol.
_memory_base = ffi.dll["wasmtime_memory_data"]
_memory_base.restype = ctypes.c_void_p
_memory_base.argtypes = ffi._wasmtime_memory_data.argtypes
_memory_size = ffi._wasmtime_memory_data_size


_get_fuel = ffi._wasmtime_context_get_fuel
_set_fuel = ffi._wasmtime_context_set_fuel


def get_fuel(context: Context) -> int:
    fuel = ctypes.c_uint64()  # per call: contracts may run on more than one thread
    _get_fuel(context, ctypes.byref(fuel))  # cannot fail: the engine meters fuel
    return fuel.value


def set_fuel(context: Context, value: int) -> None:
    _set_fuel(context, value)  # cannot fail: the engine meters fuel


def memory_handle(memory: wasmtime.Memory) -> Any:
    """What `memory_read`/`memory_write` take for one instance's memory."""
    return ctypes.byref(memory._memory)


def memory_read(context: Context, memory: Any, pointer: int, length: int) -> bytes | None:
    """``length`` bytes from ``pointer``, or None if they are not all inside the memory."""
    if pointer + length > _memory_size(context, memory):
        return None
    return ctypes.string_at(_memory_base(context, memory) + pointer, length)


def memory_write(context: Context, memory: Any, pointer: int, data: bytes) -> bool:
    if pointer + len(data) > _memory_size(context, memory):
        return False
    ctypes.memmove(_memory_base(context, memory) + pointer, data, len(data))
    return True


HostFunction = Callable[..., int | None]  # (context, *arguments) -> result
_FUNCTIONS: list[tuple[HostFunction, bytes, bytes]] = []


@ffi.wasmtime_func_unchecked_callback_t
def _trampoline(env, caller, slots, count):  # type: ignore[no-untyped-def]
    try:
        function, params, results = _FUNCTIONS[env or 0]
        context = ffi.wasmtime_caller_context(caller)
        arguments = [slots[i].i32 if kind == I32 else slots[i].i64
                     for i, kind in enumerate(params)]  # fmt: skip
        value = function(context, *arguments)
        if results:
            if results[0] == I32:
                slots[0].i32 = value
            else:
                slots[0].i64 = value
        return 0
    except BaseException:  # Stop, or a bug: never let an exception cross into C
        trap = ffi.wasmtime_trap_new(_TRAP_MESSAGE, len(_TRAP_MESSAGE))
        return ctypes.cast(trap, ctypes.c_void_p).value


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)
def _finalize(env):  # type: ignore[no-untyped-def]
    return None


def define(linker: wasmtime.Linker, module: str, name: str, params: bytes, results: bytes,
           function: HostFunction) -> None:  # fmt: skip
    """Define ``module.name`` in ``linker`` as ``function(context, *arguments)``."""
    kinds = {I32: wasmtime.ValType.i32(), I64: wasmtime.ValType.i64()}
    ty = wasmtime.FuncType([kinds[p] for p in params], [kinds[r] for r in results])
    _FUNCTIONS.append((function, params, results))
    module_bytes, name_bytes = module.encode(), name.encode()
    error = ffi.wasmtime_linker_define_func_unchecked(
        linker.ptr(), ctypes.create_string_buffer(module_bytes), len(module_bytes),
        ctypes.create_string_buffer(name_bytes), len(name_bytes), ty.ptr(), _trampoline,
        len(_FUNCTIONS) - 1, _finalize)  # fmt: skip
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)


# --- calling an entry point --------------------------------------------------------------------
_OUT_OF_FUEL = wasmtime.TrapCode.OUT_OF_FUEL.value


def entry_points(module: wasmtime.Module, names: tuple[str, ...]) -> frozenset[str]:
    """The names among ``names`` that ``module`` exports as functions of type () -> i32 (only
    those may be called through `call_entry`, which does not check the type)."""
    found = set()
    for export in module.exports:
        ty = export.type
        if export.name in names and isinstance(ty, wasmtime.FuncType) and not ty.params \
                and [str(r) for r in ty.results] == ["i32"]:
            found.add(export.name)
    return frozenset(found)


def call_entry(store: wasmtime.Store, function: wasmtime.Func) -> tuple[int | None, bool]:
    """Call a () -> i32 export: (its result, or None if it trapped; whether out of fuel)."""
    slots = (ffi.wasmtime_val_raw_t * 1)()
    trap = ctypes.POINTER(ffi.wasm_trap_t)()
    error = ffi.wasmtime_func_call_unchecked(store._context(), ctypes.byref(function._func),
                                             slots, 1, ctypes.byref(trap))  # fmt: skip
    if error:
        ffi.wasmtime_error_delete(error)
        return None, False
    if trap:
        code = ffi.wasmtime_trap_code_t()
        out_of_fuel = bool(ffi.wasmtime_trap_code(trap, ctypes.byref(code))) \
            and code.value == _OUT_OF_FUEL
        ffi.wasm_trap_delete(trap)
        return None, out_of_fuel
    return slots[0].i32, False
