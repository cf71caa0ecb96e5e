"""NFT_TRANSFER (kind 34): give a token to another account.

Body: ``class id | token id | to 20``.

Rules: the token exists (`bad-nft-no-token`); the sender is its owner, its approved operator, or
an operator for all of the owner's tokens (`bad-nft-not-owner`). The token's approved operator
is cleared (ERC-721). Recipient: the new owner.
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
    load_token,
    may_move,
    put_token,
    read_id,
    token_key,
)

NUMBER = 34


@dataclass(frozen=True, slots=True)
class Body:
    class_id: bytes
    token_id: bytes
    to: bytes

    def encode(self) -> bytes:
        return id_field(self.class_id) + id_field(self.token_id) + self.to


def read(r: Reader) -> Body:
    class_id = read_id(r, "class_id", MAX_CLASS_ID)
    token_id = read_id(r, "token_id", MAX_TOKEN_ID)
    return Body(class_id, token_id, r.fixed(ACCOUNT_SIZE, "to"))


def apply(tx, body: Body, sender: bytes, state, fail) -> None:
    token = load_token(state, body.class_id, body.token_id, fail)
    if not may_move(state, token, sender):
        raise fail("bad-nft-not-owner", "the sender neither owns the token nor is approved for it")
    put_token(state, body.class_id, body.token_id, replace(token, owner=body.to,
                                                           approved=NO_ACCOUNT))


NFT = NftKind(
    number=NUMBER, name="nft_transfer", max_body=2 + MAX_CLASS_ID + MAX_TOKEN_ID + ACCOUNT_SIZE,
    read_body=read, recipient=lambda body: body.to, amount=lambda body: 0,
    check=lambda body, fail: None, apply=apply,
    touches=lambda body, sender: [(NS_NFT_TOKEN, token_key(body.class_id, body.token_id))],
    to_json=lambda body, show: {**id_json(body.class_id, body.token_id), "to": show(body.to)},
    token=lambda body: token_key(body.class_id, body.token_id),
)  # fmt: skip
KIND = build_kind(NFT)
