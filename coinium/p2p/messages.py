"""The wire codec: one ZeroMQ frame per message, ``type u8 | payload``.

Every payload is built from the canonical primitives of `coinium.core.codec` (fixed-width
little-endian integers, fixed-size hashes, u16-length byte strings), so each message has exactly
one encoding, and decoding rejects truncation, trailing bytes and out-of-range counts. Each type
has a payload size cap, checked before a single field is read: a frame over its cap is an
`OversizedMessage`, any other bad frame a `MalformedMessage` (both `DecodeError`s, so one
``except`` maps them to a penalty in `coinium.p2p.scoring`).

Blocks and transactions travel as their consensus encoding. `BlockMsg` and `TxMsg` keep the raw
bytes and decode on demand: the receiver first checks the hash against what it has seen (the
block id is the hash of the first 124 bytes), so a block relayed by every neighbour is decoded once.

The layouts (docs/PROTOCOL.md has the same table):

    VERSION     1  protocol u32 | chain_id u32 | genesis 32 | services u64 | time u64 | nonce u64
                   | best_height u32 | best_hash 32 | best_work 32 (u256 BE) | listen_port u16
                   | pub_port u16 | listen_host var (<=255, ASCII) | user_agent var (<=256, UTF-8)
    VERACK      2  (empty)
    PING        3  nonce u64 | best_height u32 | best_hash 32 | best_work 32
    PONG        4  same as PING (echoes the nonce, carries the sender's own tip)
    GETADDR     5  (empty)
    ADDR        6  count u16 (<=1000) | count x (key 32 | ip 16 | port u16 | services u64
                   | last_seen u64)
    INV         7  kind u8 (1 tx, 2 block) | count u16 (<=2000) | count x hash 32
    GETDATA     8  same as INV
    NOTFOUND    9  same as INV
    GETHEADERS 10  count u8 (1..101) | count x hash 32 (locator, newest first) | stop 32
    HEADERS    11  count u16 (<=2000) | count x header 124
    BLOCK      12  the block encoding (<= MAX_BLOCK_SIZE)
    TX         13  the transaction encoding (<= 1024)
    MEMPOOL    14  (empty)
    CHECKADDR  15  nonce u64 | port u16
    CHECKADDRREPLY 16  nonce u64 | port u16 | reachable u8 | host var (<=255, ASCII)
    CMPCTBLOCK 17  header 124 | salt u64 | checked u8 | coinbase len u32 + bytes | count u32
                   | count x short id 6   (coinium.p2p.compact; protocol 2)
    GETBLOCKTXN 18 block_hash 32 | count u32 | count x index u32 (strictly increasing, >= 1)
    BLOCKTXN   19  block_hash 32 | count u32 | count x transaction (self-delimiting)
    TXS        20  count u16 (1..1000) | count x transaction (self-delimiting), <= 1 MiB in all
                   (protocol 3: relay in batches)

The building blocks (type bytes, limits, caps, errors, field codecs) are in `coinium.p2p.wire`,
the compact-block and TXS messages in `coinium.p2p.relay_messages`; this module is the codec's
public face (every name callers use is importable from here).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import ClassVar

from coinium.core.block import Block
from coinium.core.codec import DecodeError, Reader, u16, u32, u64
from coinium.core.header import HEADER_SIZE, Header
from coinium.core.transaction import Transaction
from coinium.crypto.hashes import blake3_256
from coinium.p2p.relay_messages import BlockTxn, CmpctBlock, GetBlockTxn, TxsMsg, txs_count
from coinium.p2p.wire import (
    ADDR_RECORD_SIZE,
    COMPACT_BLOCKS_VERSION,
    HASH,
    MAX_ADDR,
    MAX_FRAME_SIZE,
    MAX_HEADERS,
    MAX_HOST,
    MAX_INV,
    MAX_LOCATOR,
    MAX_PAYLOAD,
    MAX_TX_SIZE,
    MAX_TXS,
    MAX_TXS_BYTES,
    MAX_USER_AGENT,
    MIN_PROTOCOL_VERSION,
    NODE_NETWORK,
    PROTOCOL_VERSION,
    TIP_SIZE,
    TX_BATCH_VERSION,
    InvKind,
    MalformedMessage,
    MsgType,
    OversizedMessage,
    UnknownMessage,
    count16,
    text_field,
    u256,
    var_bytes,
)

__all__ = [
    "ADDR_RECORD_SIZE", "COMPACT_BLOCKS_VERSION", "HASH", "MAX_ADDR", "MAX_FRAME_SIZE",
    "MAX_HEADERS", "MAX_HOST", "MAX_INV", "MAX_LOCATOR", "MAX_PAYLOAD", "MAX_TX_SIZE", "MAX_TXS",
    "MAX_TXS_BYTES", "MAX_USER_AGENT", "MESSAGE_CLASSES", "MIN_PROTOCOL_VERSION", "NODE_NETWORK",
    "PROTOCOL_VERSION", "TIP_SIZE", "TX_BATCH_VERSION", "Addr", "AddrRecord", "BlockMsg",
    "BlockTxn", "CheckAddr", "CheckAddrReply", "CmpctBlock", "GetAddr", "GetBlockTxn", "GetData",
    "GetHeaders", "Headers", "Inv", "InvKind", "MalformedMessage", "MempoolReq", "Message",
    "MsgType", "NotFound", "OversizedMessage", "Ping", "Pong", "Tip", "TxMsg", "TxsMsg",
    "UnknownMessage", "Verack", "Version", "decode", "encode", "frame_type", "txs_count",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Tip:
    """A node's best block as it tells its peers: in VERSION, PING and PONG."""

    height: int
    hash: bytes
    work: int

    def encode(self) -> bytes:
        return u32(self.height) + self.hash + u256(self.work)

    @classmethod
    def read(cls, r: Reader) -> Tip:
        height = r.u32("best_height")
        best_hash = r.fixed(HASH, "best_hash")
        work = int.from_bytes(r.fixed(32, "best_work"), "big")
        return cls(height, best_hash, work)


