"""Running contract calls: one wasmtime store and instance per call, the host API, gas, and the
call's pending state, which lands only if the call succeeds.

Gas is the store's fuel. A call starts with the gas it was given; Wasm instructions burn fuel,
and each host call takes its price (`limits.GasSchedule` in force: `governed.schedule`) from the
same fuel before doing anything, so a call runs out of gas at exactly the same instruction or
host call on every node. A call that fails (out of gas, a trap, a revert, a non-zero status) is
charged all the gas it was given and its writes, coin movements and events are dropped with its
`Overlay`. A nested call gets the gas its caller passes down (at most what is left), and returns
what it did not use.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import wasmtime

from coinium.contracts import bridge, host_api, limits
from coinium.contracts.engine import ENGINE, ENGINE_POINTER, ModuleCache
from coinium.contracts.records import Instance, encode_event, event_key
from coinium.core.account import Account
from coinium.core.state import (
    NS_ACCOUNT,
    NS_CONTRACT,
    NS_CONTRACT_CODE,
    NS_CONTRACT_EVENT,
    NS_CONTRACT_STORAGE,  # fmt: skip
    BlockState,
)
from coinium.core.units import MAX_MONEY

_U64 = struct.Struct("<Q")
_MASK32 = 0xFFFFFFFF


class Overlay:
    """A call's pending writes over its parent's (another overlay, or the block's state)."""

    __slots__ = ("parent", "records", "balances", "events")

    def __init__(self, parent: Overlay | StateBase):
        self.parent = parent
        self.records: dict[tuple[int, bytes], bytes | None] = {}
        self.balances: dict[bytes, int] = {}
        self.events: list[tuple[bytes, bytes, bytes]] = []  # (contract, topic, data)

    def get(self, namespace: int, key: bytes) -> bytes | None:
        record = (namespace, key)
        if record in self.records:
            return self.records[record]
        return self.parent.get(namespace, key)

    def put(self, namespace: int, key: bytes, value: bytes | None) -> None:
        self.records[(namespace, key)] = value

    def balance(self, account: bytes) -> int:
        value = self.balances.get(account)
        return self.parent.balance(account) if value is None else value

    def move(self, source: bytes, target: bytes, amount: int) -> bool:
        """Move coins; False (nothing moved) if the source has too few or the target too many."""
        have = self.balance(source)
        if have < amount:
            return False
        if source != target:
            after = self.balance(target) + amount
            if after > MAX_MONEY:
                return False
            self.balances[source] = have - amount
            self.balances[target] = after
        return True

    def commit(self) -> None:
        parent = self.parent
        if isinstance(parent, Overlay):
            parent.records.update(self.records)
            parent.balances.update(self.balances)
            parent.events.extend(self.events)
        else:
            parent.commit(self)


class StateBase:
    """The bottom of the overlays: the block's working state (or a throwaway one for queries)."""

    __slots__ = ("state", "txid", "event_keys")

    def __init__(self, state: BlockState, txid: bytes = bytes(32)):
        self.state, self.txid = state, txid
        self.event_keys: list[bytes] = []  # the events its overlays committed, for the receipt

    def get(self, namespace: int, key: bytes) -> bytes | None:
        return self.state.peek(namespace, key)

    def balance(self, account: bytes) -> int:
        # Read without touching: an account only read must not become a record (an empty one).
        value = self.state.accounts.get(account)
        if value is not None:
            return value.balance
        raw = self.state.peek(NS_ACCOUNT, account)
        return 0 if raw is None else Account.decode(raw).balance

    def commit(self, overlay: Overlay) -> None:
        state = self.state
        for (namespace, key), value in overlay.records.items():
            state.put(namespace, key, value)
        for account, balance in overlay.balances.items():
            state.set_account(account, Account(balance, state.account(account).nonce))
        sequence = state.counters.get("contract_events", 0)
        for contract, topic, data in overlay.events:
            key = event_key(contract, state.context.height, sequence)
            state.put(NS_CONTRACT_EVENT, key, encode_event(self.txid, topic, data))
            self.event_keys.append(key)
            sequence += 1
        state.counters["contract_events"] = sequence


@dataclass(slots=True)
class CallResult:
    ok: bool
    gas_used: int
    reason: str = ""  # a reason code when not ok
    result: bytes = b""  # return data (set_return), or the revert message


_Abort = bridge.Stop  # raised by a host function to stop the call; the frame holds the reason


@dataclass(slots=True, eq=False)
class _Frame:
    execution: Execution
    prices: limits.GasSchedule
    overlay: Overlay
    contract: bytes
    caller: bytes
    coins: int
    message: bytes
    depth: int
    call: bridge.Call  # the store and instance: fuel and guest memory
    failure: str = ""
    return_data: bytes = b""
    last_return: bytes = b""
    events: int = 0
    revert_message: bytes = field(default=b"")


_STORE_LIMITS = bridge.Limits(memory_size=limits.MAX_MEMORY_PAGES * 65536,
                              table_elements=limits.MAX_TABLE_ELEMENTS, instances=1, tables=1,
                              memories=1)  # fmt: skip


class Execution:
    """One transaction's (or one query's) contract work: the block context and the gas
    schedule in force (`governed.schedule`)."""

    def __init__(self, height: int, time: int, prices: limits.GasSchedule,
                 readonly: bool = False):  # fmt: skip
        self.height, self.time, self.readonly, self.prices = height, time, readonly, prices

    def call(self, parent: Overlay | StateBase, contract: bytes, entry: str, caller: bytes,
             coins: int, message: bytes, gas: int, depth: int = 1) -> CallResult:
        """Run ``entry`` of ``contract``; its writes land in ``parent`` only if it succeeds."""
        if gas < self.prices.instantiate:
            return CallResult(False, gas, "out-of-gas")
        overlay = Overlay(parent)
        raw = overlay.get(NS_CONTRACT, contract)
        if raw is None:
            return CallResult(False, gas, "no-contract")
        code_hash = Instance.decode(raw).code_hash
        # A contract's code is in the state wherever the contract is (instantiate and migrate
        # check it), so a module compiled before needs no read of the code.
        prepared = _MODULES.cached(code_hash)
        if prepared is None:
            code = overlay.get(NS_CONTRACT_CODE, code_hash)
            if code is None:  # never: see above
                return CallResult(False, gas, "no-code")
            prepared = _MODULES.get(code_hash, code)
        if coins and not overlay.move(caller, contract, coins):
            return CallResult(False, gas, "insufficient-coins")
        run = bridge.Call(ENGINE_POINTER, _STORE_LIMITS, gas - self.prices.instantiate)
        frame = _Frame(self, self.prices, overlay, contract, caller, coins, message, depth, run)
        stack = bridge.RUNNING.stack
        stack.append(frame)
        try:
            status = self._run(run, prepared, frame, entry)
            left = run.get_fuel()
        finally:
            stack.pop()
            run.close()
        if frame.failure:
            return CallResult(False, gas, frame.failure, frame.revert_message)
        if status != 0:
            return CallResult(False, gas, "contract-error", str(status).encode())
        overlay.commit()
        return CallResult(True, gas - left, "", frame.return_data)

    @staticmethod
    def _run(run: bridge.Call, prepared: bridge.Prepared, frame: _Frame, entry: str) -> int:
        if entry not in prepared.entries:
            frame.failure = "no-entry-point"
            return -1
        if not run.start(prepared, entry):  # a limit (memory, table) or a data segment refused
            frame.failure = frame.failure or "trap"
            return -1
        status, out_of_fuel = run.run()
        if status is None:
            if not frame.failure:
                frame.failure = "out-of-gas" if out_of_fuel else "trap"
            return -1
        return status


# --- host functions -----------------------------------------------------------------------------
# Each takes the running frame (its `call` reads and sets the fuel and the guest memory) and the
# Wasm arguments; a failure raises `_fail`, which the bridge turns into a trap, and the frame
# keeps the reason.


def _fail(frame: _Frame, reason: str) -> _Abort:
    if not frame.failure:
        frame.failure = reason
    return _Abort(reason)


# A host call reads the fuel once (`_afford`: its base price, checked before it does anything)
# and sets it once (`_spend`: with what its arguments cost on top), so it runs out of gas at
# the same point as charging each part in turn would, with two C calls instead of four.
def _afford(frame: _Frame, amount: int) -> int:
    """The fuel left after ``amount`` (out-of-gas if the call has less); `_spend` sets it."""
    fuel = frame.call.get_fuel()
    if fuel < amount:
        frame.call.set_fuel(0)
        raise _fail(frame, "out-of-gas")
    return fuel - amount


def _spend(frame: _Frame, fuel: int, amount: int = 0) -> None:
    if fuel < amount:
        frame.call.set_fuel(0)
        raise _fail(frame, "out-of-gas")
    frame.call.set_fuel(fuel - amount)


def _charge(frame: _Frame, amount: int) -> None:
    _spend(frame, _afford(frame, amount))


def _read(frame: _Frame, pointer: int, length: int, cap: int) -> bytes:
    length &= _MASK32
    if length > cap:
        raise _fail(frame, "host-argument-too-large")
    data = frame.call.read(pointer & _MASK32, length)
    if data is None:
        raise _fail(frame, "memory-out-of-bounds")
    return data


def _write(frame: _Frame, pointer: int, data: bytes) -> None:
    if data and not frame.call.write(pointer & _MASK32, data):
        raise _fail(frame, "memory-out-of-bounds")


def _writable(frame: _Frame) -> None:
    if frame.execution.readonly:
        raise _fail(frame, "read-only")


def _input(frame, pointer, cap):
    e = frame.execution
    data = frame.caller + frame.contract + _U64.pack(e.height) + _U64.pack(e.time) \
        + _U64.pack(frame.coins) + frame.message
    cap &= _MASK32
    prices = frame.prices
    _charge(frame, prices.host_call + prices.per_byte_read * min(len(data), cap))
    _write(frame, pointer, data[:cap])
    return len(data)


def _storage_key(frame, pointer, length) -> bytes:
    key = _read(frame, pointer, length, limits.MAX_STORAGE_KEY)
    if not key:
        raise _fail(frame, "bad-storage-key")
    return frame.contract + key


def _storage_get(frame, key_ptr, key_len, value_ptr, cap):
    prices = frame.prices
    fuel = _afford(frame, prices.host_call + prices.storage_read)
    key = _storage_key(frame, key_ptr, key_len)
    value = frame.overlay.get(NS_CONTRACT_STORAGE, key)
    if value is None:
        _spend(frame, fuel)
        return -1
    part = value[:cap & _MASK32]
    _spend(frame, fuel, prices.per_byte_read * (len(key) + len(part)))
    _write(frame, value_ptr, part)
    return len(value)


def _storage_set(frame, key_ptr, key_len, value_ptr, value_len):
    _writable(frame)
    prices = frame.prices
    fuel = _afford(frame, prices.host_call + prices.storage_write)
    key = _storage_key(frame, key_ptr, key_len)
    value = _read(frame, value_ptr, value_len, limits.MAX_STORAGE_VALUE)
    _spend(frame, fuel, prices.per_byte_written * (len(key) + len(value)))
    frame.overlay.put(NS_CONTRACT_STORAGE, key, value)


def _storage_remove(frame, key_ptr, key_len):
    _writable(frame)
    _charge(frame, frame.prices.host_call + frame.prices.storage_write)
    frame.overlay.put(NS_CONTRACT_STORAGE, _storage_key(frame, key_ptr, key_len), None)


def _balance(frame, pointer):
    _charge(frame, frame.prices.host_call)
    return frame.overlay.balance(_read(frame, pointer, 20, 20))


def _send(frame, pointer, amount):
    _writable(frame)
    _charge(frame, frame.prices.host_call + frame.prices.send)
    target = _read(frame, pointer, 20, 20)
    if amount < 0:
        raise _fail(frame, "bad-amount")
    return 0 if frame.overlay.move(frame.contract, target, amount) else 1


def _emit(frame, topic_ptr, topic_len, data_ptr, data_len):
    _writable(frame)
    prices = frame.prices
    fuel = _afford(frame, prices.host_call + prices.event)
    topic = _read(frame, topic_ptr, topic_len, limits.MAX_EVENT_TOPIC)
    data = _read(frame, data_ptr, data_len, limits.MAX_EVENT_DATA)
    _spend(frame, fuel, prices.per_byte_written * (len(topic) + len(data)))
    frame.events += 1
    if frame.events > limits.MAX_EVENTS_PER_CALL:
        raise _fail(frame, "too-many-events")
    frame.overlay.events.append((frame.contract, topic, data))


def _call(frame, contract_ptr, msg_ptr, msg_len, coins, gas):
    prices = frame.prices
    fuel = _afford(frame, prices.host_call + prices.call)
    target = _read(frame, contract_ptr, 20, 20)
    message = _read(frame, msg_ptr, msg_len, limits.MAX_MESSAGE_SIZE)
    _spend(frame, fuel, prices.per_byte_read * len(message))
    execution = frame.execution
    frame.last_return = b""
    if coins < 0 or (coins and execution.readonly):
        raise _fail(frame, "bad-amount")
    if frame.depth >= limits.MAX_CALL_DEPTH:
        return host_api.CALL_TOO_DEEP
    fuel = frame.call.get_fuel()
    passed = min(max(gas, 0), fuel)
    frame.call.set_fuel(fuel - passed)
    entry = "query" if execution.readonly else "execute"
    result = execution.call(frame.overlay, target, entry, frame.contract, coins, message, passed,
                            frame.depth + 1)  # fmt: skip
    frame.call.set_fuel(frame.call.get_fuel() + passed - result.gas_used)
    frame.last_return = result.result
    if result.ok:
        return host_api.CALL_OK
    return {"no-contract": host_api.CALL_NO_CONTRACT,
            "insufficient-coins": host_api.CALL_INSUFFICIENT_COINS}.get(result.reason,
                                                                        host_api.CALL_FAILED)


def _return_data(frame, pointer, cap):
    data = frame.last_return
    part = data[:cap & _MASK32]
    _charge(frame, frame.prices.host_call + frame.prices.per_byte_read * len(part))
    _write(frame, pointer, part)
    return len(data)


def _set_return(frame, pointer, length):
    fuel = _afford(frame, frame.prices.host_call)
    data = _read(frame, pointer, length, limits.MAX_RETURN_SIZE)
    _spend(frame, fuel, frame.prices.per_byte_read * len(data))
    frame.return_data = data


def _revert(frame, pointer, length):
    _charge(frame, frame.prices.host_call)
    frame.revert_message = _read(frame, pointer, min(length & _MASK32, 255), 255)
    raise _fail(frame, "reverted")


_IMPLEMENTATIONS = {
    "input": _input, "storage_get": _storage_get, "storage_set": _storage_set,
    "storage_remove": _storage_remove, "balance": _balance, "send": _send, "emit": _emit,
    "call": _call, "return_data": _return_data, "set_return": _set_return, "revert": _revert,
}  # fmt: skip
assert _IMPLEMENTATIONS.keys() == host_api.HOST_FUNCTIONS.keys()


def _make_linker() -> wasmtime.Linker:
    """The host API, defined once: every module is linked against it (`bridge.Prepared`)."""
    linker = wasmtime.Linker(ENGINE)
    for name, function in _IMPLEMENTATIONS.items():
        spec = host_api.HOST_FUNCTIONS[name]
        bridge.define(linker, "env", name, spec.params, spec.results, function)
    return linker


_MODULES = ModuleCache(_make_linker())
