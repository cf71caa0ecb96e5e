"""The registry of transaction kinds: each kind number maps to one module that declares it.

A kind module builds one `Kind`: its payload codec (the bytes after ``version u8 | kind u8``),
its stateless checks, the state records it touches, how it applies to the state (given a
`BlockState`, it records new values and, through it, undo values) and its JSON fields for RPC.
The transaction codec, block rules, mempool, P2P size caps, RPC and wallet all dispatch through
`KINDS`; adding a kind is one module here plus its tests and a PROTOCOL.md section (see
docs/ARCHITECTURE.md for a worked example).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from coinium.core.codec import DecodeError, Reader

if TYPE_CHECKING:
    from coinium.core.state import BlockState, RecordKey
    from coinium.core.transaction import Transaction

# (recipient, amount, nonce, fee, sender, payload, signature): what a kind's codec reads.
Fields = tuple[bytes, int, int, int, bytes, bytes, bytes]


@dataclass(frozen=True, slots=True)
class Kind:
    number: int
    name: str
    signed: bool  # carries a sender key, an account nonce, a fee and a signature
    coinbase: bool  # only as a block's first transaction, never in the mempool
    max_size: int  # the longest canonical encoding, version and kind bytes included
    read: Callable[[Reader], Fields]  # the payload after version and kind
    encode: Callable[[Transaction], bytes]  # the payload, signature excluded
    check_fields: Callable[[Transaction], None]  # ValueError for values with no encoding
    check: Callable[[Transaction], None]  # stateless consensus rules (TransactionError)
    touches: Callable[[Transaction, bytes], Sequence[RecordKey]]  # (tx, sender id) -> records
    # Apply a run of consecutive transactions of this kind, in order; returns the fees they pay.
    # A signed kind appends each sender's account id to ``state.senders``.
    apply: Callable[[Sequence[Transaction], BlockState], int]
    # Kind-specific RPC fields, given a function showing an account id as an address; amounts
    # as integers of base units under names ending in ``_units`` (the RPC adds coin values).
    to_json: Callable[[Transaction, Callable[[bytes], str]], dict[str, Any]]


def _registry() -> dict[int, Kind]:
    from coinium.core.kinds import (
        bond,
        coinbase,
        contract_execute,
        contract_instantiate,
        contract_migrate,
        contract_upload,
        delegate,
        nft,
        proposal_deposit,
        proposal_submit,
        proposal_vote,
        slash,
        transfer,
        unbond,
        validator_register,
        vote,
        withdraw,
    )

    kinds = (coinbase.KIND, transfer.KIND,
             # staking and finality (issue 12): kind numbers 16-31
             validator_register.KIND, bond.KIND, delegate.KIND, unbond.KIND, withdraw.KIND,
             vote.KIND, slash.KIND,
             # NFTs (issue 14): kind numbers 32-40
             *nft.KINDS,
             # governance (issue 13): kind numbers 48-63
             proposal_submit.KIND, proposal_deposit.KIND, proposal_vote.KIND,
             # contracts (issue 15): kind numbers 64-67
             contract_upload.KIND, contract_instantiate.KIND, contract_execute.KIND,
             contract_migrate.KIND)  # fmt: skip
    registry = {k.number: k for k in kinds}
    assert len(registry) == len(kinds), "two kinds share a number"
    return registry


KINDS: dict[int, Kind] = _registry()
TxKind = IntEnum("TxKind", {k.name.upper(): k.number for k in KINDS.values()})  # type: ignore[misc]
MAX_TX_SIZE = max(k.max_size for k in KINDS.values())


def kind_of(number: int) -> Kind:
    """The kind with this number; KeyError if there is none (decoding refuses it first)."""
    return KINDS[number]


def read_kind(r: Reader, number: int, offset: int) -> Kind:
    kind = KINDS.get(number)
    if kind is None:
        raise r.fail("kind", offset, f"unknown transaction kind {number}")
    return kind


def named_error(kind: Kind, exc: DecodeError) -> DecodeError:
    """A payload DecodeError that names its kind: ``tx.transfer.memo`` instead of ``tx.memo``."""
    head, _, rest = exc.what.partition(".")
    return DecodeError(f"{head}.{kind.name}.{rest}" if rest else f"{head}.{kind.name}",
                       exc.offset, exc.problem)  # fmt: skip