# --- messages -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Version:
    TYPE: ClassVar[MsgType] = MsgType.VERSION
    protocol: int
    chain_id: int
    genesis: bytes
    services: int
    timestamp: int
    nonce: int
    tip: Tip
    listen_port: int  # 0: does not accept connections
    pub_port: int  # 0: publishes no gossip socket (its gossip comes over the request link)
    listen_host: str = ""  # empty: "the address you see me at"
    user_agent: str = ""

    def payload(self) -> bytes:
        return (u32(self.protocol) + u32(self.chain_id) + self.genesis + u64(self.services)
                + u64(self.timestamp) + u64(self.nonce) + self.tip.encode()
                + u16(self.listen_port) + u16(self.pub_port)
                + var_bytes(self.listen_host.encode("ascii"))
                + var_bytes(self.user_agent.encode()))  # fmt: skip

    @classmethod
    def read(cls, r: Reader) -> Version:
        protocol = r.u32("protocol")
        chain_id = r.u32("chain_id")
        genesis = r.fixed(HASH, "genesis")
        services = r.u64("services")
        timestamp = r.u64("time")
        nonce = r.u64("nonce")
        tip = Tip.read(r)
        listen_port = r.u16("listen_port")
        pub_port = r.u16("pub_port")
        host = text_field(r, "listen_host", MAX_HOST, "ascii")
        agent = text_field(r, "user_agent", MAX_USER_AGENT, "utf-8")
        return cls(protocol, chain_id, genesis, services, timestamp, nonce, tip, listen_port,
                   pub_port, host, agent)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Verack:
    TYPE: ClassVar[MsgType] = MsgType.VERACK

    def payload(self) -> bytes:
        return b""

    @classmethod
    def read(cls, r: Reader) -> Verack:
        return cls()


@dataclass(frozen=True, slots=True)
class Ping:
    TYPE: ClassVar[MsgType] = MsgType.PING
    nonce: int
    tip: Tip

    def payload(self) -> bytes:
        return u64(self.nonce) + self.tip.encode()

    @classmethod
    def read(cls, r: Reader) -> Ping:
        return cls(r.u64("nonce"), Tip.read(r))


@dataclass(frozen=True, slots=True)
class Pong:
    TYPE: ClassVar[MsgType] = MsgType.PONG
    nonce: int
    tip: Tip

    def payload(self) -> bytes:
        return u64(self.nonce) + self.tip.encode()

    @classmethod
    def read(cls, r: Reader) -> Pong:
        return cls(r.u64("nonce"), Tip.read(r))


@dataclass(frozen=True, slots=True)
class GetAddr:
    TYPE: ClassVar[MsgType] = MsgType.GETADDR

    def payload(self) -> bytes:
        return b""

    @classmethod
    def read(cls, r: Reader) -> GetAddr:
        return cls()


