"""NFT kinds: golden bytes, codec round trips, every rule with its reason code, royalties exact,
offers (expired, reused, foreign-signed, cancelled), approvals cleared on transfer. Blocks are
applied to a dict of records with real signatures; an invalid block leaves the records as they
were (apply_block raises before anything is written)."""

from __future__ import annotations

import pytest
from helpers import key
from hypothesis import given, settings
from hypothesis import strategies as st
from nft_helpers import CID, HASH, URI, Wallet, apply, funded, unsend

from coinium.consensus.errors import ConsensusError
from coinium.core.account import Account
from coinium.core.codec import DecodeError
from coinium.core.kinds import KINDS
from coinium.core.kinds.nft.common import NO_HASH, ClassRecord, TokenRecord, token_key
from coinium.core.kinds.nft.offer import Offer, offer_hash
from coinium.core.kinds.nft.sale import royalty_split
from coinium.core.state import NS_ACCOUNT, NS_NFT_CLASS, NS_NFT_TOKEN
from coinium.core.transaction import Transaction
from coinium.core.units import MAX_MONEY
from coinium.crypto.hashes import blake3_256


def token(view, token_id: bytes, class_id: bytes = b"art") -> TokenRecord | None:
    raw = view.get(NS_NFT_TOKEN, token_key(class_id, token_id))
    return None if raw is None else TokenRecord.decode(raw)


def balance(view, wallet: Wallet) -> int:
    return Account.decode(view.get(NS_ACCOUNT, wallet.account)).balance


def refused(view, txs, reason: str) -> None:
    before = dict(view.records)
    with pytest.raises(ConsensusError) as info:
        apply(view, txs)
    unsend(txs)
    assert info.value.reason == reason, info.value
    assert view.records == before


@pytest.fixture
def world():
    a, b, c = Wallet(1), Wallet(2), Wallet(3)
    view = funded(a, b, c)
    apply(view, [a.create_class(royalty_to=c.account, royalty_bps=250), a.mint(b"1"),
                 a.mint(b"2", owner=b.account)])  # fmt: skip
    return view, a, b, c


# --- golden bytes -----------------------------------------------------------------------------
GOLDEN = {
    "create_class": "0120" "{pk}" "0000000000000000" "0a00000000000000"
                    "03617274" "03417274" "03415254" "1300" "697066733a2f2f626166792d6578616d706c65"
                    "{hash}" "f401" "{acct}" "0000000000000000" "00" "01",
    "mint": "0121" "{pk}" "0100000000000000" "0a00000000000000" "03617274" "0131" "{acct}"
            "1300" "697066733a2f2f626166792d6578616d706c65" "{hash}",
    "transfer": "0122" "{pk}" "0200000000000000" "0a00000000000000" "03617274" "0131" "{acct}",
    "burn": "0123" "{pk}" "0300000000000000" "0a00000000000000" "03617274" "0131",
    "approve": "0124" "{pk}" "0400000000000000" "0a00000000000000" "03617274" "0131" "{bcct}",
    "set_operator": "0125" "{pk}" "0500000000000000" "0a00000000000000" "{bcct}" "01",
    "update": "0126" "{pk}" "0600000000000000" "0a00000000000000" "03617274" "0131" "0800"
              "697066733a2f2f32" "{hash2}",
    "sale": "0127" "{bpk}" "0000000000000000" "0a00000000000000" "{pk}" "03617274" "0131"
            "e803000000000000" "64000000" "0900000000000000" "{offersig}",
    "cancel": "0128" "{pk}" "0700000000000000" "0a00000000000000" "0b00000000000000",
}


def test_golden_bytes_of_the_nft_kinds():
    a, b = Wallet(1), Wallet(2)
    offer = a.offer(b"1", 1000, expiry=100, offer_nonce=9)
    fields = {"pk": a.key.public_key.hex(), "hash": HASH.hex(), "acct": a.account.hex(),
              "bcct": b.account.hex(), "bpk": b.key.public_key.hex(),
              "hash2": blake3_256(b"ipfs://2").hex(), "offersig": offer.signature.hex()}
    txs = {"create_class": a.create_class(), "mint": a.mint(b"1"),
           "transfer": a.transfer(b"1", a.account), "burn": a.burn(b"1"),
           "approve": a.approve(b"1", b.account), "set_operator": a.set_operator(b.account),
           "update": a.update(b"1", uri=b"ipfs://2"), "sale": b.buy(offer),
           "cancel": a.cancel(11)}  # fmt: skip
    for name, tx in txs.items():
        unsigned = tx.raw[: -64].hex()
        assert unsigned == GOLDEN[name].format(**fields), name
        assert Transaction.decode(tx.raw) == tx
        assert len(tx.raw) <= KINDS[tx.kind].max_size


