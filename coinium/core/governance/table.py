"""The typed parameter table: every governed consensus value is one record in namespace 0x30,
seeded at genesis from `coinium.core.params` and changed only by a passed proposal.

    0x30 | name (ascii) -> type u8 | min u64 | max u64 | max step bp u16 | min step u64 |
                           value u64 | count u8 | (height u32 | value u64) x count

The history lists the value each activation set (the genesis seed first), newest last; it keeps
the latest `MAX_HISTORY`. A proposal may set a value inside ``[min, max]`` that differs from the
current one by at most ``max(value * step_bp / 10,000, min step)``: a chain never moves a rule
far in one vote, and no value outside the bounds can ever be reached. Rules read a value with
`value(state, NAME)` at the block's height: an activation happens at the start of its block,
before any rule of that block reads the table.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from coinium.contracts.limits import MAX_BLOCK_GAS, MAX_TX_GAS, MIN_GAS_PRICE_MILLI
from coinium.core.codec import Reader
from coinium.core.state import NS_PARAM
from coinium.core.units import COIN, MAX_MONEY

COUNT, BLOCKS, BASIS_POINTS, UNITS, GAS = 0, 1, 2, 3, 4
TYPE_NAMES = {COUNT: "count", BLOCKS: "blocks", BASIS_POINTS: "basis_points", UNITS: "units",
              GAS: "gas"}  # fmt: skip
MAX_HISTORY = 64


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One governed value: its number in proposals, its record key, its type, hard bounds, the
    largest step one proposal may take, and where its genesis value comes from."""

    number: int
    name: str
    type: int
    min: int
    max: int
    step_bp: int
    min_step: int
    genesis: Callable[[object], int]  # NetworkParams -> the value seeded at genesis


def _staking(field: str) -> Callable[[object], int]:
    return lambda params: getattr(params.staking, field)


def _governance(field: str) -> Callable[[object], int]:
    return lambda params: getattr(params.governance, field)


def _contract(number: int, field: str, low: int, high: int, kind: int = GAS,
              min_step: int = 1) -> ParamSpec:  # fmt: skip
    """A value of the contract gas schedule (`coinium.contracts.limits.GasSchedule`), named
    ``contract_<field>``; ``governed.schedule`` reads them all for a block."""
    return ParamSpec(number, f"contract_{field}", kind, low, high, 5_000, min_step,
                     lambda params: getattr(params.contracts, field))


# The numbers are consensus (proposals carry them): append, never renumber.
SPECS: tuple[ParamSpec, ...] = (
    ParamSpec(0, "unbonding_period", BLOCKS, 1, 1_000_000, 5_000, 1, _staking("unbonding_period")),
    ParamSpec(1, "reward_share_bp", BASIS_POINTS, 0, 5_000, 5_000, 100,
              _staking("reward_share_bp")),
    ParamSpec(2, "min_validator_bond", UNITS, 1, 1_000_000 * COIN, 5_000, COIN // 100,
              _staking("min_validator_bond")),
    ParamSpec(3, "max_unbonding_entries", COUNT, 1, 32, 5_000, 1,
              _staking("max_unbonding_entries")),
    ParamSpec(4, "slash_double_bp", BASIS_POINTS, 100, 10_000, 5_000, 100,
              _staking("slash_double_bp")),
    ParamSpec(5, "slash_surround_bp", BASIS_POINTS, 100, 10_000, 5_000, 100,
              _staking("slash_surround_bp")),
    ParamSpec(6, "reporter_reward_bp", BASIS_POINTS, 0, 5_000, 5_000, 100,
              _staking("reporter_reward_bp")),
    ParamSpec(7, "inactivity_epochs", COUNT, 2, 64, 5_000, 1, _staking("inactivity_epochs")),
    ParamSpec(8, "gov_min_deposit", UNITS, COIN // 100, 1_000_000 * COIN, 5_000, COIN // 100,
              _governance("min_deposit")),
    ParamSpec(9, "gov_deposit_period", BLOCKS, 2, 1_000_000, 5_000, 1,
              _governance("deposit_period")),
    ParamSpec(10, "gov_voting_period", BLOCKS, 2, 1_000_000, 5_000, 1,
              _governance("voting_period")),
    ParamSpec(11, "gov_quorum_bp", BASIS_POINTS, 1_000, 10_000, 5_000, 100,
              _governance("quorum_bp")),
    ParamSpec(12, "gov_threshold_bp", BASIS_POINTS, 5_000, 9_000, 5_000, 100,
              _governance("threshold_bp")),
    ParamSpec(13, "gov_veto_bp", BASIS_POINTS, 1_000, 5_000, 5_000, 100,
              _governance("veto_bp")),
    ParamSpec(14, "gov_timelock_checkpoints", COUNT, 1, 100, 5_000, 1,
              _governance("timelock_checkpoints")),
    # The contract gas schedule: host-call prices within 1/10 .. 100x of genesis (calibrated
    # from measured time: bench/test_bench_contracts.py); gas limits only below the hard caps.
    _contract(15, "host_call", 5_000, 5_000_000),
    _contract(16, "per_byte_read", 1, 1_000),
    _contract(17, "per_byte_written", 100, 100_000),
    _contract(18, "storage_read", 3_000, 3_000_000),
    _contract(19, "storage_write", 10_000, 10_000_000),
    _contract(20, "event", 5_000, 5_000_000),
    _contract(21, "send", 5_000, 5_000_000),
    _contract(22, "call", 50_000, 50_000_000),
    _contract(23, "instantiate", 50_000, 50_000_000),
    _contract(24, "upload_per_byte", 200, 200_000),
    _contract(25, "max_tx_gas", 10_000_000, MAX_TX_GAS, min_step=1_000_000),
    _contract(26, "max_block_gas", 100_000_000, MAX_BLOCK_GAS, min_step=1_000_000),
    _contract(27, "min_gas_price_milli", MIN_GAS_PRICE_MILLI, 1_000_000, kind=UNITS),
)  # fmt: skip
BY_NUMBER = {spec.number: spec for spec in SPECS}
BY_NAME = {spec.name: spec for spec in SPECS}
assert len(BY_NUMBER) == len(BY_NAME) == len(SPECS)
assert all(0 <= s.min <= s.max <= MAX_MONEY for s in SPECS)


