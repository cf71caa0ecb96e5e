"""The contract records' encodings (their namespaces are in `coinium.core.state`).

- code (0x40): key = BLAKE3 code hash (32) -> the Wasm bytes
- contract (0x41): key = contract id (20) -> code hash 32 | has admin u8 | admin 20 |
  creator 20 | created height u64
- storage (0x42): key = contract id (20) | the contract's key (1..200 bytes) -> value
- event (0x43): key = contract id (20) | height u64 BE | block-wide sequence u32 BE ->
  txid 32 | topic length u8 | topic | data
- receipt (0x44): key = txid (32) -> status u8 | gas used u64 | contract id 20 |
  reason length u8 | reason | event count u8 | the events' keys (32 each) | return data
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from blake3 import blake3

from coinium.core.codec import Reader

_INSTANCE = struct.Struct("<32sB20s20sQ")
_EVENT_KEY = struct.Struct(">20sQI")
_RECEIPT_HEAD = struct.Struct("<BQ20s")
NO_CONTRACT = bytes(20)


def contract_id(creator: bytes, nonce: int) -> bytes:
    """The new contract's account id: BLAKE3("coinium/contract" | creator id | nonce u64)[:20]."""
    return blake3(b"coinium/contract" + creator + struct.pack("<Q", nonce)).digest()[:20]


def code_hash(code: bytes) -> bytes:
    return blake3(code).digest()


@dataclass(frozen=True, slots=True)
class Instance:
    code_hash: bytes
    admin: bytes | None
    creator: bytes
    height: int

    def encode(self) -> bytes:
        return _INSTANCE.pack(self.code_hash, self.admin is not None, self.admin or bytes(20),
                              self.creator, self.height)  # fmt: skip

    @classmethod
    def decode(cls, data: bytes) -> Instance:
        code, has_admin, admin, creator, height = _INSTANCE.unpack(data)
        return cls(code, admin if has_admin else None, creator, height)


def event_key(contract: bytes, height: int, sequence: int) -> bytes:
    return _EVENT_KEY.pack(contract, height, sequence)


def encode_event(txid: bytes, topic: bytes, data: bytes) -> bytes:
    return txid + bytes((len(topic),)) + topic + data


def decode_event(key: bytes, value: bytes) -> dict:
    contract, height, sequence = _EVENT_KEY.unpack(key)
    r = Reader(value, "event")
    txid = r.fixed(32, "txid")
    topic = r.fixed(r.u8("topic_length"), "topic")
    return {"contract": contract, "height": height, "sequence": sequence, "txid": txid,
            "topic": topic, "data": value[r.offset:]}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Receipt:
    ok: bool
    gas_used: int
    contract: bytes = NO_CONTRACT  # the contract called or created
    reason: str = ""  # a reason code when it failed
    result: bytes = b""
    events: tuple[bytes, ...] = ()  # the keys of the events it wrote (namespace 0x43)

    def encode(self) -> bytes:
        reason = self.reason.encode()[:255]
        return _RECEIPT_HEAD.pack(0 if self.ok else 1, self.gas_used, self.contract) \
            + bytes((len(reason),)) + reason + bytes((len(self.events),)) \
            + b"".join(self.events) + self.result

    @classmethod
    def decode(cls, data: bytes) -> Receipt:
        status, gas, contract = _RECEIPT_HEAD.unpack_from(data)
        at = _RECEIPT_HEAD.size
        length = data[at]
        reason = data[at + 1:at + 1 + length].decode()
        at += 1 + length
        count = data[at]
        at += 1
        events = tuple(data[at + 32 * i:at + 32 * (i + 1)] for i in range(count))
        return cls(status == 0, gas, contract, reason, data[at + 32 * count:], events)
