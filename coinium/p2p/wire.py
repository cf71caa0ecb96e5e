"""The wire's building blocks, shared by every message module: the type bytes, the protocol
versions and limits, each type's payload cap (checked before a field is read), the decode errors
and the small field codecs (`coinium.p2p.messages` has the frame layouts and the codec)."""

from __future__ import annotations

from enum import IntEnum

from coinium.core.block import MAX_BLOCK_SIZE, MAX_BLOCK_TXS
from coinium.core.codec import DecodeError, Reader, u16
from coinium.core.header import HEADER_SIZE
from coinium.core.kinds import MAX_TX_SIZE as MAX_KIND_TX_SIZE
from coinium.p2p.compact import SHORT_ID_SIZE

PROTOCOL_VERSION = 3
COMPACT_BLOCKS_VERSION = 2  # peers from this version on take CMPCTBLOCK
TX_BATCH_VERSION = 3  # peers from this version on take TXS
MIN_PROTOCOL_VERSION = 1
NODE_NETWORK = 1  # services bit: serves the full chain

MAX_ADDR = 1000
MAX_INV = 2000
MAX_LOCATOR = 101
MAX_HEADERS = 2000
MAX_TXS = 1000  # transactions in one TXS message
MAX_TXS_BYTES = 1 << 20  # and their bytes (a sender splits larger batches)
MAX_USER_AGENT = 256
MAX_HOST = 255
MAX_TX_SIZE = MAX_KIND_TX_SIZE  # the longest encoding any registered kind has
HASH = 32
ADDR_RECORD_SIZE = 32 + 16 + 2 + 8 + 8
TIP_SIZE = 4 + 32 + 32


class MalformedMessage(DecodeError):
    """A frame that is not a canonical message (a penalty for the sender, never a crash)."""


class OversizedMessage(MalformedMessage):
    """A frame larger than its type allows."""


class UnknownMessage(MalformedMessage):
    """A type byte this version does not know."""


class MsgType(IntEnum):
    VERSION = 1
    VERACK = 2
    PING = 3
    PONG = 4
    GETADDR = 5
    ADDR = 6
    INV = 7
    GETDATA = 8
    NOTFOUND = 9
    GETHEADERS = 10
    HEADERS = 11
    BLOCK = 12
    TX = 13
    MEMPOOL = 14
    CHECKADDR = 15  # "dial me back at this port" (the reachability self-test)
    CHECKADDRREPLY = 16
    CMPCTBLOCK = 17  # a block as header, coinbase and short transaction ids
    GETBLOCKTXN = 18  # the transactions of a compact block the receiver lacks
    BLOCKTXN = 19
    TXS = 20  # transactions relayed in a batch


class InvKind(IntEnum):
    TX = 1
    BLOCK = 2


# Payload caps, checked before decoding.
MAX_PAYLOAD: dict[MsgType, int] = {
    MsgType.VERSION: 4 + 4 + 32 + 8 + 8 + 8 + TIP_SIZE + 2 + 2 + 2 + MAX_HOST + 2 + MAX_USER_AGENT,
    MsgType.VERACK: 0,
    MsgType.PING: 8 + TIP_SIZE,
    MsgType.PONG: 8 + TIP_SIZE,
    MsgType.GETADDR: 0,
    MsgType.ADDR: 2 + MAX_ADDR * ADDR_RECORD_SIZE,
    MsgType.INV: 1 + 2 + MAX_INV * HASH,
    MsgType.GETDATA: 1 + 2 + MAX_INV * HASH,
    MsgType.NOTFOUND: 1 + 2 + MAX_INV * HASH,
    MsgType.GETHEADERS: 1 + MAX_LOCATOR * HASH + HASH,
    MsgType.HEADERS: 2 + MAX_HEADERS * HEADER_SIZE,
    MsgType.BLOCK: MAX_BLOCK_SIZE,
    MsgType.TX: MAX_TX_SIZE,
    MsgType.MEMPOOL: 0,
    MsgType.CHECKADDR: 8 + 2,
    MsgType.CHECKADDRREPLY: 8 + 2 + 1 + 2 + MAX_HOST,
    MsgType.CMPCTBLOCK: HEADER_SIZE + 8 + 1 + 4 + MAX_TX_SIZE + 4 + MAX_BLOCK_TXS * SHORT_ID_SIZE,
    MsgType.GETBLOCKTXN: HASH + 4 + MAX_BLOCK_TXS * 4,
    MsgType.BLOCKTXN: HASH + 4 + MAX_BLOCK_SIZE - HEADER_SIZE - 4,  # a block's transactions
    MsgType.TXS: 2 + MAX_TXS_BYTES,
}
# The ZMQ_MAXMSGSIZE of every receiving socket: the largest frame of any type.
MAX_FRAME_SIZE = 1 + max(MAX_PAYLOAD.values())


def u256(value: int) -> bytes:
    return value.to_bytes(32, "big")


def text_field(r: Reader, what: str, limit: int, encoding: str) -> str:
    offset = r.offset
    raw = r.var_bytes(what, limit)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        raise r.fail(what, offset, f"not {encoding} text") from None


def var_bytes(data: bytes) -> bytes:
    return u16(len(data)) + data


def count32(r: Reader, what: str, limit: int) -> int:
    offset = r.offset
    count = r.u32(what)
    if count > limit:
        raise r.fail(what, offset, f"{count} exceeds limit {limit}")
    return count


def count16(r: Reader, what: str, limit: int) -> int:
    offset = r.offset
    count = r.u16(what)
    if count > limit:
        raise r.fail(what, offset, f"{count} exceeds limit {limit}")
    return count