@dataclass(frozen=True, slots=True)
class AddrRecord:
    key: bytes  # the node's Curve public key (32 bytes)
    host: str  # an IPv4 or IPv6 address
    port: int
    services: int = NODE_NETWORK
    last_seen: int = 0  # unix seconds

    def encode(self) -> bytes:
        ip = ipaddress.ip_address(self.host)
        if isinstance(ip, ipaddress.IPv4Address):
            ip = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + ip.packed)
        return self.key + ip.packed + u16(self.port) + u64(self.services) + u64(self.last_seen)

    @classmethod
    def read(cls, r: Reader) -> AddrRecord:
        key = r.fixed(32, "addr.key")
        ip = ipaddress.IPv6Address(r.fixed(16, "addr.ip"))
        host = str(ip.ipv4_mapped) if ip.ipv4_mapped is not None else str(ip)
        return cls(key, host, r.u16("addr.port"), r.u64("addr.services"), r.u64("addr.last_seen"))


@dataclass(frozen=True, slots=True)
class Addr:
    TYPE: ClassVar[MsgType] = MsgType.ADDR
    records: tuple[AddrRecord, ...]

    def payload(self) -> bytes:
        return u16(len(self.records)) + b"".join(rec.encode() for rec in self.records)

    @classmethod
    def read(cls, r: Reader) -> Addr:
        count = count16(r, "count", MAX_ADDR)
        return cls(tuple(AddrRecord.read(r) for _ in range(count)))


@dataclass(frozen=True, slots=True)
class _InvLike:
    kind: InvKind
    hashes: tuple[bytes, ...]

    def payload(self) -> bytes:
        return bytes((self.kind,)) + u16(len(self.hashes)) + b"".join(self.hashes)

    @classmethod
    def read(cls, r: Reader):  # type: ignore[no-untyped-def]
        offset = r.offset
        kind = r.u8("kind")
        if kind not in InvKind._value2member_map_:
            raise r.fail("kind", offset, f"unknown inventory kind {kind}")
        count = count16(r, "count", MAX_INV)
        return cls(InvKind(kind), tuple(r.fixed(HASH, "hash") for _ in range(count)))


@dataclass(frozen=True, slots=True)
class Inv(_InvLike):
    TYPE: ClassVar[MsgType] = MsgType.INV


@dataclass(frozen=True, slots=True)
class GetData(_InvLike):
    TYPE: ClassVar[MsgType] = MsgType.GETDATA


@dataclass(frozen=True, slots=True)
class NotFound(_InvLike):
    TYPE: ClassVar[MsgType] = MsgType.NOTFOUND


@dataclass(frozen=True, slots=True)
class GetHeaders:
    TYPE: ClassVar[MsgType] = MsgType.GETHEADERS
    locator: tuple[bytes, ...]  # newest first, ending at genesis
    stop: bytes = bytes(32)  # all zeros: as many as allowed

    def payload(self) -> bytes:
        return bytes((len(self.locator),)) + b"".join(self.locator) + self.stop

    @classmethod
    def read(cls, r: Reader) -> GetHeaders:
        offset = r.offset
        count = r.u8("count")
        if not 1 <= count <= MAX_LOCATOR:
            raise r.fail("count", offset, f"locator of {count} hashes (1 to {MAX_LOCATOR})")
        locator = tuple(r.fixed(HASH, "locator") for _ in range(count))
        return cls(locator, r.fixed(HASH, "stop"))


@dataclass(frozen=True, slots=True)
class Headers:
    TYPE: ClassVar[MsgType] = MsgType.HEADERS
    headers: tuple[Header, ...]

    def payload(self) -> bytes:
        return u16(len(self.headers)) + b"".join(h.encode() for h in self.headers)

    @classmethod
    def read(cls, r: Reader) -> Headers:
        count = count16(r, "count", MAX_HEADERS)
        return cls(tuple(Header.decode(r.fixed(HEADER_SIZE, "header")) for _ in range(count)))


@dataclass(frozen=True, slots=True)
class BlockMsg:
    """A block as its consensus bytes; `hash` reads only the header, `decode` the rest."""

    TYPE: ClassVar[MsgType] = MsgType.BLOCK
    raw: bytes

    @classmethod
    def from_block(cls, block: Block) -> BlockMsg:
        return cls(block.encode())

    @property
    def hash(self) -> bytes:
        return blake3_256(self.raw[:HEADER_SIZE])

    def decode(self) -> Block:
        """The block; raises `DecodeError` if the bytes are not one."""
        return Block.decode(self.raw)

    def payload(self) -> bytes:
        return self.raw

    @classmethod
    def read(cls, r: Reader) -> BlockMsg:
        if r.remaining() < HEADER_SIZE + 4:
            raise r.fail("block", r.offset, f"{r.remaining()} bytes cannot hold a block")
        return cls(r.fixed(r.remaining(), "block"))


