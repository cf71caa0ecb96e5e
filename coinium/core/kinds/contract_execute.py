"""CONTRACT_EXECUTE (kind 66): call a contract's ``execute`` entry point.

Data: gas limit u64 | message. Recipient: the contract; amount: coins moved to it with the call
(back to the sender if the call fails).
"""

from __future__ import annotations

from coinium.contracts import transactions
from coinium.contracts.records import Receipt

NUMBER = 66


def _shape(tx) -> None:
    transactions.require(tx.recipient != transactions.ZERO_ID, tx,
                         "bad-txns-contract-execute", "names no contract")


def _run(tx, sender_id: bytes, gas: int, message: bytes, state) -> Receipt:
    base = transactions.base(state, tx)
    result = transactions.execution(state).call(base, tx.recipient, "execute", sender_id,
                                                tx.amount, message, gas)  # fmt: skip
    return transactions.receipt_of(result, base, tx.recipient)


def _fields(tx) -> dict:
    return {"msg": transactions.kind_data(tx).hex()}


KIND = transactions.make_kind(NUMBER, "contract_execute", 0, _run, _shape, _fields)
