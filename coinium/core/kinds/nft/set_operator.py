"""NFT_SET_OPERATOR (kind 37): approve or revoke an operator for all of the sender's tokens
(ERC-721 ``setApprovalForAll``), of every class, now and later.

Body: ``operator 20 | approved u8 (0: revoke, 1: approve)``.

Rules: the operator is not the sender (`bad-nft-operator-self`). Record: namespace 0x22,
``owner 20 | operator 20 -> 0x01`` while approved. Recipient: the operator.
"""

from __future__ import annotations

from dataclasses import dataclass

from coinium.core.codec import Reader
from coinium.core.kinds.nft.common import (
    ACCOUNT_SIZE,
    NS_NFT_OPERATOR,
    PRESENT,
    NftKind,
    build_kind,
    operator_key,
    read_flag,
)

NUMBER = 37


@dataclass(frozen=True, slots=True)
class Body:
    operator: bytes
    approved: int

    def encode(self) -> bytes:
        return self.operator + bytes((self.approved,))


def read(r: Reader) -> Body:
    return Body(r.fixed(ACCOUNT_SIZE, "operator"), read_flag(r, "approved"))


def apply(tx, body: Body, sender: bytes, state, fail) -> None:
    if body.operator == sender:
        raise fail("bad-nft-operator-self", "an owner is not its own operator")
    state.put(NS_NFT_OPERATOR, operator_key(sender, body.operator),
              PRESENT if body.approved else None)  # fmt: skip


NFT = NftKind(
    number=NUMBER, name="nft_set_operator", max_body=ACCOUNT_SIZE + 1,
    read_body=read, recipient=lambda body: body.operator, amount=lambda body: 0,
    check=lambda body, fail: None, apply=apply,
    touches=lambda body, sender: [(NS_NFT_OPERATOR, operator_key(sender, body.operator))],
    to_json=lambda body, show: {"operator": show(body.operator),
                                "approved": bool(body.approved)},
)  # fmt: skip
KIND = build_kind(NFT)
