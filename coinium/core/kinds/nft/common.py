"""What every NFT kind shares: identifiers, metadata fields, the state records, and the frame that
turns one kind's body codec and rule into a registry `Kind`.

Every NFT transaction is ``version u8 | kind u8 | sender public key 32 | nonce u64 | fee u64 |
body | signature 64``. The body is the kind's own fields (its module's ``Body``); the
`Transaction` keeps it as ``payload``, and derives ``recipient`` (the account the transaction is
about, for the address index: new owner, operator, seller; the sender itself when there is none)
and ``amount`` (a sale's price; 0 otherwise) from it, so every field has one encoding.

Identifiers (consensus): a class id is 1 to 32 bytes, a token id 1 to 64 bytes, both of
``a-z 0-9 . _ -``; each is written as ``length u8 | bytes``. A token is named ``CLASS/TOKEN``.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from coinium.core.account import Account
from coinium.core.codec import DecodeError, Reader
from coinium.core.errors import TransactionError
from coinium.core.kinds import Fields, Kind
from coinium.core.kinds.signed import (
    SIGNATURE_SIZE,
    check_signed_fields,
    check_total,
    debit_sender,
)
from coinium.core.state import (
    NS_ACCOUNT,
    NS_NFT_CLASS,
    NS_NFT_OFFER,
    NS_NFT_OPERATOR,
    NS_NFT_TOKEN,
    BlockState,
    RecordKey,
)
from coinium.core.units import MAX_MONEY
from coinium.crypto.address import account_id

if TYPE_CHECKING:
    from coinium.core.transaction import Transaction

# The NFT namespaces (the kinds import them from here).
NFT_NAMESPACES = (NS_NFT_CLASS, NS_NFT_TOKEN, NS_NFT_OPERATOR, NS_NFT_OFFER)
MAX_CLASS_ID = 32
MAX_TOKEN_ID = 64
MAX_NAME = 64
MAX_SYMBOL = 16
MAX_URI = 256
HASH_SIZE = 32
ACCOUNT_SIZE = 20
NO_ACCOUNT = bytes(ACCOUNT_SIZE)  # "no operator"
NO_HASH = bytes(HASH_SIZE)
MAX_ROYALTY_BPS = 10_000  # 100.00 %
ID_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789._-")
URI_CHARS = frozenset(range(0x21, 0x7F))  # printable ASCII, no space
SYMBOL_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
HEAD = struct.Struct("<32sQQ")  # sender, nonce, fee

# Minter policies of a class.
MINT_CREATOR = 0  # only the class's creator mints
MINT_ANYONE = 1
# Class flags.
FLAG_MUTABLE_METADATA = 1


# --- field codecs -----------------------------------------------------------------------------
def read_id(r: Reader, what: str, limit: int, *, allow_empty: bool = False) -> bytes:
    start = r.offset
    size = r.u8(f"{what}_length")
    if size > limit or (size == 0 and not allow_empty):
        raise r.fail(f"{what}_length", start, f"an identifier is 1 to {limit} bytes, not {size}")
    value = r.fixed(size, what)
    if not set(value) <= ID_CHARS:
        raise r.fail(what, start + 1, "an identifier uses only a-z 0-9 . _ -")
    return value


def id_field(value: bytes) -> bytes:
    return bytes((len(value),)) + value


def read_uri(r: Reader, what: str = "uri") -> bytes:
    start = r.offset
    uri = r.var_bytes(what, MAX_URI)
    if not set(uri) <= URI_CHARS:
        raise r.fail(what, start + 2, "a URI is printable ASCII without spaces")
    return uri


def uri_field(uri: bytes) -> bytes:
    return struct.pack("<H", len(uri)) + uri


def read_name(r: Reader) -> bytes:
    start = r.offset
    size = r.u8("name_length")
    if not 0 < size <= MAX_NAME:
        raise r.fail("name_length", start, f"a name is 1 to {MAX_NAME} bytes")
    name = r.fixed(size, "name")
    try:
        text = name.decode("utf-8")
    except UnicodeDecodeError:
        raise r.fail("name", start + 1, "not UTF-8") from None
    if not text.isprintable():
        raise r.fail("name", start + 1, "control characters in a name")
    return name


def read_symbol(r: Reader) -> bytes:
    start = r.offset
    size = r.u8("symbol_length")
    if size > MAX_SYMBOL:
        raise r.fail("symbol_length", start, f"a symbol is 0 to {MAX_SYMBOL} bytes")
    symbol = r.fixed(size, "symbol")
    if not set(symbol) <= SYMBOL_CHARS:
        raise r.fail("symbol", start + 1, "a symbol uses only A-Z 0-9")
    return symbol


def read_flag(r: Reader, what: str, limit: int = 1) -> int:
    start = r.offset
    value = r.u8(what)
    if value > limit:
        raise r.fail(what, start, f"{value} is not 0 .. {limit}")
    return value


def read_money(r: Reader, what: str) -> int:
    start = r.offset
    value = r.u64(what)
    if value > MAX_MONEY:
        raise r.fail(what, start, f"{value} exceeds the money supply {MAX_MONEY}")
    return value


def decode_exact(data: bytes, context: str, read: Callable[[Reader], Any]) -> Any:
    r = Reader(data, context)
    value = read(r)
    r.finish()
    return value


# --- token names and record keys --------------------------------------------------------------
def token_key(class_id: bytes, token_id: bytes) -> bytes:
    """The token's key in namespace 0x21 (and in the indexes): ordered by class, then token."""
    return id_field(class_id) + id_field(token_id)


