"""CONTRACT_MIGRATE (kind 67): the admin moves a contract to other code and calls the new code's
``migrate`` entry point; its storage, coins and id stay.

Data: gas limit u64 | new code hash 32 | message. Recipient: the contract; amount zero. Only the
admin set at instantiation may migrate (``not-admin``); a contract without one never changes.
"""

from __future__ import annotations

from coinium.contracts import transactions
from coinium.contracts.records import Instance, Receipt
from coinium.contracts.vm import Overlay
from coinium.core.state import NS_CONTRACT, NS_CONTRACT_CODE

NUMBER = 67


def _shape(tx) -> None:
    transactions.require(tx.recipient != transactions.ZERO_ID and tx.amount == 0, tx,
                         "bad-txns-contract-migrate", "names a contract and attaches no coins")


def _run(tx, sender_id: bytes, gas: int, data: bytes, state) -> Receipt:
    digest, message, contract = data[:32], data[32:], tx.recipient
    raw = state.peek(NS_CONTRACT, contract)
    if raw is None:
        return Receipt(False, gas, contract, "no-contract")
    instance = Instance.decode(raw)
    if instance.admin != sender_id:
        return Receipt(False, gas, contract, "not-admin")
    if state.peek(NS_CONTRACT_CODE, digest) is None:
        return Receipt(False, gas, contract, "no-code")
    base = transactions.base(state, tx)
    top = Overlay(base)
    top.put(NS_CONTRACT, contract,
            Instance(digest, instance.admin, instance.creator, instance.height).encode())
    result = transactions.execution(state).call(top, contract, "migrate", sender_id, 0, message,
                                                gas)  # fmt: skip
    if result.ok:
        top.commit()
    return transactions.receipt_of(result, base, contract)


def _fields(tx) -> dict:
    data = transactions.kind_data(tx)
    return {"code_hash": data[:32].hex(), "msg": data[32:].hex()}


KIND = transactions.make_kind(NUMBER, "contract_migrate", 32, _run, _shape, _fields)
