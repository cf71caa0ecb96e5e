"""NFT_CANCEL_OFFER (kind 40): spend one of the sender's offer nonces, so that no sale can use an
offer signed with it (a seller who changed its mind, or whose offer leaked).

Body: ``offer nonce u64``. Rules: the nonce is unused (`bad-nft-offer-used`). Recipient: the
sender.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from coinium.core.kinds.nft.common import NS_NFT_OFFER, PRESENT, NftKind, build_kind, offer_key

NUMBER = 40


@dataclass(frozen=True, slots=True)
class Body:
    offer_nonce: int

    def encode(self) -> bytes:
        return struct.pack("<Q", self.offer_nonce)


def apply(tx, body: Body, sender: bytes, state, fail) -> None:
    key = offer_key(sender, body.offer_nonce)
    if state.get(NS_NFT_OFFER, key) is not None:
        raise fail("bad-nft-offer-used", f"offer nonce {body.offer_nonce} is already spent")
    state.put(NS_NFT_OFFER, key, PRESENT)


NFT = NftKind(
    number=NUMBER, name="nft_cancel_offer", max_body=8,
    read_body=lambda r: Body(r.u64("offer_nonce")), recipient=lambda body: None,
    amount=lambda body: 0, check=lambda body, fail: None, apply=apply,
    touches=lambda body, sender: [(NS_NFT_OFFER, offer_key(sender, body.offer_nonce))],
    to_json=lambda body, show: {"offernonce": body.offer_nonce},
)  # fmt: skip
KIND = build_kind(NFT)