def split_token_key(key: bytes) -> tuple[bytes, bytes]:
    size = key[0]
    return key[1 : 1 + size], key[2 + size :]


def token_name(class_id: bytes, token_id: bytes) -> str:
    return f"{class_id.decode()}/{token_id.decode()}"


def parse_token_name(text: str) -> tuple[bytes, bytes]:
    """``CLASS/TOKEN`` -> (class id, token id); ValueError when it is not a valid name."""
    class_part, slash, token_part = text.partition("/")
    if not slash:
        raise ValueError(f"{text!r} is not CLASS/TOKEN")
    class_id, token_id = check_id(class_part, MAX_CLASS_ID), check_id(token_part, MAX_TOKEN_ID)
    return class_id, token_id


def check_id(text: str, limit: int) -> bytes:
    raw = text.encode()
    if not 0 < len(raw) <= limit or not set(raw) <= ID_CHARS:
        raise ValueError(f"{text!r}: an identifier is 1 to {limit} of a-z 0-9 . _ -")
    return raw


def operator_key(owner: bytes, operator: bytes) -> bytes:
    return owner + operator


def offer_key(seller: bytes, offer_nonce: int) -> bytes:
    return seller + offer_nonce.to_bytes(8, "big")


# --- records ----------------------------------------------------------------------------------
_CLASS_HEAD = struct.Struct("<20sH20sQQQBB")


@dataclass(frozen=True, slots=True)
class ClassRecord:
    """Namespace 0x20, key = class id: ``creator 20 | royalty_bps u16 | royalty_to 20 |
    max_supply u64 (0: none) | minted u64 | burned u64 | minter u8 | flags u8 | name (u8 length)
    | symbol (u8 length) | uri (u16 length) | content hash 32``."""

    creator: bytes
    royalty_bps: int
    royalty_to: bytes
    max_supply: int
    minted: int
    burned: int
    minter: int
    flags: int
    name: bytes
    symbol: bytes
    uri: bytes
    content_hash: bytes

    @property
    def mutable(self) -> bool:
        return bool(self.flags & FLAG_MUTABLE_METADATA)

    def encode(self) -> bytes:
        return (_CLASS_HEAD.pack(self.creator, self.royalty_bps, self.royalty_to, self.max_supply,
                                 self.minted, self.burned, self.minter, self.flags)
                + bytes((len(self.name),)) + self.name + bytes((len(self.symbol),)) + self.symbol
                + uri_field(self.uri) + self.content_hash)  # fmt: skip

    @classmethod
    def decode(cls, data: bytes) -> ClassRecord:
        def read(r: Reader) -> ClassRecord:
            head = _CLASS_HEAD.unpack(r.fixed(_CLASS_HEAD.size, "head"))
            name = r.fixed(r.u8("name_length"), "name")
            symbol = r.fixed(r.u8("symbol_length"), "symbol")
            return cls(*head, name, symbol, r.var_bytes("uri", MAX_URI), r.fixed(32, "hash"))

        return decode_exact(data, "nft_class", read)


