"""NFT_SALE (kind 39): an atomic sale. The buyer's transaction carries the seller's signed
`Offer`; in one step the buyer pays the price, the class's royalty recipient gets its share, the
seller the rest, and the token moves to the buyer.

Body: the offer (see `offer.py`). Transaction amount: the price (the buyer's balance covers
price + fee). Recipient: the seller.

Rules, in this order: the block's height is at most the offer's expiry (`bad-nft-offer-expired`);
the offer's nonce is unused (`bad-nft-offer-used`); the offer's signature verifies for its seller
on this network (`bad-nft-offer-signature`); the token exists (`bad-nft-no-token`); the seller
owns it (`bad-nft-offer-seller`: an offer signed by anyone else is refused); the buyer is not the
seller (`bad-nft-sale-self`).

Royalty = price × royalty_bps // 10,000 (rounded down), paid to the class's recipient; the seller
gets price − royalty: the units the buyer pays are exactly the units paid out. The token's
approved operator is cleared and the offer nonce spent.
"""

from __future__ import annotations

from dataclasses import replace

from coinium import kernels
from coinium.core.kinds.nft.common import (
    NO_ACCOUNT,
    NS_NFT_CLASS,
    NS_NFT_OFFER,
    NS_NFT_TOKEN,
    PRESENT,
    NftKind,
    build_kind,
    credit,
    id_json,
    load_class,
    load_token,
    offer_key,
    put_token,
    token_key,
)
from coinium.core.kinds.nft.offer import MAX_SIZE, Offer, offer_hash, read_offer
from coinium.crypto.address import account_id

NUMBER = 39
BPS = 10_000


def royalty_split(price: int, royalty_bps: int) -> tuple[int, int]:
    """(royalty, seller's share): integers that always add up to the price."""
    royalty = price * royalty_bps // BPS
    return royalty, price - royalty


def apply(tx, offer: Offer, buyer: bytes, state, fail) -> None:
    height = state.context.height
    if height > offer.expiry:
        raise fail("bad-nft-offer-expired", f"offer expired at height {offer.expiry}, block is "
                   f"{height}")  # fmt: skip
    seller = account_id(offer.seller)
    used = offer_key(seller, offer.nonce)
    if state.get(NS_NFT_OFFER, used) is not None:
        raise fail("bad-nft-offer-used", f"offer nonce {offer.nonce} of this seller is spent")
    if not kernels.verify_batch([offer.seller], [offer_hash(offer, state.context.params.chain_id)],
                                [offer.signature])[0]:  # fmt: skip
        raise fail("bad-nft-offer-signature", "the offer's signature does not verify")
    token = load_token(state, offer.class_id, offer.token_id, fail)
    if token.owner != seller:
        raise fail("bad-nft-offer-seller", "the offer's signer does not own the token")
    if buyer == seller:
        raise fail("bad-nft-sale-self", "a seller cannot buy its own offer")
    cls = load_class(state, offer.class_id, fail)
    royalty, proceeds = royalty_split(offer.price, cls.royalty_bps)
    credit(state, cls.royalty_to, royalty, fail)
    credit(state, seller, proceeds, fail)
    put_token(state, offer.class_id, offer.token_id,
              replace(token, owner=buyer, approved=NO_ACCOUNT))  # fmt: skip
    state.put(NS_NFT_OFFER, used, PRESENT)


def to_json(offer: Offer, show) -> dict:
    return {**id_json(offer.class_id, offer.token_id), "seller": show(account_id(offer.seller)),
            "price_units": offer.price, "expiry": offer.expiry, "offernonce": offer.nonce}


NFT = NftKind(
    number=NUMBER, name="nft_sale", max_body=MAX_SIZE,
    read_body=read_offer, recipient=lambda offer: account_id(offer.seller),
    amount=lambda offer: offer.price, check=lambda offer, fail: None, apply=apply,
    touches=lambda offer, buyer: [
        (NS_NFT_CLASS, offer.class_id), (NS_NFT_TOKEN, token_key(offer.class_id, offer.token_id)),
        (NS_NFT_OFFER, offer_key(account_id(offer.seller), offer.nonce))],
    to_json=to_json, token=lambda offer: token_key(offer.class_id, offer.token_id),
)  # fmt: skip
KIND = build_kind(NFT)
