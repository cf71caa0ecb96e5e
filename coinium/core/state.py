"""Namespaced state: the records every transaction kind reads and writes, and the one narrow view
through which the rules read them.

A record is ``(namespace u8, key) -> canonical bytes``. Accounts are namespace 0x01 with the
20-byte account id as key and `Account`'s 16-byte encoding as value; later kinds take their own
namespaces (listed in `NAMESPACES`, so two kinds never share one by accident). The state root
(DESIGN.md) commits to every record of every namespace.

`BlockState` is the working state of one block being applied: it reads through a `StateView`
(the state the block is applied to), keeps every touched record's new value, and the value it
had before the block (``None`` if it did not exist) — the undo record. Accounts, touched by nearly
every transaction, are kept decoded in a plain dict so that the transfer loop stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from coinium.core.account import EMPTY_ACCOUNT, Account
from coinium.crypto.state_proof import NS_ACCOUNT

__all__ = ["NAMESPACES", "NS_ACCOUNT", "BlockContext", "BlockState", "RecordKey", "StateDelta",
           "StateView"]
# Staking and finality (issue 12) take 0x10-0x1F; see coinium/core/staking/records.py.
NS_VALIDATOR = 0x10
NS_DELEGATION = 0x11
NS_UNBONDING = 0x12
NS_STAKING = 0x13  # the staking totals and the finality (Casper FFG) record
# NFTs (coinium/core/kinds/nft/) take 0x20-0x2F: classes, tokens, operators for all, used offers.
NS_NFT_CLASS, NS_NFT_TOKEN, NS_NFT_OPERATOR, NS_NFT_OFFER = 0x20, 0x21, 0x22, 0x23
# Governance (issue 13) takes 0x30-0x3F; see coinium/core/governance/records.py.
NS_PARAM = 0x30  # the parameter table: one record per governed consensus value
NS_PROPOSAL = 0x31
NS_GOV_VOTE = 0x32
NS_GOV_VALIDATOR_SNAPSHOT = 0x33  # a validator's stake when a proposal's vote began
NS_GOV_DELEGATION_SNAPSHOT = 0x34  # a delegation's shares when a proposal's vote began
NS_GOVERNANCE = 0x35  # next proposal id, open proposals, deposits held and burned
# Contracts (kinds 64-79, coinium/contracts/) take 0x40-0x4F: code by BLAKE3 hash, instances by
# contract id, each contract's storage (contract id | key), its events and each contract
# transaction's receipt.
NS_CONTRACT_CODE, NS_CONTRACT, NS_CONTRACT_STORAGE, NS_CONTRACT_EVENT, NS_CONTRACT_RECEIPT = \
    0x40, 0x41, 0x42, 0x43, 0x44
NAMESPACES = {NS_ACCOUNT: "account", NS_VALIDATOR: "validator", NS_DELEGATION: "delegation",
              NS_UNBONDING: "unbonding", NS_STAKING: "staking",
              NS_NFT_CLASS: "nft_class", NS_NFT_TOKEN: "nft_token",
              NS_NFT_OPERATOR: "nft_operator", NS_NFT_OFFER: "nft_offer", NS_PARAM: "param",
              NS_PROPOSAL: "proposal", NS_GOV_VOTE: "proposal_vote",
              NS_GOV_VALIDATOR_SNAPSHOT: "proposal_validator_snapshot",
              NS_GOV_DELEGATION_SNAPSHOT: "proposal_delegation_snapshot",
              NS_GOVERNANCE: "governance",
              NS_CONTRACT_CODE: "contract code", NS_CONTRACT: "contract",
              NS_CONTRACT_STORAGE: "contract storage", NS_CONTRACT_EVENT: "contract event",
              NS_CONTRACT_RECEIPT: "contract receipt"}  # fmt: skip
MAX_KEY_SIZE = 255  # keys are written with a u8 length in undo records

RecordKey = tuple[int, bytes]  # (namespace, key)


class StateView(Protocol):
    """Read-only access to the state a block is applied to (its parent's)."""

    def get(self, namespace: int, key: bytes) -> bytes | None:
        """The record's canonical bytes, or None if it does not exist."""
        ...


@dataclass(frozen=True, slots=True)
class BlockContext:
    """What a kind may know of the block it applies in: its height, its parent's hash, the
    network's parameters (``params`` is a `coinium.core.params.NetworkParams`; its ``chain_id``
    for signatures over other messages than the transaction's own, as NFT sale offers) and its
    time (the header's timestamp; contracts read height and time)."""

    height: int
    prev_hash: bytes
    params: object
    time: int


@dataclass(frozen=True, slots=True)
class StateDelta:
    """What applying a block changes: every touched record after the block (``None``: deleted)
    and before it (``None``: did not exist), keyed (namespace, key)."""

    new: dict[RecordKey, bytes | None]
    old: dict[RecordKey, bytes | None]
    fees: int
    # The account id of each signed transaction's sender, in block order (the coinbase has none):
    # the address index needs them, and hashing a public key into an id is not free.
    senders: tuple[bytes, ...] = ()

    def accounts(self) -> dict[bytes, Account | None]:
        """The touched accounts after the block, decoded."""
        return {key: None if value is None else Account.decode(value)
                for (ns, key), value in self.new.items() if ns == NS_ACCOUNT}  # fmt: skip


class BlockState:
    """The state while one block is applied: reads through ``view`` once per record, keeps the
    new values and the undo values. Kinds use `account`/`set_account` and `get`/`put`; the
    transfer fast path uses `accounts` and `load_account` directly."""

    __slots__ = ("_view", "accounts", "context", "counters", "old_accounts", "records",
                 "old_records", "senders")

    def __init__(self, view: StateView, context: BlockContext | None = None):
        self._view = view
        self.context = context
        # Per-block running totals a kind keeps across its transactions (contract gas used,
        # the next contract event's sequence number); never stored.
        self.counters: dict[str, int] = {}
        self.accounts: dict[bytes, Account] = {}  # new value of every touched account
        self.old_accounts: dict[bytes, bytes | None] = {}  # its bytes before the block
        self.records: dict[RecordKey, bytes | None] = {}  # other namespaces
        self.old_records: dict[RecordKey, bytes | None] = {}
        # The account id of each signed transaction's sender, in block order: each kind appends
        # its own (it hashes the key anyway), for the address index.
        self.senders: list[bytes] = []

    # --- accounts (namespace 0x01) -------------------------------------------------------------
    def load_account(self, account: bytes) -> Account:
        """First touch of an account in this block: read it and remember its undo value. The
        caller must then `set_account` it (every account read is written)."""
        raw = self._view.get(NS_ACCOUNT, account)
        self.old_accounts[account] = raw
        value = EMPTY_ACCOUNT if raw is None else Account.decode(raw)
        self.accounts[account] = value
        return value

    def account(self, account: bytes) -> Account:
        value = self.accounts.get(account)
        return self.load_account(account) if value is None else value

    def set_account(self, account: bytes, value: Account) -> None:
        if account not in self.accounts:
            self.load_account(account)
        self.accounts[account] = value

    # --- any namespace ------------------------------------------------------------------------
    def get(self, namespace: int, key: bytes) -> bytes | None:
        if namespace == NS_ACCOUNT:
            return self.account(key).encode()
        record = (namespace, key)
        if record in self.records:
            return self.records[record]
        raw = self._view.get(namespace, key)
        self.old_records[record] = raw
        self.records[record] = raw
        return raw

    def peek(self, namespace: int, key: bytes) -> bytes | None:
        """A record's current value without touching it (no undo entry): for rules that read
        a record on every block but rarely change it."""
        record = (namespace, key)
        if record in self.records:
            return self.records[record]
        return self._view.get(namespace, key)

    def put(self, namespace: int, key: bytes, value: bytes | None) -> None:
        if namespace not in NAMESPACES:
            raise ValueError(f"unknown state namespace {namespace:#04x}")
        if not 0 < len(key) <= MAX_KEY_SIZE:
            raise ValueError(f"a state key is 1 to {MAX_KEY_SIZE} bytes")
        if namespace == NS_ACCOUNT:
            if value is None:
                raise ValueError("accounts are never deleted")
            self.set_account(key, Account.decode(value))
            return
        self.get(namespace, key)  # remember the undo value at the first touch
        self.records[(namespace, key)] = value

    def delta(self, fees: int) -> StateDelta:
        new: dict[RecordKey, bytes | None] = {
            (NS_ACCOUNT, account): value.encode() for account, value in self.accounts.items()
        }
        old: dict[RecordKey, bytes | None] = {
            (NS_ACCOUNT, account): raw for account, raw in self.old_accounts.items()
        }
        new.update(self.records)
        old.update(self.old_records)
        return StateDelta(new=new, old=old, fees=fees, senders=tuple(self.senders))