_TOKEN_HEAD = struct.Struct("<20s20s")
_TOKEN_FRONT = struct.Struct("<20s20sH")


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """Namespace 0x21, key = `token_key`: ``owner 20 | approved operator 20 (zeros: none) |
    uri (u16 length) | content hash 32``."""

    owner: bytes
    approved: bytes
    uri: bytes
    content_hash: bytes

    def encode(self) -> bytes:
        return _TOKEN_HEAD.pack(self.owner, self.approved) + uri_field(self.uri) \
            + self.content_hash

    @classmethod
    def decode(cls, data: bytes) -> TokenRecord:
        # Listings decode a thousand of these per page: one struct call, then the exact size.
        if len(data) >= 74:
            owner, approved, size = _TOKEN_FRONT.unpack_from(data)
            if size <= MAX_URI and len(data) == 74 + size:
                return cls(owner, approved, data[42 : 42 + size], data[42 + size :])
        raise DecodeError("nft_token", 0, f"{len(data)} bytes are not a token record")


TOKEN_OWNER = slice(0, 20)  # the owner's bytes in an encoded TokenRecord (the indexes read it)
PRESENT = b"\x01"  # the value of an operator approval and of a used offer


# --- reading and writing the records inside a block -------------------------------------------
class Failure(Protocol):
    def __call__(self, reason: str, detail: str) -> TransactionError: ...


def load_class(state: BlockState, class_id: bytes, fail: Failure) -> ClassRecord:
    raw = state.get(NS_NFT_CLASS, class_id)
    if raw is None:
        raise fail("bad-nft-no-class", f"no class {class_id.decode()!r}")
    return ClassRecord.decode(raw)


def load_token(state: BlockState, class_id: bytes, token_id: bytes,
               fail: Failure) -> TokenRecord:  # fmt: skip
    raw = state.get(NS_NFT_TOKEN, token_key(class_id, token_id))
    if raw is None:
        raise fail("bad-nft-no-token", f"no token {token_name(class_id, token_id)!r}")
    return TokenRecord.decode(raw)


def put_token(state: BlockState, class_id: bytes, token_id: bytes,
              token: TokenRecord | None) -> None:  # fmt: skip
    state.put(NS_NFT_TOKEN, token_key(class_id, token_id),
              None if token is None else token.encode())  # fmt: skip


def is_operator(state: BlockState, owner: bytes, operator: bytes) -> bool:
    return state.get(NS_NFT_OPERATOR, operator_key(owner, operator)) is not None


def may_move(state: BlockState, token: TokenRecord, who: bytes) -> bool:
    """ERC-721's rule: the owner, the token's approved operator, or an operator for all of the
    owner's tokens may transfer or burn it."""
    return who == token.owner or (token.approved != NO_ACCOUNT and who == token.approved) \
        or is_operator(state, token.owner, who)


def check_metadata(uri: bytes, content_hash: bytes, fail: Failure) -> None:
    """A URI must come with the BLAKE3 hash of its content: a link alone can rot or change."""
    if uri and content_hash == NO_HASH:
        raise fail("bad-nft-content-hash", "a URI needs the BLAKE3 hash of its content")


