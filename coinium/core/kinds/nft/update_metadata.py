"""NFT_UPDATE_METADATA (kind 38): point a token (or the class itself) at new content.

Body: ``class id | token id (empty: the class's own metadata) | uri (u16 length) |
content hash 32``.

Rules: only the class's creator updates (`bad-nft-not-creator`), and only in a class created with
mutable metadata (`bad-nft-metadata-frozen`); the token exists (`bad-nft-no-token`); a URI comes
with its content hash (`bad-nft-content-hash`). Recipient: the sender.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from coinium.core.codec import Reader
from coinium.core.kinds.nft.common import (
    MAX_CLASS_ID,
    MAX_TOKEN_ID,
    MAX_URI,
    NS_NFT_CLASS,
    NS_NFT_TOKEN,
    NftKind,
    build_kind,
    check_metadata,
    id_field,
    id_json,
    load_class,
    load_token,
    put_token,
    read_id,
    read_uri,
    token_key,
    uri_field,
)

NUMBER = 38


@dataclass(frozen=True, slots=True)
class Body:
    class_id: bytes
    token_id: bytes
    uri: bytes
    content_hash: bytes

    def encode(self) -> bytes:
        return id_field(self.class_id) + id_field(self.token_id) + uri_field(self.uri) \
            + self.content_hash


def read(r: Reader) -> Body:
    class_id = read_id(r, "class_id", MAX_CLASS_ID)
    token_id = read_id(r, "token_id", MAX_TOKEN_ID, allow_empty=True)
    return Body(class_id, token_id, read_uri(r), r.fixed(32, "content_hash"))


def apply(tx, body: Body, sender: bytes, state, fail) -> None:
    cls = load_class(state, body.class_id, fail)
    if sender != cls.creator:
        raise fail("bad-nft-not-creator", "only the class's creator updates metadata")
    if not cls.mutable:
        raise fail("bad-nft-metadata-frozen", f"class {body.class_id.decode()!r} has frozen "
                   "metadata")  # fmt: skip
    if not body.token_id:
        state.put(NS_NFT_CLASS, body.class_id,
                  replace(cls, uri=body.uri, content_hash=body.content_hash).encode())
        return
    token = load_token(state, body.class_id, body.token_id, fail)
    put_token(state, body.class_id, body.token_id,
              replace(token, uri=body.uri, content_hash=body.content_hash))


def _token(body: Body) -> bytes | None:
    return token_key(body.class_id, body.token_id) if body.token_id else None


NFT = NftKind(
    number=NUMBER, name="nft_update_metadata",
    max_body=2 + MAX_CLASS_ID + MAX_TOKEN_ID + 2 + MAX_URI + 32,
    read_body=read, recipient=lambda body: None, amount=lambda body: 0,
    check=lambda body, fail: check_metadata(body.uri, body.content_hash, fail), apply=apply,
    touches=lambda body, sender: [(NS_NFT_CLASS, body.class_id)] + (
        [(NS_NFT_TOKEN, token_key(body.class_id, body.token_id))] if body.token_id else []),
    to_json=lambda body, show: {**id_json(body.class_id, body.token_id or None),
                                "uri": body.uri.decode(), "contenthash": body.content_hash.hex()},
    token=_token,
)  # fmt: skip
KIND = build_kind(NFT)