def test_every_nft_kind_round_trips_and_names_itself_in_errors(world):
    view, a, b, c = world
    offer = a.offer(b"1", 100)
    for tx in (a.create_class(b"x"), a.mint(b"9"), a.transfer(b"1", b.account), a.burn(b"1"),
               a.approve(b"1", b.account), a.set_operator(b.account), a.update(b"1"),
               b.buy(offer), a.cancel(5)):  # fmt: skip
        assert Transaction.decode(tx.raw) == tx
        with pytest.raises(DecodeError) as info:
            Transaction.decode(tx.raw[:-65])
        assert info.value.what.startswith(f"tx.{KINDS[tx.kind].name}.")


@pytest.mark.parametrize("bad_id", [b"", b"UPPER", b"sp ace", b"x" * 33, b"a/b"])
def test_identifiers_are_fixed_by_consensus(bad_id):
    a = Wallet(1)
    tx = a.create_class(b"ok")
    raw = tx.raw.replace(b"\x02ok", bytes((len(bad_id),)) + bad_id, 1)
    with pytest.raises(DecodeError) as info:
        Transaction.decode(raw)
    assert info.value.what.startswith("tx.nft_create_class.class_id")


# --- rules and reason codes -------------------------------------------------------------------
def test_create_mint_and_records(world):
    view, a, b, c = world
    cls = ClassRecord.decode(view.get(NS_NFT_CLASS, b"art"))
    assert (cls.creator, cls.minted, cls.burned, cls.royalty_bps) == (a.account, 2, 0, 250)
    assert token(view, b"1") == TokenRecord(a.account, bytes(20), URI, HASH)
    assert token(view, b"2").owner == b.account


def test_bad_inputs_each_have_their_reason_code(world):
    view, a, b, c = world
    refused(view, [a.create_class()], "bad-nft-class-exists")
    refused(view, [a.mint(b"1")], "bad-nft-token-exists")
    refused(view, [b.mint(b"7")], "bad-nft-not-minter")
    refused(view, [a.mint(b"7", class_id=b"nope")], "bad-nft-no-class")
    refused(view, [b.transfer(b"1", c.account)], "bad-nft-not-owner")
    refused(view, [b.burn(b"1")], "bad-nft-not-owner")
    refused(view, [a.transfer(b"404", c.account)], "bad-nft-no-token")
    refused(view, [a.mint(b"7", content_hash=NO_HASH)], "bad-nft-content-hash")
    refused(view, [a.create_class(b"r", royalty_bps=10_001)], "bad-nft-royalty")
    refused(view, [b.update(b"2")], "bad-nft-not-creator")
    refused(view, [a.set_operator(a.account)], "bad-nft-operator-self")
    refused(view, [b.approve(b"1", c.account)], "bad-nft-not-owner")


def test_max_supply_counts_every_mint_even_burned():
    a = Wallet(1)
    view = funded(a)
    apply(view, [a.create_class(b"cap", max_supply=2), a.mint(b"1", class_id=b"cap"),
                 a.mint(b"2", class_id=b"cap"), a.burn(b"1", class_id=b"cap")])  # fmt: skip
    refused(view, [a.mint(b"3", class_id=b"cap")], "bad-nft-supply")
    assert ClassRecord.decode(view.get(NS_NFT_CLASS, b"cap")).burned == 1


def test_frozen_metadata_cannot_change_and_mutable_can():
    a = Wallet(1)
    view = funded(a)
    apply(view, [a.create_class(b"frozen", flags=0), a.mint(b"1", class_id=b"frozen"),
                 a.create_class(b"live", flags=1), a.mint(b"1", class_id=b"live")])  # fmt: skip
    refused(view, [a.update(b"1", class_id=b"frozen")], "bad-nft-metadata-frozen")
    apply(view, [a.update(b"1", uri=b"ar://v2", class_id=b"live"), a.update(b"", class_id=b"live")])
    assert token(view, b"1", b"live").uri == b"ar://v2"


