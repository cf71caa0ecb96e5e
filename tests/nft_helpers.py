"""Helpers for the NFT tests: transactions of every NFT kind from deterministic keys, and blocks
applied to a dict of records (`DictView`) without mining."""

from __future__ import annotations

from helpers import DictView, key

from coinium.consensus.block_rules import check_transaction_sanity
from coinium.consensus.state_transition import apply_block
from coinium.core.account import Account
from coinium.core.block import Block
from coinium.core.header import Header
from coinium.core.kinds import nft
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
from coinium.core.kinds.nft.common import NO_ACCOUNT, NO_HASH
from coinium.core.kinds.nft.offer import Offer
from coinium.core.params import BLOCK_VERSION, REGTEST
from coinium.core.state import NS_ACCOUNT
from coinium.core.transaction import Transaction
from coinium.crypto.hashes import blake3_256

CID = REGTEST.chain_id
CONTENT = b'{"name": "a picture"}'
URI = b"ipfs://bafy-example"
HASH = blake3_256(CONTENT)


WALLETS: dict[bytes, Wallet] = {}  # by public key, for `unsend`


def unsend(txs) -> None:
    """Give back the nonces of transactions a refused block held."""
    for tx in txs:
        WALLETS[tx.sender].nonce -= 1


class Wallet:
    """Signs NFT transactions for one key, counting its account nonce."""

    def __init__(self, n: int, nonce: int = 0, fee: int = 10):
        WALLETS[key(n).public_key] = self
        self.key = key(n)
        self.account = self.key.account
        self.nonce = nonce
        self.fee = fee

    def _tx(self, number: int, body) -> Transaction:
        tx = nft.signed_tx(number, self.key, CID, self.nonce, self.fee, body)
        self.nonce += 1
        return tx

    def create_class(self, class_id=b"art", *, royalty_bps=500, royalty_to=None, max_supply=0,
                     minter=0, flags=1, uri=URI, content_hash=HASH, name=b"Art", symbol=b"ART"):
        body = create_class.Body(class_id, name, symbol, uri, content_hash, royalty_bps,
                                 royalty_to or self.account, max_supply, minter, flags)
        return self._tx(create_class.NUMBER, body)

    def mint(self, token_id, owner=None, class_id=b"art", uri=URI, content_hash=HASH):
        body = mint.Body(class_id, token_id, owner or self.account, uri, content_hash)
        return self._tx(mint.NUMBER, body)

    def transfer(self, token_id, to, class_id=b"art"):
        return self._tx(transfer.NUMBER, transfer.Body(class_id, token_id, to))

    def burn(self, token_id, class_id=b"art"):
        return self._tx(burn.NUMBER, burn.Body(class_id, token_id))

    def approve(self, token_id, operator=NO_ACCOUNT, class_id=b"art"):
        return self._tx(approve.NUMBER, approve.Body(class_id, token_id, operator))

    def set_operator(self, operator, approved=True):
        return self._tx(set_operator.NUMBER, set_operator.Body(operator, int(approved)))

    def update(self, token_id, uri=b"ipfs://new", content_hash=None, class_id=b"art"):
        body = update_metadata.Body(class_id, token_id, uri,
                                    blake3_256(uri) if content_hash is None else content_hash)
        return self._tx(update_metadata.NUMBER, body)

    def offer(self, token_id, price, expiry=1000, offer_nonce=1, class_id=b"art") -> Offer:
        return Offer(self.key.public_key, class_id, token_id, price, expiry,
                     offer_nonce).signed(self.key, CID)

    def buy(self, offer: Offer):
        return self._tx(sale.NUMBER, offer)

    def cancel(self, offer_nonce):
        return self._tx(cancel_offer.NUMBER, cancel_offer.Body(offer_nonce))


def funded(*wallets: Wallet, balance: int = 10**12) -> DictView:
    return DictView({(NS_ACCOUNT, w.account): Account(balance, 0).encode() for w in wallets})


def block_of(txs, height: int = 1) -> Block:
    coinbase = Transaction.coinbase(height, bytes(20), 0)
    header = Header(BLOCK_VERSION, height, bytes(32), bytes(32), bytes(32), 0, 0x207FFFFF, 0)
    return Block(header, (coinbase, *txs))


def apply(view: DictView, txs, height: int = 1):
    """Check and apply ``txs`` as one block on ``view`` (unchanged when the block is
    invalid): each transaction's stateless rules as `check_block` runs them, then the state."""
    for tx in txs:
        check_transaction_sanity(tx)
    delta = apply_block(block_of(txs, height), view, REGTEST)
    view.apply(delta)
    return delta


__all__ = ["CID", "CONTENT", "HASH", "NO_ACCOUNT", "NO_HASH", "URI", "Wallet", "apply",
           "block_of", "funded", "unsend"]
