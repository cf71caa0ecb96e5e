"""NFT_APPROVE (kind 36): approve one operator for one token (ERC-721 ``approve``).

Body: ``class id | token id | operator 20`` (20 zero bytes clear the approval).

Rules: the token exists (`bad-nft-no-token`); the sender is its owner or an operator for all of
the owner's tokens (`bad-nft-not-owner`). One operator per token: a new approval replaces the
last; a transfer or sale clears it. Recipient: the operator (the sender when clearing).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from coinium.core.codec import Reader
from coinium.core.kinds.nft.common import (
    ACCOUNT_SIZE,
    MAX_CLASS_ID,
    MAX_TOKEN_ID,
    NO_ACCOUNT,
    NS_NFT_TOKEN,
    NftKind,
    build_kind,
    id_field,
    id_json,
    is_operator,
    load_token,
    put_token,
    read_id,
    token_key,
)

NUMBER = 36


@dataclass(frozen=True, slots=True)
class Body:
    class_id: bytes
    token_id: bytes
    operator: bytes

    def encode(self) -> bytes:
        return id_field(self.class_id) + id_field(self.token_id) + self.operator


def read(r: Reader) -> Body:
    class_id = read_id(r, "class_id", MAX_CLASS_ID)
    token_id = read_id(r, "token_id", MAX_TOKEN_ID)
    return Body(class_id, token_id, r.fixed(ACCOUNT_SIZE, "operator"))


def apply(tx, body: Body, sender: bytes, state, fail) -> None:
    token = load_token(state, body.class_id, body.token_id, fail)
    if sender != token.owner and not is_operator(state, token.owner, sender):
        raise fail("bad-nft-not-owner", "only the owner or its operator approves for a token")
    put_token(state, body.class_id, body.token_id, replace(token, approved=body.operator))


def to_json(body: Body, show) -> dict:
    operator = None if body.operator == NO_ACCOUNT else show(body.operator)
    return {**id_json(body.class_id, body.token_id), "operator": operator}


NFT = NftKind(
    number=NUMBER, name="nft_approve", max_body=2 + MAX_CLASS_ID + MAX_TOKEN_ID + ACCOUNT_SIZE,
    read_body=read, recipient=lambda body: None if body.operator == NO_ACCOUNT else body.operator,
    amount=lambda body: 0, check=lambda body, fail: None, apply=apply,
    touches=lambda body, sender: [(NS_NFT_TOKEN, token_key(body.class_id, body.token_id))],
    to_json=to_json, token=lambda body: token_key(body.class_id, body.token_id),
)  # fmt: skip
KIND = build_kind(NFT)