@dataclass(frozen=True, slots=True)
class TxMsg:
    TYPE: ClassVar[MsgType] = MsgType.TX
    raw: bytes

    @classmethod
    def from_tx(cls, tx: Transaction) -> TxMsg:
        return cls(tx.raw)

    @property
    def txid(self) -> bytes:
        return blake3_256(self.raw)

    def decode(self) -> Transaction:
        return Transaction.decode(self.raw)

    def payload(self) -> bytes:
        return self.raw

    @classmethod
    def read(cls, r: Reader) -> TxMsg:
        if r.remaining() == 0:
            raise r.fail("tx", r.offset, "empty transaction")
        return cls(r.fixed(r.remaining(), "tx"))


@dataclass(frozen=True, slots=True)
class MempoolReq:
    TYPE: ClassVar[MsgType] = MsgType.MEMPOOL

    def payload(self) -> bytes:
        return b""

    @classmethod
    def read(cls, r: Reader) -> MempoolReq:
        return cls()


@dataclass(frozen=True, slots=True)
class CheckAddr:
    """Ask a peer to dial us back at ``port`` on the IP it sees us at (never another host: a
    peer cannot be made to dial a third party) and to say whether the CurveZMQ handshake with
    our key completed there."""

    TYPE: ClassVar[MsgType] = MsgType.CHECKADDR
    nonce: int
    port: int

    def payload(self) -> bytes:
        return u64(self.nonce) + u16(self.port)

    @classmethod
    def read(cls, r: Reader) -> CheckAddr:
        return cls(r.u64("nonce"), r.u16("port"))


@dataclass(frozen=True, slots=True)
class CheckAddrReply:
    TYPE: ClassVar[MsgType] = MsgType.CHECKADDRREPLY
    nonce: int
    port: int
    reachable: bool
    host: str  # the IP the peer dialled: where it sees us

    def payload(self) -> bytes:
        return (u64(self.nonce) + u16(self.port) + bytes((int(self.reachable),))
                + var_bytes(self.host.encode("ascii")))  # fmt: skip

    @classmethod
    def read(cls, r: Reader) -> CheckAddrReply:
        nonce, port = r.u64("nonce"), r.u16("port")
        offset = r.offset
        flag = r.u8("reachable")
        if flag > 1:
            raise r.fail("reachable", offset, f"{flag} is not 0 or 1")
        return cls(nonce, port, bool(flag), text_field(r, "host", MAX_HOST, "ascii"))


Message = (Version | Verack | Ping | Pong | GetAddr | Addr | Inv | GetData | NotFound
           | GetHeaders | Headers | BlockMsg | TxMsg | MempoolReq | CheckAddr
           | CheckAddrReply | CmpctBlock | GetBlockTxn | BlockTxn | TxsMsg)  # fmt: skip

MESSAGE_CLASSES: dict[MsgType, type] = {
    cls.TYPE: cls
    for cls in (Version, Verack, Ping, Pong, GetAddr, Addr, Inv, GetData, NotFound, GetHeaders,
                Headers, BlockMsg, TxMsg, MempoolReq, CheckAddr, CheckAddrReply, CmpctBlock,
                GetBlockTxn, BlockTxn, TxsMsg)
}  # fmt: skip


# --- frames -------------------------------------------------------------------------------------
def encode(message: Message) -> bytes:
    """The frame of a message: its type byte, then its payload."""
    payload = message.payload()
    if len(payload) > MAX_PAYLOAD[message.TYPE]:
        raise ValueError(f"{message.TYPE.name} payload of {len(payload)} bytes exceeds its cap")
    return bytes((message.TYPE,)) + payload


def frame_type(frame: bytes) -> MsgType | None:
    """The type of a frame without decoding it (None if unknown or empty)."""
    if not frame or frame[0] not in MsgType._value2member_map_:
        return None
    return MsgType(frame[0])


def decode(frame: bytes | memoryview) -> Message:
    """The message in a frame; raises `MalformedMessage` (or a subclass) on anything else."""
    data = bytes(frame)
    if not data:
        raise MalformedMessage("message", 0, "empty frame")
    kind = frame_type(data)
    if kind is None:
        raise UnknownMessage("message.type", 0, f"unknown message type {data[0]}")
    size = len(data) - 1
    if size > MAX_PAYLOAD[kind]:
        raise OversizedMessage(kind.name.lower(), 1, f"{size} bytes exceeds the "
                               f"{kind.name} cap of {MAX_PAYLOAD[kind]}")  # fmt: skip
    reader = Reader(data[1:], kind.name.lower())
    try:
        message = MESSAGE_CLASSES[kind].read(reader)
        reader.finish()
    except MalformedMessage:
        raise
    except DecodeError as exc:
        raise MalformedMessage(exc.what, exc.offset + 1, exc.problem) from None
    except ValueError as exc:  # a field with no valid value (an address, a header)
        raise MalformedMessage(kind.name.lower(), 1, str(exc)) from None
    return message
