"""SLASH (kind 22): evidence that a validator signed two conflicting votes.

Kind data: length u16 | vote A | length u16 | vote B (each a full VOTE transaction, signature
included; at most 2 + 2 * 214 bytes in all). The validator field names the offender. The votes
conflict when they are a *double vote* (same target epoch, different votes) or a *surround vote*
(one's source is older and its target newer than the other's). Both must name the offender and
carry its voting key as sender, and both signatures must verify. The offender loses
``slash_double_bp`` or ``slash_surround_bp`` of its bonded and unbonding stake (its delegators'
with it), the sender gets ``reporter_reward_bp`` of that, the rest is burned, and the validator is
ejected (SLASHED: no more votes or rewards, its delegators may unbond). A validator is slashed at
most once.
"""

from __future__ import annotations

import struct

from coinium.core.codec import DecodeError, Reader
from coinium.core.errors import TransactionError
from coinium.core.governance import table
from coinium.core.kinds import vote
from coinium.core.kinds.staked import make_kind
from coinium.core.staking import ledger

NUMBER = 22
VOTE_SIZE = 2 + 32 + 8 + 8 + 20 + 8 + vote.DATA.size + 64
DATA_SIZE = 2 * (2 + VOTE_SIZE)
DOUBLE, SURROUND = "double", "surround"


def split_evidence(data: bytes):
    """The two votes of the evidence (Transactions); TransactionError if malformed."""
    from coinium.core.transaction import Transaction

    r = Reader(data, "evidence")
    try:
        first = Transaction.decode(r.var_bytes("vote_a", VOTE_SIZE))
        second = Transaction.decode(r.var_bytes("vote_b", VOTE_SIZE))
        r.finish()
    except DecodeError as exc:
        raise TransactionError("bad-slash-evidence", str(exc)) from None
    return first, second


def conflict(first, second) -> str | None:
    """DOUBLE, SURROUND or None for two votes of one validator."""
    (s1, t1), (s2, t2) = vote.checkpoints(first.payload), vote.checkpoints(second.payload)
    if (s1, t1) == (s2, t2):
        return None
    if t1.epoch == t2.epoch:
        return DOUBLE
    if (s1.epoch < s2.epoch and t2.epoch < t1.epoch) or (s2.epoch < s1.epoch
                                                          and t1.epoch < t2.epoch):
        return SURROUND
    return None


def encode_evidence(first, second) -> bytes:
    return b"".join(struct.pack("<H", len(v.raw)) + v.raw for v in (first, second))


def _votes(tx):
    first, second = split_evidence(tx.payload)
    for v in (first, second):
        if v.kind != vote.NUMBER or v.recipient != tx.recipient or v.sender != first.sender:
            raise TransactionError("bad-slash-evidence", "both votes must be the named "
                                   "validator's", txid=tx.txid)  # fmt: skip
    kind = conflict(first, second)
    if kind is None:
        raise TransactionError("bad-slash-evidence", "the votes do not conflict", txid=tx.txid)
    return first, second, kind


def _check(tx) -> None:
    _votes(tx)


def _effect(tx, sender_id: bytes, state) -> None:
    from coinium import kernels
    from coinium.core.transaction import signing_hash

    first, second, kind = _votes(tx)
    offender = ledger.validator(state, tx.recipient)
    if offender is None or offender.voting_key != first.sender:
        raise TransactionError("bad-slash-evidence", "the votes are not signed by the "
                               "validator's voting key")  # fmt: skip
    chain_id = state.context.params.chain_id
    verdicts = kernels.verify_batch([first.sender, second.sender],
                                    [signing_hash(first, chain_id), signing_hash(second, chain_id)],
                                    [first.signature, second.signature])  # fmt: skip
    if not all(verdicts):
        raise TransactionError("bad-slash-signature", "a vote's signature does not verify")
    fraction = table.value(state, "slash_double_bp" if kind == DOUBLE else "slash_surround_bp")
    ledger.slash(state, tx.recipient, fraction, sender_id)


def _json(data: bytes) -> dict:
    try:
        first, second = split_evidence(data)
    except TransactionError:
        return {"evidence": data.hex()}
    return {"vote_a": first.txid.hex(), "vote_b": second.txid.hex(),
            "conflict": conflict(first, second)}  # fmt: skip


KIND = make_kind(number=NUMBER, name="slash", data_size=DATA_SIZE, variable=True,
                 effect=_effect, check_data=_check, data_json=_json)
