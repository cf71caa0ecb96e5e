"""A seller's signed offer to sell one token at a price, carried by the buyer's NFT_SALE.

Encoding: ``seller public key 32 | class id | token id | price u64 | expiry height u32 |
offer nonce u64 | signature 64``. The signature covers `offer_hash`: BLAKE3 of
``b"coinium nft offer v1" | chain id u32 | the offer without its signature``, so an offer made on
one network is worthless on another, and an offer is never mistaken for a transaction. The offer
nonce is the seller's choice; once a sale uses it (or NFT_CANCEL_OFFER cancels it) it is spent for
good: record ``seller account id 20 | nonce u64 big-endian`` in namespace 0x23.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from coinium.core.codec import Reader
from coinium.core.kinds.nft.common import (
    MAX_CLASS_ID,
    MAX_TOKEN_ID,
    SIGNATURE_SIZE,
    id_field,
    read_id,
    read_money,
)
from coinium.crypto.hashes import blake3_256

DOMAIN = b"coinium nft offer v1"
_TAIL = struct.Struct("<QIQ")  # price, expiry height, offer nonce
MAX_SIZE = 32 + 2 + MAX_CLASS_ID + MAX_TOKEN_ID + _TAIL.size + SIGNATURE_SIZE


@dataclass(frozen=True, slots=True)
class Offer:
    seller: bytes  # public key
    class_id: bytes
    token_id: bytes
    price: int
    expiry: int  # the last height at which a sale may use it
    nonce: int
    signature: bytes = bytes(SIGNATURE_SIZE)

    def unsigned(self) -> bytes:
        return self.seller + id_field(self.class_id) + id_field(self.token_id) \
            + _TAIL.pack(self.price, self.expiry, self.nonce)

    def encode(self) -> bytes:
        return self.unsigned() + self.signature

    def signed(self, key, chain_id: int) -> Offer:
        """This offer signed by ``key`` (a `PrivateKey`, whose public key is the seller)."""
        if key.public_key != self.seller:
            raise ValueError("the offer names another seller than this key")
        return replace(self, signature=key.sign(offer_hash(self, chain_id)))


def offer_hash(offer: Offer, chain_id: int) -> bytes:
    return blake3_256(DOMAIN + struct.pack("<I", chain_id) + offer.unsigned())


def read_offer(r: Reader) -> Offer:
    seller = r.fixed(32, "offer.seller")
    class_id = read_id(r, "offer.class_id", MAX_CLASS_ID)
    token_id = read_id(r, "offer.token_id", MAX_TOKEN_ID)
    price = read_money(r, "offer.price")
    expiry, nonce = struct.unpack("<IQ", r.fixed(12, "offer.terms"))
    return Offer(seller, class_id, token_id, price, expiry, nonce,
                 r.fixed(SIGNATURE_SIZE, "offer.signature"))  # fmt: skip
