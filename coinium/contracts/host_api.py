"""The host API a contract may import (module ``env``): each function's name and Wasm signature.

The static check (`validate.py`) refuses any other import, or one of these with another
signature; `vm.py` implements them and charges their prices (`limits.GasSchedule`, governed).
The API is coarse on purpose: a host call costs as much time as ~30,000-40,000 instructions of
plain Wasm, so one call hands the contract its whole environment and message (`input`), and
values move whole.
docs/CONTRACTS.md documents each function.
"""

from __future__ import annotations

from dataclasses import dataclass

I32, I64 = 0x7F, 0x7E


@dataclass(frozen=True, slots=True)
class HostFunction:
    name: str
    params: bytes  # Wasm value types
    results: bytes

    @property
    def signature(self) -> tuple[bytes, bytes]:
        return self.params, self.results


def _fn(name: str, params: str, results: str) -> HostFunction:
    codes = {"i": I32, "I": I64}
    return HostFunction(name, bytes(codes[c] for c in params), bytes(codes[c] for c in results))


HOST_FUNCTIONS = {f.name: f for f in (
    _fn("input", "ii", "i"),  # (ptr, cap) -> length of env | message; copies min(length, cap)
    _fn("storage_get", "iiii", "i"),  # (key ptr, key len, value ptr, cap) -> length | -1 absent
    _fn("storage_set", "iiii", ""),  # (key ptr, key len, value ptr, value len)
    _fn("storage_remove", "ii", ""),  # (key ptr, key len)
    _fn("balance", "i", "I"),  # (account id ptr) -> base units
    _fn("send", "iI", "i"),  # (account id ptr, amount) -> 0 sent | 1 insufficient coins
    _fn("emit", "iiii", ""),  # (topic ptr, topic len, data ptr, data len)
    _fn("call", "iiiII", "i"),  # (contract ptr, msg ptr, msg len, coins, gas) -> status
    _fn("return_data", "ii", "i"),  # (ptr, cap) -> length of the last call's return data
    _fn("set_return", "ii", ""),  # (ptr, len): this call's return data
    _fn("revert", "ii", ""),  # (ptr, len): fail with this message; never returns
)}  # fmt: skip

# The environment `input` writes before the message: caller 20 | contract 20 | height u64 |
# time u64 | attached coins u64 (little endian), then the message.
ENV_SIZE = 20 + 20 + 8 + 8 + 8

# Status codes `call` returns to the calling contract.
CALL_OK, CALL_FAILED, CALL_TOO_DEEP, CALL_NO_CONTRACT, CALL_INSUFFICIENT_COINS = range(5)

ENTRY_POINTS = ("instantiate", "execute", "query", "migrate")  # () -> i32, 0 = success
