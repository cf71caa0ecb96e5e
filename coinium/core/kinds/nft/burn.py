"""NFT_BURN (kind 35): destroy a token.

Body: ``class id | token id``.

Rules: the token exists (`bad-nft-no-token`); the sender may move it (owner or approved:
`bad-nft-not-owner`). The record is deleted and the class counts the burn; the id stays counted
against the maximum supply. Recipient: the sender.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from coinium.core.codec import Reader
from coinium.core.kinds.nft.common import (
    MAX_CLASS_ID,
    MAX_TOKEN_ID,
    NS_NFT_CLASS,
    NS_NFT_TOKEN,
    NftKind,
    build_kind,
    id_field,
    id_json,
    load_class,
    load_token,
    may_move,
    put_token,
    read_id,
    token_key,
)

NUMBER = 35


@dataclass(frozen=True, slots=True)
class Body:
    class_id: bytes
    token_id: bytes

    def encode(self) -> bytes:
        return id_field(self.class_id) + id_field(self.token_id)


def read(r: Reader) -> Body:
    class_id = read_id(r, "class_id", MAX_CLASS_ID)
    return Body(class_id, read_id(r, "token_id", MAX_TOKEN_ID))


def apply(tx, body: Body, sender: bytes, state, fail) -> None:
    token = load_token(state, body.class_id, body.token_id, fail)
    if not may_move(state, token, sender):
        raise fail("bad-nft-not-owner", "the sender neither owns the token nor is approved for it")
    put_token(state, body.class_id, body.token_id, None)
    cls = load_class(state, body.class_id, fail)
    state.put(NS_NFT_CLASS, body.class_id, replace(cls, burned=cls.burned + 1).encode())


NFT = NftKind(
    number=NUMBER, name="nft_burn", max_body=2 + MAX_CLASS_ID + MAX_TOKEN_ID,
    read_body=read, recipient=lambda body: None, amount=lambda body: 0,
    check=lambda body, fail: None, apply=apply,
    touches=lambda body, sender: [(NS_NFT_CLASS, body.class_id),
                                  (NS_NFT_TOKEN, token_key(body.class_id, body.token_id))],
    to_json=lambda body, show: id_json(body.class_id, body.token_id),
    token=lambda body: token_key(body.class_id, body.token_id),
)  # fmt: skip
KIND = build_kind(NFT)
