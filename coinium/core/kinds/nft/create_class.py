"""NFT_CREATE_CLASS (kind 32): create a class (a collection) of tokens.

Body: ``class id | name (u8 length, UTF-8) | symbol (u8 length, A-Z 0-9) | uri (u16 length) |
content hash 32 | royalty_bps u16 | royalty recipient 20 | max_supply u64 (0: none) |
minter u8 (0: the creator only, 1: anyone) | flags u8 (bit 0: token metadata may change)``.

Rules: the id is not taken (`bad-nft-class-exists`); royalty at most 10,000 basis points
(`bad-nft-royalty`); a URI comes with its content hash (`bad-nft-content-hash`). The sender is the
class's creator. Recipient (address index): the royalty recipient.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from coinium.core.codec import Reader
from coinium.core.kinds.nft.common import (
    MAX_CLASS_ID,
    MAX_NAME,
    MAX_ROYALTY_BPS,
    MAX_SYMBOL,
    MAX_URI,
    NS_NFT_CLASS,
    ClassRecord,
    NftKind,
    build_kind,
    check_metadata,
    id_field,
    read_flag,
    read_id,
    read_name,
    read_symbol,
    read_uri,
    uri_field,
)

NUMBER = 32
_TAIL = struct.Struct("<32sH20sQ")  # content hash, royalty bps, royalty recipient, max supply


@dataclass(frozen=True, slots=True)
class Body:
    class_id: bytes
    name: bytes
    symbol: bytes
    uri: bytes
    content_hash: bytes
    royalty_bps: int
    royalty_to: bytes
    max_supply: int
    minter: int
    flags: int

    def encode(self) -> bytes:
        return (id_field(self.class_id) + bytes((len(self.name),)) + self.name
                + bytes((len(self.symbol),)) + self.symbol + uri_field(self.uri)
                + _TAIL.pack(self.content_hash, self.royalty_bps, self.royalty_to,
                             self.max_supply) + bytes((self.minter, self.flags)))  # fmt: skip


def read(r: Reader) -> Body:
    class_id = read_id(r, "class_id", MAX_CLASS_ID)
    name, symbol, uri = read_name(r), read_symbol(r), read_uri(r)
    content_hash, bps, royalty_to, max_supply = _TAIL.unpack(r.fixed(_TAIL.size, "terms"))
    return Body(class_id, name, symbol, uri, content_hash, bps, royalty_to, max_supply,
                read_flag(r, "minter"), read_flag(r, "flags"))  # fmt: skip


def check(body: Body, fail) -> None:
    if body.royalty_bps > MAX_ROYALTY_BPS:
        raise fail("bad-nft-royalty", f"royalty {body.royalty_bps} bps above {MAX_ROYALTY_BPS}")
    check_metadata(body.uri, body.content_hash, fail)


def apply(tx, body: Body, sender: bytes, state, fail) -> None:
    if state.get(NS_NFT_CLASS, body.class_id) is not None:
        raise fail("bad-nft-class-exists", f"class {body.class_id.decode()!r} exists")
    record = ClassRecord(sender, body.royalty_bps, body.royalty_to, body.max_supply, 0, 0,
                         body.minter, body.flags, body.name, body.symbol, body.uri,
                         body.content_hash)  # fmt: skip
    state.put(NS_NFT_CLASS, body.class_id, record.encode())


def to_json(body: Body, show) -> dict:
    return {"class": body.class_id.decode(), "name": body.name.decode(),
            "symbol": body.symbol.decode(), "uri": body.uri.decode(),
            "contenthash": body.content_hash.hex(), "royalty_bps": body.royalty_bps,
            "royaltyrecipient": show(body.royalty_to), "maxsupply": body.max_supply,
            "minter": "anyone" if body.minter else "creator",
            "mutablemetadata": bool(body.flags & 1)}  # fmt: skip


NFT = NftKind(
    number=NUMBER, name="nft_create_class",
    max_body=1 + MAX_CLASS_ID + 1 + MAX_NAME + 1 + MAX_SYMBOL + 2 + MAX_URI + _TAIL.size + 2,
    read_body=read, recipient=lambda body: body.royalty_to, amount=lambda body: 0, check=check,
    apply=apply, touches=lambda body, sender: [(NS_NFT_CLASS, body.class_id)], to_json=to_json,
)  # fmt: skip
KIND = build_kind(NFT)