def test_approvals_one_per_token_cleared_on_transfer(world):
    view, a, b, c = world
    apply(view, [a.approve(b"1", b.account), a.approve(b"1", c.account)])  # one per token
    assert token(view, b"1").approved == c.account
    refused(view, [b.transfer(b"1", b.account)], "bad-nft-not-owner")
    apply(view, [c.transfer(b"1", b.account)])  # the approved operator moves it
    assert token(view, b"1") == TokenRecord(b.account, bytes(20), URI, HASH)  # approval cleared
    refused(view, [c.transfer(b"1", c.account)], "bad-nft-not-owner")


def test_operator_for_all_moves_any_token_until_revoked(world):
    view, a, b, c = world
    apply(view, [b.set_operator(c.account)])
    apply(view, [c.transfer(b"2", a.account)])
    assert token(view, b"2").owner == a.account
    apply(view, [a.transfer(b"2", b.account), b.set_operator(c.account, approved=False)])
    refused(view, [c.transfer(b"2", c.account)], "bad-nft-not-owner")


def test_burn_deletes_the_record(world):
    view, a, b, c = world
    apply(view, [b.burn(b"2")])
    assert token(view, b"2") is None


# --- sales ------------------------------------------------------------------------------------
def test_sale_pays_price_and_royalty_exactly(world):
    view, a, b, c = world
    before = {w: balance(view, w) for w in (a, b, c)}
    apply(view, [b.buy(a.offer(b"1", 1_000_003))])
    royalty = 1_000_003 * 250 // 10_000
    assert balance(view, c) - before[c] == royalty
    assert balance(view, a) - before[a] == 1_000_003 - royalty
    assert before[b] - balance(view, b) == 1_000_003 + b.fee
    assert token(view, b"1").owner == b.account


@settings(max_examples=200, deadline=None)
@given(st.integers(0, MAX_MONEY), st.integers(0, 10_000))
def test_royalty_split_creates_and_destroys_nothing(price, bps):
    royalty, rest = royalty_split(price, bps)
    assert royalty + rest == price and 0 <= royalty <= price
    assert royalty * 10_000 <= price * bps < (royalty + 1) * 10_000


def test_expired_reused_foreign_and_cancelled_offers_are_refused(world):
    view, a, b, c = world
    refused(view, [b.buy(a.offer(b"1", 5, expiry=0))], "bad-nft-offer-expired")
    refused(view, [b.buy(c.offer(b"1", 5))], "bad-nft-offer-seller")  # c does not own art/1
    forged = Offer(a.key.public_key, b"art", b"1", 5, 1000, 9).signed(a.key, CID + 1)
    refused(view, [b.buy(forged)], "bad-nft-offer-signature")  # signed for another network
    tampered = Offer(a.key.public_key, b"art", b"1", 1, 1000, 3,
                     a.offer(b"1", 500, offer_nonce=3).signature)
    refused(view, [b.buy(tampered)], "bad-nft-offer-signature")  # price changed after signing
    offer = a.offer(b"1", 5, offer_nonce=7)
    apply(view, [b.buy(offer)])
    apply(view, [b.transfer(b"1", a.account)])
    refused(view, [c.buy(offer)], "bad-nft-offer-used")  # a owns it again: still spent
    apply(view, [a.cancel(8)])
    refused(view, [c.buy(a.offer(b"1", 5, offer_nonce=8))], "bad-nft-offer-used")
    refused(view, [a.buy(a.offer(b"1", 5, offer_nonce=10))], "bad-nft-sale-self")


def test_a_buyer_without_the_price_is_refused(world):
    view, a, b, c = world
    poor = Wallet(9)
    view.records[(NS_ACCOUNT, poor.account)] = Account(100, 0).encode()
    refused(view, [poor.buy(a.offer(b"1", 100))], "bad-txns-in-belowout")  # price + fee > 100


def test_one_bad_transaction_makes_the_whole_block_invalid(world):
    view, a, b, c = world
    refused(view, [a.transfer(b"1", c.account), b.transfer(b"1", b.account)], "bad-nft-not-owner")
    assert token(view, b"1").owner == a.account


def test_keys_are_deterministic():
    assert key(1).account == Wallet(1).account


