"""Consensus parameters of the contract VM: the gas schedule (prices and gas limits) and the
hard limits.

The gas schedule is governed: `GasSchedule` holds each value's genesis default (the network's
`NetworkParams.contracts`), the governance parameter table (coinium/core/governance/table.py,
names `contract_<field>`) holds the value in force, and `governed.schedule(state)` reads it for
the block being applied, so a passed proposal changes a price at its activation height on every
node. The hard limits below are fixed: changing one is a fork, like changing the wasmtime version
(docs/CONTRACTS.md).

Gas is wasmtime fuel (about one unit per Wasm instruction) plus a price for each host call,
set from measured time: a block full of host calls then takes no longer than a block of plain
Wasm of the same gas.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_TX_GAS = 2_000_000_000  # hard cap on a transaction's gas limit (stateless check, mempool)
MAX_BLOCK_GAS = 20_000_000_000  # hard cap on a block's summed gas limits (~2 s of execution)
MIN_GAS_PRICE_MILLI = 1  # the floor of the governed minimum gas price


@dataclass(frozen=True, slots=True)
class GasSchedule:
    # Calibrated with bench/test_bench_contracts.py: 1M fuel of plain Wasm ~ 115-140 us and a
    # host call ~ 3-5 us (~30,000-42,000 fuel) on the reference machine; each price rounds the
    # measured cost up, and what a host call does beyond the call (an LMDB read, a record that
    # the state tree and the disk must carry) is priced on top.
    host_call: int = 50_000  # every host call, on top of what it does
    per_byte_read: int = 10  # each byte a host call copies between the host and the guest
    per_byte_written: int = 1_000  # each byte of key and value stored, or of an event
    storage_read: int = 30_000  # a storage read that may reach LMDB
    storage_write: int = 100_000  # a storage write or removal (a state tree leaf, undo, disk)
    event: int = 50_000  # an event, plus per_byte_written for its bytes
    send: int = 50_000  # a coin transfer from the contract (two account records)
    call: int = 500_000  # a call into another contract (a new store and instance)
    instantiate: int = 500_000  # the store and instance of the transaction's own call
    upload_per_byte: int = 2_000  # validating, compiling and storing code, per byte
    # Limits (governance may lower them below the hard caps above, never raise them past):
    max_tx_gas: int = MAX_TX_GAS  # the most gas one transaction may ask for
    max_block_gas: int = MAX_BLOCK_GAS  # the sum of gas limits of a block's contract txs
    min_gas_price_milli: int = MIN_GAS_PRICE_MILLI  # base units per 1,000 gas (fee floor)


SCHEDULE = GasSchedule()  # the genesis schedule of every network

MAX_CODE_SIZE = 256 * 1024  # bytes of Wasm in one upload
MAX_MESSAGE_SIZE = 64 * 1024  # an instantiate/execute/migrate message
MAX_MEMORY_PAGES = 16  # 64 KiB pages: 1 MiB of linear memory per instance
MAX_TABLE_ELEMENTS = 1024
MAX_FUNCTIONS = 4096
MAX_CALL_DEPTH = 8  # the transaction's own call is depth 1
MAX_WASM_STACK = 512 * 1024  # bytes of native stack for Wasm frames: deep recursion traps
MAX_STORAGE_KEY = 200  # bytes; the record key is contract id (20) | key, under the 255 cap
MAX_STORAGE_VALUE = 16 * 1024
MAX_EVENT_TOPIC = 64
MAX_EVENT_DATA = 4 * 1024
MAX_EVENTS_PER_CALL = 64
MAX_RETURN_SIZE = 16 * 1024
QUERY_GAS_LIMIT = 200_000_000  # callcontract: read-only, free, capped


def min_fee(gas_limit: int, price_milli: int = MIN_GAS_PRICE_MILLI) -> int:
    """The smallest fee a contract transaction asking for ``gas_limit`` gas may pay at a minimum
    gas price of ``price_milli`` base units per 1,000 gas (rounded up)."""
    return -(-gas_limit * price_milli // 1000)
