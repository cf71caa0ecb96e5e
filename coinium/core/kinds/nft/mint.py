"""NFT_MINT (kind 33): create a token of a class and give it to an owner.

Body: ``class id | token id | owner 20 | uri (u16 length) | content hash 32``.

Rules: the class exists (`bad-nft-no-class`); the sender may mint in it (the creator, or anyone
when the class says so: `bad-nft-not-minter`); the token id is not taken, even by a burned token's
successor in the same block (`bad-nft-token-exists`); the class's maximum supply counts every
mint ever, burned or not (`bad-nft-supply`); a URI comes with its content hash
(`bad-nft-content-hash`). Recipient: the owner.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from coinium.core.codec import Reader
from coinium.core.kinds.nft.common import (
    ACCOUNT_SIZE,
    MAX_CLASS_ID,
    MAX_TOKEN_ID,
    MAX_URI,
    MINT_ANYONE,
    NO_ACCOUNT,
    NS_NFT_CLASS,
    NS_NFT_TOKEN,
    NftKind,
    TokenRecord,
    build_kind,
    check_metadata,
    id_field,
    id_json,
    load_class,
    put_token,
    read_id,
    read_uri,
    token_key,
    uri_field,
)

NUMBER = 33


@dataclass(frozen=True, slots=True)
class Body:
    class_id: bytes
    token_id: bytes
    owner: bytes
    uri: bytes
    content_hash: bytes

    def encode(self) -> bytes:
        return id_field(self.class_id) + id_field(self.token_id) + self.owner \
            + uri_field(self.uri) + self.content_hash


def read(r: Reader) -> Body:
    class_id = read_id(r, "class_id", MAX_CLASS_ID)
    token_id = read_id(r, "token_id", MAX_TOKEN_ID)
    owner = r.fixed(ACCOUNT_SIZE, "owner")
    return Body(class_id, token_id, owner, read_uri(r), r.fixed(32, "content_hash"))


def apply(tx, body: Body, sender: bytes, state, fail) -> None:
    cls = load_class(state, body.class_id, fail)
    if cls.minter != MINT_ANYONE and sender != cls.creator:
        raise fail("bad-nft-not-minter", f"only the creator mints in {body.class_id.decode()!r}")
    if cls.max_supply and cls.minted >= cls.max_supply:
        raise fail("bad-nft-supply", f"class {body.class_id.decode()!r} reached its maximum "
                   f"supply {cls.max_supply}")  # fmt: skip
    if state.get(NS_NFT_TOKEN, token_key(body.class_id, body.token_id)) is not None:
        raise fail("bad-nft-token-exists", f"token {body.token_id.decode()!r} exists")
    put_token(state, body.class_id, body.token_id,
              TokenRecord(body.owner, NO_ACCOUNT, body.uri, body.content_hash))  # fmt: skip
    state.put(NS_NFT_CLASS, body.class_id, replace(cls, minted=cls.minted + 1).encode())


def to_json(body: Body, show) -> dict:
    return {**id_json(body.class_id, body.token_id), "owner": show(body.owner),
            "uri": body.uri.decode(), "contenthash": body.content_hash.hex()}  # fmt: skip


NFT = NftKind(
    number=NUMBER, name="nft_mint",
    max_body=2 + MAX_CLASS_ID + MAX_TOKEN_ID + ACCOUNT_SIZE + 2 + MAX_URI + 32,
    read_body=read, recipient=lambda body: body.owner, amount=lambda body: 0,
    check=lambda body, fail: check_metadata(body.uri, body.content_hash, fail),
    apply=apply,
    touches=lambda body, sender: [(NS_NFT_CLASS, body.class_id),
                                  (NS_NFT_TOKEN, token_key(body.class_id, body.token_id))],
    to_json=to_json, token=lambda body: token_key(body.class_id, body.token_id),
)  # fmt: skip
KIND = build_kind(NFT)