def test_max_size_is_each_nft_kind_s_longest_encoding():
    a = Wallet(1)
    longest = a.create_class(b"c" * 32, name=b"n" * 64, symbol=b"S" * 16, uri=b"u" * 256)
    assert len(longest.raw) == KINDS[longest.kind].max_size
    longest = a.mint(b"t" * 64, class_id=b"c" * 32, uri=b"u" * 256)
    assert len(longest.raw) == KINDS[longest.kind].max_size
    longest = a.buy(Offer(a.key.public_key, b"c" * 32, b"t" * 64, 1, 1, 1))
    assert len(longest.raw) == KINDS[longest.kind].max_size


# --- codecs under random input ----------------------------------------------------------------
ID = st.text("abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=32).map(str.encode)
URIS = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=256)


@settings(max_examples=150, deadline=None)
@given(ID, ID, st.binary(min_size=20, max_size=20), URIS, st.binary(min_size=32, max_size=32),
       st.integers(0, MAX_MONEY), st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1))
def test_bodies_and_offers_round_trip(class_id, token_id, owner, uri, digest, price, expiry,
                                      nonce):  # fmt: skip
    a = Wallet(1)
    mint_tx = a.mint(token_id, owner=owner, class_id=class_id, uri=uri.encode(),
                     content_hash=digest)  # fmt: skip
    assert Transaction.decode(mint_tx.raw) == mint_tx and mint_tx.recipient == owner
    offer = Offer(a.key.public_key, class_id, token_id, price, expiry, nonce)
    sale_tx = a.buy(offer)
    decoded = Transaction.decode(sale_tx.raw)
    assert decoded == sale_tx and decoded.amount == price
    assert decoded.recipient == a.account  # the seller


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(range(32, 41)), st.binary(max_size=600))
def test_random_payloads_are_a_decode_error_or_a_transaction(kind, payload):
    raw = bytes((1, kind)) + payload
    try:
        tx = Transaction.decode(raw)
    except DecodeError:
        return
    assert tx.raw == raw and tx.kind == kind


def _valid_nft_txs():
    a, b = Wallet(1), Wallet(2)
    return [a.create_class(), a.mint(b"1"), a.transfer(b"1", b.account), a.burn(b"1"),
            a.approve(b"1", b.account), a.set_operator(b.account), a.update(b"1"),
            b.buy(a.offer(b"1", 7)), a.cancel(3)]  # fmt: skip


VALID = _valid_nft_txs()


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(VALID), st.data())
def test_a_changed_byte_is_a_decode_error_or_another_canonical_transaction(tx, data):
    position = data.draw(st.integers(2, len(tx.raw) - 65))  # not the signature
    raw = bytearray(tx.raw)
    raw[position] ^= data.draw(st.integers(1, 255))
    try:
        decoded = Transaction.decode(bytes(raw))
    except DecodeError:
        return
    assert decoded.raw == bytes(raw) and decoded.txid != tx.txid


def test_golden_offer_hash_and_records():
    a = Wallet(1)
    offer = a.offer(b"1", 1000, expiry=100, offer_nonce=9)
    unsigned = a.key.public_key + bytes.fromhex("036172740131" "e803000000000000" "64000000"
                                                "0900000000000000")  # fmt: skip
    assert offer.unsigned() == unsigned
    assert offer_hash(offer, CID) == blake3_256(b"coinium nft offer v1"
                                                + CID.to_bytes(4, "little") + unsigned)
    assert offer_hash(offer, CID) != offer_hash(offer, CID + 1)
    token = TokenRecord(a.account, bytes(20), b"ar://x", bytes(range(32)))
    assert token.encode() == a.account + bytes(20) + b"\x06\x00ar://x" + bytes(range(32))
    assert TokenRecord.decode(token.encode()) == token
    cls = ClassRecord(a.account, 250, a.account, 10, 3, 1, 1, 1, b"Art", b"ART", b"", NO_HASH)
    assert cls.encode() == (a.account + b"\xfa\x00" + a.account + (10).to_bytes(8, "little")
                            + (3).to_bytes(8, "little") + (1).to_bytes(8, "little") + b"\x01\x01"
                            + b"\x03Art\x03ART\x00\x00" + NO_HASH)  # fmt: skip
    assert ClassRecord.decode(cls.encode()) == cls
    with pytest.raises(DecodeError):
        TokenRecord.decode(token.encode()[:-1])