# --- the frame of an NFT kind -----------------------------------------------------------------
class Body(Protocol):
    def encode(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class NftKind:
    """One NFT kind's own parts; `build_kind` frames them into a registry `Kind`."""

    number: int
    name: str
    max_body: int  # the longest body
    read_body: Callable[[Reader], Any]
    # The account the transaction is about (None: the sender) and the coins it moves.
    recipient: Callable[[Any], bytes | None]
    amount: Callable[[Any], int]
    # Stateless rules (``fail`` builds the TransactionError).
    check: Callable[[Any, Failure], None]
    # The kind's stateful rule and effect, given the sender's account id. The frame checks the
    # account nonce and the fee (plus ``amount``) first, and charges them after.
    apply: Callable[[Transaction, Any, bytes, BlockState, Failure], None]
    touches: Callable[[Any, bytes], list[RecordKey]]
    to_json: Callable[[Any, Callable[[bytes], str]], dict[str, Any]]
    # The token a transaction is about (its key in namespace 0x21), for the token history.
    token: Callable[[Any], bytes | None] = lambda body: None


def body_of(tx: Transaction, nft: NftKind) -> Any:
    """The transaction's decoded body. A transaction's body is decoded when it is built, when
    it is applied and when it is indexed: the cache keeps that to once (bodies are immutable,
    and the key is the exact bytes)."""
    return _decode_body(nft.number, tx.payload)


_BY_NUMBER: dict[int, NftKind] = {}  # filled by build_kind


@functools.lru_cache(maxsize=1 << 16)
def _decode_body(number: int, payload: bytes) -> Any:
    nft = _BY_NUMBER[number]
    return decode_exact(payload, f"tx.{nft.name}.body", nft.read_body)


def _failure(tx: Transaction) -> Failure:
    def fail(reason: str, detail: str) -> TransactionError:
        return TransactionError(reason, detail, txid=tx.txid)

    return fail


def build_kind(nft: NftKind) -> Kind:
    _BY_NUMBER[nft.number] = nft
    def read(r: Reader) -> Fields:
        sender, nonce, fee = HEAD.unpack(r.fixed(HEAD.size, "head"))
        if fee > MAX_MONEY:
            raise r.fail("fee", r.offset - 8, f"{fee} exceeds the money supply {MAX_MONEY}")
        body = nft.read_body(r)
        signature = r.fixed(SIGNATURE_SIZE, "signature")
        recipient = nft.recipient(body)
        return (account_id(sender) if recipient is None else recipient, nft.amount(body), nonce,
                fee, sender, body.encode(), signature)  # fmt: skip

    def encode(tx: Transaction) -> bytes:
        return HEAD.pack(tx.sender, tx.nonce, tx.fee) + tx.payload

    def check_fields(tx: Transaction) -> None:
        check_signed_fields(tx)
        try:
            body = body_of(tx, nft)
        except DecodeError as exc:
            raise ValueError(f"{nft.name} body: {exc}") from None
        recipient = nft.recipient(body)
        if tx.recipient != (account_id(tx.sender) if recipient is None else recipient):
            raise ValueError(f"{nft.name}: recipient does not match the body")
        if tx.amount != nft.amount(body):
            raise ValueError(f"{nft.name}: amount does not match the body")

    def check(tx: Transaction) -> None:
        check_total(tx)
        nft.check(body_of(tx, nft), _failure(tx))

    def apply(txs: Sequence[Transaction], state: BlockState) -> int:
        fees = 0
        for tx in txs:
            fail = _failure(tx)
            # The fee (and a sale's price, which the kind pays out) leave the sender first.
            sender_id = debit_sender(tx, state, fail)
            nft.apply(tx, body_of(tx, nft), sender_id, state, fail)
            fees += tx.fee
        return fees

    def touches(tx: Transaction, sender_id: bytes) -> list[RecordKey]:
        return [(NS_ACCOUNT, sender_id), *nft.touches(body_of(tx, nft), sender_id)]

    def to_json(tx: Transaction, show: Callable[[bytes], str]) -> dict[str, Any]:
        return nft.to_json(body_of(tx, nft), show)

    return Kind(
        number=nft.number, name=nft.name, signed=True, coinbase=False,
        max_size=2 + HEAD.size + nft.max_body + SIGNATURE_SIZE,
        read=read, encode=encode, check_fields=check_fields, check=check, touches=touches,
        apply=apply, to_json=to_json,
    )  # fmt: skip


def credit(state: BlockState, account: bytes, amount: int, fail: Failure) -> None:
    if amount == 0:
        return
    current = state.account(account)
    if current.balance + amount > MAX_MONEY:
        raise fail("bad-txns-balance-overflow", "balance would exceed MAX_MONEY")
    state.set_account(account, Account(current.balance + amount, current.nonce))


def id_json(class_id: bytes, token_id: bytes | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"class": class_id.decode()}
    if token_id:
        out["token"] = token_id.decode()
        out["id"] = token_name(class_id, token_id)
    return out
