"""The contract gas schedule in force for a block: prices and gas limits read from the
governance parameter table (names ``contract_<field>`` of `limits.GasSchedule`).

A passed proposal sets a value at the start of its activation block, before any transaction of
that block runs, so one read per block suffices: `schedule` remembers the last block state it
read (per thread: the chain thread and RPC calls each have their own). A state without the table
(a network started before contracts joined it, a throwaway state of a query) reads the network's
genesis values, or the default schedule when it has no network parameters.
"""

from __future__ import annotations

import threading
from dataclasses import fields

from coinium.contracts.limits import SCHEDULE, GasSchedule
from coinium.core.governance.table import ParamRecord
from coinium.core.state import NS_PARAM, BlockState

_FIELDS = tuple((f.name, f"contract_{f.name}".encode()) for f in fields(GasSchedule))


class _Last(threading.local):
    def __init__(self) -> None:
        # The state is held (not its id): an id could be reused by the next block's state.
        self.state: BlockState | None = None
        self.schedule: GasSchedule = SCHEDULE


_last = _Last()


def schedule(state: BlockState) -> GasSchedule:
    """The gas schedule of the block ``state`` applies."""
    last = _last
    if last.state is state:
        return last.schedule
    params = getattr(state.context, "params", None)
    genesis = SCHEDULE if params is None else params.contracts
    values = {}
    for name, key in _FIELDS:
        raw = state.peek(NS_PARAM, key)
        values[name] = getattr(genesis, name) if raw is None else ParamRecord.decode(raw).value
    found = GasSchedule(**values)
    last.state, last.schedule = state, found
    return found
