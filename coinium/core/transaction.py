"""Account-model transactions and their canonical encoding.

Every transaction is ``version u8 | kind u8 | payload``; the payload's layout belongs to the kind,
declared by its module in `coinium.core.kinds` (TRANSFER, kind 1, in `kinds/transfer.py`;
COINBASE, kind 0, in `kinds/coinbase.py`). A kind the registry does not know is refused when
decoding, and a malformed payload is a DecodeError that names its kind (``tx.transfer.memo``).

txid = BLAKE3(full encoding, signature included). The signature covers the signing hash
(`coinium.crypto.signing`), which commits to the chain id and every field but the signature.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from blake3 import blake3 as _blake3

from coinium import kernels
from coinium.core.codec import DecodeError, Reader
from coinium.core.kinds import KINDS, TxKind, named_error, read_kind
from coinium.core.kinds import coinbase as _coinbase
from coinium.core.kinds import transfer as _transfer
from coinium.core.units import MAX_MONEY
from coinium.crypto.hashes import blake3_256
from coinium.crypto.signing import signing_hash as _signing_hash
from coinium.crypto.signing import signing_prefix

TX_VERSION = 1
# TxKind names each kind registered at import; a kind added later (tests do) stays a plain int.
_KIND_VALUES: dict[int, TxKind] = {int(k): k for k in TxKind}
MAX_MEMO_SIZE = _transfer.MAX_MEMO_SIZE
MAX_COINBASE_EXTRA_SIZE = _coinbase.MAX_EXTRA_SIZE
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
ACCOUNT_ID_SIZE = 20


@dataclass(frozen=True, slots=True)
class Transaction:
    """One transaction. For a coinbase, ``nonce`` holds the block height and ``sender``, ``fee``
    and ``signature`` are empty or zero; ``payload`` is the memo (transfer) or extra (coinbase)."""

    kind: TxKind
    recipient: bytes
    amount: int
    nonce: int = 0
    fee: int = 0
    sender: bytes = b""
    payload: bytes = b""
    signature: bytes = b""
    raw: bytes = field(init=False, repr=False, compare=False)
    txid: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_fields(self)
        raw = self.unsigned_encoding() + self.signature
        object.__setattr__(self, "raw", raw)
        object.__setattr__(self, "txid", blake3_256(raw))

    # --- constructors -------------------------------------------------------------------------
    @classmethod
    def coinbase(
        cls, height: int, recipient: bytes, amount: int, extra: bytes = b""
    ) -> Transaction:
        return cls(TxKind.COINBASE, recipient, amount, nonce=height, payload=extra)

    @classmethod
    def transfer(
        cls,
        sender: bytes,
        recipient: bytes,
        amount: int,
        fee: int,
        nonce: int,
        memo: bytes = b"",
        signature: bytes = bytes(SIGNATURE_SIZE),
    ) -> Transaction:
        return cls(TxKind.TRANSFER, recipient, amount, nonce, fee, sender, memo, signature)

    def with_signature(self, signature: bytes) -> Transaction:
        return Transaction(self.kind, self.recipient, self.amount, self.nonce, self.fee,
                           self.sender, self.payload, signature)  # fmt: skip

    @property
    def is_coinbase(self) -> bool:
        return KINDS[self.kind].coinbase

    @property
    def is_signed(self) -> bool:
        return KINDS[self.kind].signed

    @property
    def size(self) -> int:
        return len(self.raw)

    # --- encoding -----------------------------------------------------------------------------
    def unsigned_encoding(self) -> bytes:
        """Every field but the signature: what the signing hash commits to."""
        return bytes((TX_VERSION, self.kind)) + KINDS[self.kind].encode(self)

    def encode(self) -> bytes:
        return self.raw

    @classmethod
    def decode(cls, data: bytes) -> Transaction:
        fast = read_many(data, 0, 1) if isinstance(data, bytes) else None
        if fast is not None and fast[1] == len(data):
            return fast[0][0]
        reader = Reader(data, "tx")
        tx = cls.read(reader)
        reader.finish()
        return tx

    @classmethod
    def read(cls, r: Reader) -> Transaction:
        """Read one transaction from a reader (used by blocks, which hold them back to back)."""
        start = r.offset
        version = r.u8("version")
        if version != TX_VERSION:
            raise r.fail("version", start, f"unknown transaction version {version}")
        kind_offset = r.offset
        kind = read_kind(r, r.u8("kind"), kind_offset)
        try:
            recipient, amount, nonce, fee, sender, payload, signature = kind.read(r)
        except DecodeError as exc:
            raise named_error(kind, exc) from None
        return cls(_KIND_VALUES.get(kind.number, kind.number), recipient, amount, nonce, fee,
                   sender, payload, signature)  # fmt: skip


# --- fast decoding of many transactions -------------------------------------------------------
# A block holds thousands of transactions, and decoding them is a large share of what a node does
# with a block from the wire. `read_many` reads them straight from the block's bytes: one
# struct.unpack_from per transaction, the encoding taken as a slice of the input (it *is* the
# canonical encoding, so nothing is packed again), and the object built without the field checks
# of `__init__` (the checks below cover exactly the same ranges). Anything unusual (truncation,
# an unknown version or kind, an amount out of range, a long memo) makes it return None, and the
# caller decodes again with `Transaction.read`, which raises the precise DecodeError. It knows the
# layouts of the two built-in kinds (their modules' numbers and sizes); every other kind takes the
# registry's path through `Transaction.read`.
_TRANSFER_HEAD = struct.Struct("<BB32sQQ20sQH")  # version .. memo length: 80 bytes
_COINBASE_HEAD = struct.Struct("<BBI20sQH")  # version .. extra length: 36 bytes
# The slots' setters and the two kinds, looked up once: read_many also decodes single
# transactions (every sendrawtransaction), where its setup would otherwise cost as much as the read.
_SETTERS = tuple(Transaction.__dict__[name].__set__ for name in (
    "kind", "recipient", "amount", "nonce", "fee", "sender", "payload", "signature", "raw", "txid"
))  # fmt: skip
_BUILTIN_KINDS = (TxKind(_transfer.NUMBER), TxKind(_coinbase.NUMBER))


def read_many(data: bytes, offset: int, count: int) -> tuple[list[Transaction], int] | None:
    """``count`` transactions back to back in ``data`` from ``offset``: (transactions, end
    offset), or None if any of them is not a canonical encoding (decode it with `read` then).
    The compiled path (`_ext/tx_fast.pyx`) when the cython kernels are in use, else the
    reference below; both give the same objects or the same None."""
    if _compiled is not None and type(data) is bytes and offset >= 0 \
            and kernels.BACKEND == "cython":  # fmt: skip
        return _compiled(data, offset, count)
    return _read_many_python(data, offset, count)


def _read_many_python(data: bytes, offset: int, count: int
                      ) -> tuple[list[Transaction], int] | None:  # fmt: skip
    (set_kind, set_recipient, set_amount, set_nonce, set_fee, set_sender, set_payload,
     set_signature, set_raw, set_txid) = _SETTERS
    transfer_head, coinbase_head = _TRANSFER_HEAD.unpack_from, _COINBASE_HEAD.unpack_from
    hasher, new, cls = _blake3, object.__new__, Transaction
    transfer, coinbase = _BUILTIN_KINDS
    transfer_byte, coinbase_byte = _transfer.NUMBER, _coinbase.NUMBER
    size = len(data)
    pos = offset
    txs: list[Transaction] = []
    append = txs.append
    for _ in range(count):
        if pos + 80 <= size and data[pos + 1] == transfer_byte:  # (version checked below)
            version, _, sender, nonce, fee, recipient, amount, memo_size = transfer_head(data, pos)
            memo_end = pos + 80 + memo_size
            end = memo_end + SIGNATURE_SIZE
            if version != TX_VERSION or fee > MAX_MONEY or amount > MAX_MONEY \
                    or memo_size > MAX_MEMO_SIZE or end > size:
                return None
            tx = new(cls)
            set_kind(tx, transfer)
            set_sender(tx, sender)
            set_nonce(tx, nonce)
            set_fee(tx, fee)
            set_payload(tx, data[pos + 80 : memo_end])
            set_signature(tx, data[memo_end:end])
        elif pos + 36 <= size and data[pos + 1] == coinbase_byte:
            version, _, height, recipient, amount, extra_size = coinbase_head(data, pos)
            end = pos + 36 + extra_size
            if version != TX_VERSION or amount > MAX_MONEY \
                    or extra_size > MAX_COINBASE_EXTRA_SIZE or end > size:
                return None
            tx = new(cls)
            set_kind(tx, coinbase)
            set_sender(tx, b"")
            set_nonce(tx, height)
            set_fee(tx, 0)
            set_payload(tx, data[pos + 36 : end])
            set_signature(tx, b"")
        else:
            return None
        set_recipient(tx, recipient)
        set_amount(tx, amount)
        raw = data[pos:end]
        set_raw(tx, raw)
        set_txid(tx, hasher(raw).digest())
        append(tx)
        pos = end
    return txs, pos


try:
    from coinium.core import _tx_fast
except ImportError:  # not built: the reference decodes
    _compiled = None
    if kernels.BACKEND == "cython":  # the kernels built but not this: say so, do not hide it
        logging.getLogger("coinium.kernels").warning(
            "the compiled transaction decoder (coinium.core._tx_fast) is missing: decoding in "
            "Python; reinstall to build it")
else:
    _tx_fast.configure(Transaction, [Transaction.__dict__[name] for name in (
        "kind", "recipient", "amount", "nonce", "fee", "sender", "payload", "signature", "raw",
        "txid")], *_BUILTIN_KINDS, _transfer.NUMBER, _coinbase.NUMBER, TX_VERSION, MAX_MONEY,
        MAX_MEMO_SIZE, MAX_COINBASE_EXTRA_SIZE, SIGNATURE_SIZE)  # fmt: skip
    _compiled = _tx_fast.read_many


def _check_fields(tx: Transaction) -> None:
    """Refuse values that have no canonical encoding, so every Transaction can be encoded."""
    kind = KINDS.get(tx.kind)
    if kind is None:
        raise ValueError(f"unknown transaction kind {tx.kind}")
    if len(tx.recipient) != ACCOUNT_ID_SIZE:
        raise ValueError(f"recipient must be a {ACCOUNT_ID_SIZE}-byte account id")
    if not 0 <= tx.amount <= MAX_MONEY:
        raise ValueError(f"amount {tx.amount} outside 0 .. MAX_MONEY")
    kind.check_fields(tx)


def signing_hash(tx: Transaction, chain_id: int) -> bytes:
    # raw is the unsigned encoding followed by the signature: slicing it packs nothing again.
    raw = tx.raw
    return _signing_hash(chain_id, raw[: len(raw) - len(tx.signature)])


def signing_hashes(txs: Iterable[Transaction], chain_id: int) -> list[bytes]:
    """`signing_hash` of each (the batches of signature checks): the chain id's prefix built
    once, one BLAKE3 per transaction."""
    prefix = signing_prefix(chain_id)
    return [_blake3(prefix + tx.raw[: len(tx.raw) - len(tx.signature)]).digest() for tx in txs]


def sign_transfer(
    key,
    chain_id: int,
    recipient: bytes,
    amount: int,
    fee: int,
    nonce: int,
    memo: bytes = b"",
) -> Transaction:
    """Build and sign a transfer from ``key`` (a `coinium.crypto.keys.PrivateKey`)."""
    unsigned = Transaction.transfer(key.public_key, recipient, amount, fee, nonce, memo)
    return unsigned.with_signature(key.sign(signing_hash(unsigned, chain_id)))
