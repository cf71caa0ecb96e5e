"""Native NFTs: classes (collections) and their tokens, approvals, content-hashed metadata and
atomic sales with royalties paid by consensus. Kinds 32-40, namespaces 0x20-0x23; one module per
kind, `common` for what they share, `offer` for the seller's signed offer. See PROTOCOL.md."""

from __future__ import annotations

from coinium.core.kinds.nft import (
    approve,
    burn,
    cancel_offer,
    create_class,
    mint,
    sale,
    set_operator,
    transfer,
    update_metadata,
)
from coinium.core.kinds.nft.common import SIGNATURE_SIZE, NftKind, body_of

MODULES = (create_class, mint, transfer, burn, approve, set_operator, update_metadata, sale,
           cancel_offer)
NFT_KINDS = {m.NUMBER: m.NFT for m in MODULES}  # kind number -> its NftKind
KINDS = tuple(m.KIND for m in MODULES)


def unsigned_tx(number: int, sender: bytes, nonce: int, fee: int, body):
    """An unsigned NFT transaction of kind ``number`` carrying ``body`` (that kind's Body, or an
    Offer for a sale), with the recipient and amount the body implies."""
    from coinium.core.transaction import Transaction, TxKind
    from coinium.crypto.address import account_id

    nft = NFT_KINDS[number]
    recipient = nft.recipient(body)
    return Transaction(TxKind(number), account_id(sender) if recipient is None else recipient,
                       nft.amount(body), nonce, fee, sender, body.encode(),
                       bytes(SIGNATURE_SIZE))  # fmt: skip


def signed_tx(number: int, key, chain_id: int, nonce: int, fee: int, body):
    """`unsigned_tx` from ``key``'s public key, signed by ``key`` for ``chain_id``."""
    from coinium.core.transaction import signing_hash

    tx = unsigned_tx(number, key.public_key, nonce, fee, body)
    return tx.with_signature(key.sign(signing_hash(tx, chain_id)))


def nft_kind_of(tx) -> NftKind | None:
    return NFT_KINDS.get(int(tx.kind))


def token_of(tx) -> bytes | None:
    """The key of the token an NFT transaction is about (None: not an NFT kind, or no token)."""
    nft = NFT_KINDS.get(int(tx.kind))
    return None if nft is None else nft.token(body_of(tx, nft))