@dataclass(frozen=True, slots=True)
class ParamRecord:
    type: int
    min: int
    max: int
    step_bp: int
    min_step: int
    value: int
    history: tuple[tuple[int, int], ...]  # (activation height, value), oldest first

    _HEAD = struct.Struct("<BQQHQQ")
    _ENTRY = struct.Struct("<IQ")

    def max_step(self) -> int:
        return max(self.value * self.step_bp // 10_000, self.min_step)

    def allows(self, new: int) -> str | None:
        """Why a proposal may not set ``new`` (None: it may)."""
        if not self.min <= new <= self.max:
            return f"outside its bounds [{self.min}, {self.max}]"
        if abs(new - self.value) > self.max_step():
            return f"moves {abs(new - self.value)} from {self.value}, at most {self.max_step()}"
        return None

    def encode(self) -> bytes:
        return b"".join((self._HEAD.pack(self.type, self.min, self.max, self.step_bp,
                                         self.min_step, self.value),
                         bytes((len(self.history),)),
                         *(self._ENTRY.pack(*entry) for entry in self.history)))  # fmt: skip

    @classmethod
    def decode(cls, data: bytes) -> ParamRecord:
        r = Reader(bytes(data), "param")
        head = cls._HEAD.unpack(r.fixed(cls._HEAD.size, "head"))
        history = tuple(cls._ENTRY.unpack(r.fixed(cls._ENTRY.size, "history"))
                        for _ in range(r.u8("count")))  # fmt: skip
        r.finish()
        return cls(*head, history)

    def set(self, height: int, value: int) -> ParamRecord:
        history = (*self.history, (height, value))[-MAX_HISTORY:]
        return ParamRecord(self.type, self.min, self.max, self.step_bp, self.min_step, value,
                           history)  # fmt: skip


def genesis_record(spec: ParamSpec, params) -> ParamRecord:
    value = spec.genesis(params)
    if not spec.min <= value <= spec.max:
        raise ValueError(f"{params.name}: {spec.name} = {value} outside [{spec.min}, {spec.max}]")
    return ParamRecord(spec.type, spec.min, spec.max, spec.step_bp, spec.min_step, value,
                       ((0, value),))  # fmt: skip


def seed(state) -> None:
    """At genesis: one record per governed value, from the network's parameters."""
    for spec in SPECS:
        state.put(NS_PARAM, spec.name.encode(), genesis_record(spec, state.context.params).encode())


def record(state, name: str) -> ParamRecord:
    """A parameter's record in the state the block applies to (the genesis record when the
    state has no table, as `value`)."""
    raw = state.peek(NS_PARAM, name.encode())
    if raw is None:
        return genesis_record(BY_NAME[name], state.context.params)
    return ParamRecord.decode(raw)


def value(state, name: str) -> int:
    """A governed value at the block ``state`` applies (read without an undo entry). A state
    without the table (built by hand, not from a genesis) reads the network's genesis value."""
    raw = state.peek(NS_PARAM, name.encode())
    if raw is None:
        return BY_NAME[name].genesis(state.context.params)
    return ParamRecord.decode(raw).value
