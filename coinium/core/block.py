"""A block: the 124-byte header, a u32 transaction count, then the transactions back to back.

Transactions are self-delimiting, so a block needs no per-transaction length. Decoding refuses a
count above MAX_BLOCK_TXS before reading anything, and bytes beyond the last transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from coinium.core.codec import DecodeError, Reader, u32
from coinium.core.header import HEADER_SIZE, Header
from coinium.core.transaction import Transaction, read_many

MAX_BLOCK_SIZE = 4_000_000
MAX_BLOCK_TXS = 30_000


@dataclass(frozen=True, slots=True)
class Block:
    header: Header
    transactions: tuple[Transaction, ...]

    @property
    def hash(self) -> bytes:
        return self.header.hash

    @property
    def height(self) -> int:
        return self.header.height

    def txids(self) -> list[bytes]:
        return [tx.txid for tx in self.transactions]

    def encode(self) -> bytes:
        return b"".join(
            [self.header.encode(), u32(len(self.transactions))]
            + [tx.raw for tx in self.transactions]
        )

    @property
    def size(self) -> int:
        return HEADER_SIZE + 4 + sum(len(tx.raw) for tx in self.transactions)

    @classmethod
    def decode(cls, data: bytes) -> Block:
        if len(data) > MAX_BLOCK_SIZE:
            raise DecodeError("block", MAX_BLOCK_SIZE, f"{len(data)} bytes exceeds the block "
                              f"size limit {MAX_BLOCK_SIZE}")
        r = Reader(data, "block")
        header = Header.decode(r.fixed(HEADER_SIZE, "header"))
        count_offset = r.offset
        count = r.u32("tx_count")
        if count > MAX_BLOCK_TXS:
            raise r.fail("tx_count", count_offset, f"{count} exceeds limit {MAX_BLOCK_TXS}")
        fast = read_many(data, r.offset, count) if isinstance(data, bytes) else None
        if fast is not None and fast[1] == len(data):
            return cls(header, tuple(fast[0]))
        # Not canonical somewhere: read again field by field for the precise DecodeError.
        txs = []
        for i in range(count):
            try:
                txs.append(Transaction.read(r))
            except DecodeError as exc:  # say which transaction: block.tx[7].amount at byte ...
                field_name = exc.what.removeprefix("block.")
                raise DecodeError(f"block.tx[{i}].{field_name}", exc.offset, exc.problem) from None
        r.finish()
        return cls(header, tuple(txs))
