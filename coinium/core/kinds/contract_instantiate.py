"""CONTRACT_INSTANTIATE (kind 65): create a contract from uploaded code and call its
``instantiate`` entry point.

Data: gas limit u64 | code hash 32 | has admin u8 | admin account id 20 | init message.
Recipient zero; amount: coins moved to the new contract. The contract's id is
BLAKE3("coinium/contract" | sender id | nonce)[:20]; the receipt names it. If the call fails,
the contract does not exist and the coins stay with the sender.
"""

from __future__ import annotations

from coinium.contracts import transactions
from coinium.contracts.records import Instance, Receipt, contract_id
from coinium.contracts.vm import Overlay
from coinium.core.state import NS_CONTRACT, NS_CONTRACT_CODE

NUMBER = 65
FIXED = 32 + 1 + 20


def _shape(tx) -> None:
    data = transactions.kind_data(tx)
    transactions.require(tx.recipient == transactions.ZERO_ID and data[32] in (0, 1), tx,
                         "bad-txns-contract-instantiate",
                         "no recipient; the admin flag is 0 or 1")  # fmt: skip


def _run(tx, sender_id: bytes, gas: int, data: bytes, state) -> Receipt:
    digest, has_admin, admin, message = data[:32], data[32], data[33:53], data[FIXED:]
    contract = contract_id(sender_id, tx.nonce)
    if state.peek(NS_CONTRACT_CODE, digest) is None:
        return Receipt(False, gas, contract, "no-code")
    base = transactions.base(state, tx)
    top = Overlay(base)
    created = state.context.height
    top.put(NS_CONTRACT, contract,
            Instance(digest, admin if has_admin else None, sender_id, created).encode())
    result = transactions.execution(state).call(top, contract, "instantiate", sender_id,
                                                tx.amount, message, gas)  # fmt: skip
    if result.ok:
        top.commit()
    return transactions.receipt_of(result, base, contract)


def _fields(tx) -> dict:
    data = transactions.kind_data(tx)
    return {"code_hash": data[:32].hex(), "admin": data[33:53].hex() if data[32] else None,
            "msg": data[FIXED:].hex()}  # fmt: skip


KIND = transactions.make_kind(NUMBER, "contract_instantiate", FIXED, _run, _shape, _fields)
