"""The relay messages of protocols 2 and 3: compact blocks (CMPCTBLOCK, GETBLOCKTXN, BLOCKTXN;
`coinium.p2p.compact` rebuilds blocks from them) and transaction batches (TXS). Layouts in
`coinium.p2p.messages` and docs/PROTOCOL.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from coinium.core.block import MAX_BLOCK_TXS
from coinium.core.codec import Reader, u16, u32, u64
from coinium.core.header import HEADER_SIZE, Header
from coinium.core.transaction import Transaction, read_many
from coinium.p2p.compact import SHORT_ID_SIZE
from coinium.p2p.wire import HASH, MAX_TX_SIZE, MAX_TXS, MsgType, count16, count32


@dataclass(frozen=True, slots=True)
class CmpctBlock:
    """A block as its header, its coinbase and one short id per other transaction."""

    TYPE: ClassVar[MsgType] = MsgType.CMPCTBLOCK
    header: Header
    salt: int
    coinbase: bytes  # the coinbase's encoding
    short_ids: tuple[bytes, ...]
    # True: the sender's chain accepted the block. False: relayed after its proof of work and
    # Merkle root only (high-bandwidth mode): if it turns out invalid, the relayer is not to blame.
    checked: bool = True

    @property
    def hash(self) -> bytes:
        return self.header.hash

    def payload(self) -> bytes:
        return (self.header.encode() + u64(self.salt) + bytes((int(self.checked),))
                + u32(len(self.coinbase)) + self.coinbase
                + u32(len(self.short_ids)) + b"".join(self.short_ids))  # fmt: skip

    @classmethod
    def read(cls, r: Reader) -> CmpctBlock:
        header = Header.decode(r.fixed(HEADER_SIZE, "header"))
        salt = r.u64("salt")
        offset = r.offset
        checked = r.u8("checked")
        if checked > 1:
            raise r.fail("checked", offset, f"{checked} is not 0 or 1")
        offset = r.offset
        size = r.u32("coinbase_size")
        if not 1 <= size <= MAX_TX_SIZE:
            raise r.fail("coinbase_size", offset, f"{size} bytes (1 to {MAX_TX_SIZE})")
        coinbase = r.fixed(size, "coinbase")
        count = count32(r, "count", MAX_BLOCK_TXS - 1)
        ids = tuple(r.fixed(SHORT_ID_SIZE, "short_id") for _ in range(count))
        return cls(header, salt, coinbase, ids, bool(checked))


@dataclass(frozen=True, slots=True)
class GetBlockTxn:
    TYPE: ClassVar[MsgType] = MsgType.GETBLOCKTXN
    block_hash: bytes
    indexes: tuple[int, ...]  # in the block (the coinbase is 0, never asked for)

    def payload(self) -> bytes:
        return self.block_hash + u32(len(self.indexes)) + b"".join(u32(i) for i in self.indexes)

    @classmethod
    def read(cls, r: Reader) -> GetBlockTxn:
        block_hash = r.fixed(HASH, "block_hash")
        count = count32(r, "count", MAX_BLOCK_TXS - 1)
        indexes = []
        previous = 0
        for _ in range(count):
            offset = r.offset
            index = r.u32("index")
            if index <= previous:
                raise r.fail("index", offset, f"{index} after {previous} (must increase)")
            indexes.append(index)
            previous = index
        return cls(block_hash, tuple(indexes))


@dataclass(frozen=True, slots=True)
class BlockTxn:
    TYPE: ClassVar[MsgType] = MsgType.BLOCKTXN
    block_hash: bytes
    txs: tuple[Transaction, ...]  # in the order they were asked for (self-delimiting)

    def payload(self) -> bytes:
        return self.block_hash + u32(len(self.txs)) + b"".join(tx.raw for tx in self.txs)

    @classmethod
    def read(cls, r: Reader) -> BlockTxn:
        block_hash = r.fixed(HASH, "block_hash")
        count = count32(r, "count", MAX_BLOCK_TXS - 1)
        return cls(block_hash, tuple(Transaction.read(r) for _ in range(count)))


@dataclass(frozen=True, slots=True)
class TxsMsg:
    """Transactions relayed together (protocol 3): one frame, one rate-limit charge per
    transaction, one signature batch at the receiver."""

    TYPE: ClassVar[MsgType] = MsgType.TXS
    txs: tuple[Transaction, ...]

    def payload(self) -> bytes:
        if not self.txs:
            raise ValueError("TXS carries at least one transaction")
        return u16(len(self.txs)) + b"".join(tx.raw for tx in self.txs)

    @classmethod
    def read(cls, r: Reader) -> TxsMsg:
        offset = r.offset
        count = count16(r, "count", MAX_TXS)
        if count == 0:
            raise r.fail("count", offset, "an empty TXS")
        start = r.offset
        rest = r.fixed(r.remaining(), "txs")
        fast = read_many(rest, 0, count)
        if fast is not None and fast[1] == len(rest):
            return cls(tuple(fast[0]))
        # Not canonical somewhere (or trailing bytes): field by field, for the precise error.
        inner = Reader(rest, "txs")
        txs = tuple(Transaction.read(inner) for _ in range(count))
        if inner.remaining():
            raise r.fail("txs", start + inner.offset, f"{inner.remaining()} trailing bytes")
        return cls(txs)


def txs_count(frame: bytes) -> int:
    """The transaction count of a TXS frame, read before decoding (what its rate charge is)."""
    return int.from_bytes(frame[1:3], "little") if len(frame) >= 3 else 1
