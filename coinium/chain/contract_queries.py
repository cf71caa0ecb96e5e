"""Reading contracts from the chain for listings: the uploaded codes, the instantiated contracts
with their balances, and a contract's newest events. Each function reads one LMDB snapshot, so
what it returns is one consistent state (call them on the chain thread).

CosmWasm's ``ListCodes`` / ``ListContractsByCode`` and an explorer's "latest events" are the
references; the RPC's getcontract, getcontractstorage and listcontractevents read one contract.
"""

from __future__ import annotations

from dataclasses import dataclass

from coinium.chain.chainstate import ChainState
from coinium.contracts.records import Instance
from coinium.core.account import Account
from coinium.core.state import NS_ACCOUNT, NS_CONTRACT, NS_CONTRACT_CODE, NS_CONTRACT_EVENT
from coinium.store.chainstore import record_key

CONTRACT_ID = 20
CODE_HASH = 32


@dataclass(frozen=True, slots=True)
class Code:
    code_hash: bytes
    size: int


@dataclass(frozen=True, slots=True)
class ContractRow:
    contract: bytes
    instance: Instance
    balance: int


def codes(chain: ChainState, after: bytes = b"", limit: int = 100) -> list[Code]:
    """A page of uploaded codes in code-hash order, after the code hash ``after``."""
    found = []
    for key, value in _page(chain, NS_CONTRACT_CODE, after, limit):
        found.append(Code(key, len(value)))
    return found


def contracts(chain: ChainState, after: bytes = b"", limit: int = 100) -> list[ContractRow]:
    """A page of contracts in contract-id order, after the id ``after``, with their balances."""
    store = chain.store
    found = []
    with store.read() as txn:
        view = store.state_view(txn)
        for key, value in _page(chain, NS_CONTRACT, after, limit, txn):
            raw = view.get(NS_ACCOUNT, key)
            balance = 0 if raw is None else Account.decode(bytes(raw)).balance
            found.append(ContractRow(key, Instance.decode(value), balance))
    return found


def newest_events(chain: ChainState, contract: bytes, before: bytes = b"",
                  limit: int = 100) -> list[tuple[bytes, bytes]]:  # fmt: skip
    """(key, value) of a contract's events newest first, below the event key ``before`` (the
    contract id, height and sequence of the last event of the previous page)."""
    store = chain.store
    head = record_key(NS_CONTRACT_EVENT, contract)
    end = record_key(NS_CONTRACT_EVENT, before if before else contract + b"\xff" * 12)
    found: list[tuple[bytes, bytes]] = []
    with store.read() as txn:
        cursor = store.cursor(txn, "state")
        # Step onto the last key below ``end`` (the first key at or past it, then back one).
        more = cursor.prev() if cursor.set_range(end) else cursor.last()
        while more and len(found) < limit:
            key = bytes(cursor.key())
            if not key.startswith(head):
                break
            found.append((key[1:], bytes(cursor.value())))
            more = cursor.prev()
    return found


def _page(chain: ChainState, namespace: int, after: bytes, limit: int,
          txn=None) -> list[tuple[bytes, bytes]]:  # fmt: skip
    """Up to ``limit`` records of a namespace above ``after``, read in ``txn`` if given."""
    store = chain.store
    head = bytes((namespace,))
    start = record_key(namespace, after + b"\x00") if after else head
    found: list[tuple[bytes, bytes]] = []
    if txn is None:
        with store.read() as own:
            return _page(chain, namespace, after, limit, own)
    cursor = store.cursor(txn, "state")
    more = cursor.set_range(start)
    while more and len(found) < limit:
        key = bytes(cursor.key())
        if not key.startswith(head):
            break
        found.append((key[1:], bytes(cursor.value())))
        more = cursor.next()
    return found
