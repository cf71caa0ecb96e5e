"""What the four contract kinds (64-67, `coinium/core/kinds/contract_*.py`) share: the payload
codec, the stateless checks, and the apply loop that charges the fee and writes a receipt.

Payload (after ``version u8 | kind u8``):
    sender public key 32 | nonce u64 | fee u64 | recipient 20 | amount u64 |
    data length u32 | data | signature 64
where data = gas limit u64 | the kind's own fields. The recipient is the contract (execute,
migrate) or zero (upload, instantiate); the amount is the coins attached to the call.

A contract transaction that is valid for the block (right nonce, the fee covered, gas within the
limits) always pays its fee and bumps the nonce; whether its contract work succeeds is its
receipt's business (namespace 0x44): a failed call changes nothing but the fee. A block whose
transaction cannot pay its fee, pays less than the governed minimum gas price, asks for more gas
than the governed per-transaction limit, or whose gas limits sum past the governed block limit
(`governed.schedule`), is invalid.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from coinium.contracts import governed, limits
from coinium.contracts.records import Receipt
from coinium.contracts.vm import Execution, StateBase
from coinium.core.account import Account
from coinium.core.codec import Reader
from coinium.core.errors import BlockError, TransactionError
from coinium.core.kinds import Fields, Kind
from coinium.core.state import NS_ACCOUNT, NS_CONTRACT_RECEIPT, BlockState, RecordKey
from coinium.core.units import MAX_MONEY
from coinium.crypto.address import account_id

if TYPE_CHECKING:
    from coinium.core.transaction import Transaction

BODY = struct.Struct("<32sQQ20sQ")
GAS = struct.Struct("<Q")
SIGNATURE_SIZE = 64
MAX_NONCE = (1 << 64) - 1
MAX_DATA_SIZE = GAS.size + 32 + 21 + max(limits.MAX_CODE_SIZE, limits.MAX_MESSAGE_SIZE)
ZERO_ID = bytes(20)

# What a kind does once the fee is paid: (tx, sender id, gas limit, kind data, state) -> receipt.
# Kind numbers 64-79 are the contracts' (docs/PROTOCOL.md allots them).
CONTRACT_KINDS = range(64, 80)
Run = Callable[["Transaction", bytes, int, bytes, BlockState], Receipt]


def gas_limit(tx: Transaction) -> int:
    return GAS.unpack_from(tx.payload)[0]


def block_gas(tx: Transaction) -> int:
    """The gas a transaction counts against MAX_BLOCK_GAS (0 for kinds other than 64-79)."""
    return gas_limit(tx) if tx.kind in CONTRACT_KINDS else 0


def pay_fee(tx: Transaction, state: BlockState) -> None:
    """What a contract transaction does to its sender whatever its call does: the fee paid, the
    nonce raised (the mempool's replay of a sender's pending transactions, without running the
    call)."""
    sender_id = account_id(tx.sender)
    sender = state.account(sender_id)
    state.set_account(sender_id, Account(sender.balance - tx.fee, sender.nonce + 1))


def kind_data(tx: Transaction) -> bytes:
    return tx.payload[GAS.size:]


def make_kind(number: int, name: str, min_data: int, run: Run,
              shape: Callable[[Transaction], None],
              fields: Callable[[Transaction], dict[str, Any]]) -> Kind:
    """A contract kind: ``min_data`` is the length of its fixed fields after the gas limit,
    ``shape`` its own stateless rules (TransactionError), ``fields`` its RPC fields."""

    def read(r: Reader) -> Fields:
        body_offset = r.offset
        sender, nonce, fee, recipient, amount = BODY.unpack(r.fixed(BODY.size, "body"))
        for what, offset, value in (("fee", 40, fee), ("amount", 68, amount)):
            if value > MAX_MONEY:
                raise r.fail(what, body_offset + offset, f"{value} exceeds {MAX_MONEY}")
        offset = r.offset
        length = r.u32("data_length")
        if not GAS.size + min_data <= length <= MAX_DATA_SIZE:
            raise r.fail("data_length", offset,
                         f"{length} outside {GAS.size + min_data} .. {MAX_DATA_SIZE}")
        data = r.fixed(length, "data")
        return recipient, amount, nonce, fee, sender, data, r.fixed(SIGNATURE_SIZE, "signature")

    def encode(tx: Transaction) -> bytes:
        return BODY.pack(tx.sender, tx.nonce, tx.fee, tx.recipient, tx.amount) \
            + struct.pack("<I", len(tx.payload)) + tx.payload

    def check_fields(tx: Transaction) -> None:
        if len(tx.sender) != 32 or len(tx.signature) != SIGNATURE_SIZE:
            raise ValueError("sender is a 32-byte key, signature 64 bytes")
        if not 0 <= tx.fee <= MAX_MONEY or not 0 <= tx.amount <= MAX_MONEY:
            raise ValueError("fee and amount within 0 .. MAX_MONEY")
        if not 0 <= tx.nonce <= MAX_NONCE:
            raise ValueError("nonce outside u64")
        if not GAS.size + min_data <= len(tx.payload) <= MAX_DATA_SIZE:
            raise ValueError(f"{name} data is {GAS.size + min_data} .. {MAX_DATA_SIZE} bytes")

    def check(tx: Transaction) -> None:
        gas = gas_limit(tx)
        if gas > limits.MAX_TX_GAS:
            raise TransactionError("bad-txns-gas", f"gas limit {gas} above {limits.MAX_TX_GAS}",
                                   txid=tx.txid)  # fmt: skip
        if tx.fee < limits.min_fee(gas):
            raise TransactionError("bad-txns-gas-fee", f"fee {tx.fee} below "
                                   f"{limits.min_fee(gas)} for {gas} gas", txid=tx.txid)
        if tx.amount + tx.fee > MAX_MONEY:
            raise TransactionError("bad-txns-txouttotal-toolarge", "amount + fee exceed MAX_MONEY",
                                   txid=tx.txid)  # fmt: skip
        shape(tx)

    def touches(tx: Transaction, sender_id: bytes) -> Sequence[RecordKey]:
        return [(NS_ACCOUNT, sender_id), (NS_ACCOUNT, tx.recipient)]

    def apply(txs: Sequence[Transaction], state: BlockState) -> int:
        fees = 0
        for tx in txs:
            fees += _apply_one(tx, state, run)
        return fees

    def to_json(tx: Transaction, show: Callable[[bytes], str]) -> dict[str, Any]:
        return {"gas_limit": gas_limit(tx), "amount_units": tx.amount, **fields(tx)}

    return Kind(number=number, name=name, signed=True, coinbase=False,
                max_size=2 + BODY.size + 4 + MAX_DATA_SIZE + SIGNATURE_SIZE, read=read,
                encode=encode, check_fields=check_fields, check=check, touches=touches,
                apply=apply, to_json=to_json)  # fmt: skip


def _apply_one(tx: Transaction, state: BlockState, run: Run) -> int:
    def failed(reason: str, detail: str) -> BlockError:
        return BlockError(reason, f"tx {tx.txid.hex()}: {detail}")

    gas = gas_limit(tx)
    schedule = governed.schedule(state)
    # The governed limits (the stateless checks and the mempool use the hard caps above them)
    if gas > schedule.max_tx_gas:
        raise failed("bad-txns-gas", f"gas limit {gas} above {schedule.max_tx_gas}")
    fee_floor = limits.min_fee(gas, schedule.min_gas_price_milli)
    if tx.fee < fee_floor:
        raise failed("bad-txns-gas-fee", f"fee {tx.fee} below {fee_floor} for {gas} gas")
    block_gas = state.counters.get("contract_gas", 0) + gas
    if block_gas > schedule.max_block_gas:
        raise failed("bad-blk-gas", f"contract gas limits exceed {schedule.max_block_gas}")
    state.counters["contract_gas"] = block_gas
    sender_id = account_id(tx.sender)
    state.senders.append(sender_id)
    sender = state.account(sender_id)
    if tx.nonce != sender.nonce:
        raise failed("bad-txns-nonce", f"nonce {tx.nonce}, account expects {sender.nonce}")
    if sender.nonce >= MAX_NONCE:
        raise failed("bad-txns-nonce", "account nonce exhausted")
    if sender.balance < tx.fee:
        raise failed("bad-txns-in-belowout", f"balance {sender.balance} below fee {tx.fee}")
    state.set_account(sender_id, Account(sender.balance - tx.fee, sender.nonce + 1))
    receipt = run(tx, sender_id, gas, kind_data(tx), state)
    state.put(NS_CONTRACT_RECEIPT, tx.txid, receipt.encode())
    return tx.fee


def execution(state: BlockState) -> Execution:
    return Execution(state.context.height, state.context.time, governed.schedule(state))


def base(state: BlockState, tx: Transaction) -> StateBase:
    return StateBase(state, tx.txid)


def receipt_of(result, base: StateBase, contract: bytes = ZERO_ID) -> Receipt:
    return Receipt(result.ok, result.gas_used, contract, result.reason, result.result,
                   tuple(base.event_keys))


def require(condition: bool, tx: Transaction, reason: str, detail: str) -> None:
    """A stateless rule of one kind (TransactionError with ``reason``)."""
    if not condition:
        raise TransactionError(reason, detail, txid=tx.txid)
