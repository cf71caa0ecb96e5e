"""The wire codec: round trips, golden bytes, and every way a frame can be bad."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinium.core.codec import DecodeError
from coinium.core.header import Header
from coinium.core.params import REGTEST
from coinium.core.transaction import Transaction
from coinium.p2p.messages import (
    MAX_ADDR,
    MAX_FRAME_SIZE,
    MAX_HEADERS,
    MAX_INV,
    MAX_PAYLOAD,
    MAX_TX_SIZE,
    MAX_TXS,
    Addr,
    AddrRecord,
    BlockMsg,
    BlockTxn,
    CmpctBlock,
    GetAddr,
    GetBlockTxn,
    GetData,
    GetHeaders,
    Headers,
    Inv,
    InvKind,
    MalformedMessage,
    MempoolReq,
    MsgType,
    NotFound,
    OversizedMessage,
    Ping,
    Pong,
    Tip,
    TxMsg,
    TxsMsg,
    UnknownMessage,
    Verack,
    Version,
    decode,
    encode,
    frame_type,
    txs_count,
)

hashes = st.binary(min_size=32, max_size=32)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, (1 << 64) - 1)
tips = st.builds(Tip, u32, hashes, st.integers(0, (1 << 256) - 1))
hosts = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str).filter(lambda h: not h.startswith("::ffff:")),
)
records = st.builds(AddrRecord, hashes, hosts, u16, u64, u64)
headers = st.builds(Header, u32, u32, hashes, hashes, hashes, u64, u32, u64)
coinbases = st.builds(Transaction.coinbase, u32, hashes.map(lambda h: h[:20]),
                      st.integers(0, 10**15),
                      st.binary(max_size=40))  # fmt: skip

messages = st.one_of(
    st.builds(Version, u32, u32, hashes, u64, u64, u64, tips, u16, u16,
              st.text("abcdefghijklmnopqrstuvwxyz0123456789.-", max_size=255),
              st.text(max_size=60)),
    st.just(Verack()),
    st.builds(Ping, u64, tips),
    st.builds(Pong, u64, tips),
    st.just(GetAddr()),
    st.builds(Addr, st.lists(records, max_size=20).map(tuple)),
    st.builds(Inv, st.sampled_from(InvKind), st.lists(hashes, max_size=50).map(tuple)),
    st.builds(GetData, st.sampled_from(InvKind), st.lists(hashes, max_size=50).map(tuple)),
    st.builds(NotFound, st.sampled_from(InvKind), st.lists(hashes, max_size=50).map(tuple)),
    st.builds(GetHeaders, st.lists(hashes, min_size=1, max_size=101).map(tuple), hashes),
    st.builds(Headers, st.lists(headers, max_size=20).map(tuple)),
    st.builds(BlockMsg, st.binary(min_size=128, max_size=300)),
    st.builds(TxMsg, st.binary(min_size=1, max_size=MAX_TX_SIZE)),
    st.just(MempoolReq()),
    st.builds(CmpctBlock, headers, u64, st.binary(min_size=1, max_size=300),
              st.lists(st.binary(min_size=6, max_size=6), max_size=50).map(tuple),
              st.booleans()),
    st.builds(GetBlockTxn, hashes,
              st.sets(st.integers(1, 0xFFFFFFFF), max_size=50).map(lambda s: tuple(sorted(s)))),
    st.builds(BlockTxn, hashes, st.lists(coinbases, max_size=5).map(tuple)),
    st.builds(TxsMsg, st.lists(coinbases, min_size=1, max_size=5).map(tuple)),
)  # fmt: skip


@given(messages)
def test_every_message_round_trips(message):
    frame = encode(message)
    assert frame[0] == message.TYPE
    assert frame_type(frame) == message.TYPE
    assert decode(frame) == message
    assert encode(decode(frame)) == frame  # canonical: one encoding per message


@given(messages, st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_refused(message, extra):
    frame = encode(message) + extra
    if message.TYPE in (MsgType.BLOCK, MsgType.TX):
        return  # their payload is the rest of the frame: checked when decoded as a block/tx
    with pytest.raises(MalformedMessage):
        decode(frame)


@given(messages, st.data())
def test_truncation_is_refused(message, data):
    frame = encode(message)
    if len(frame) < 2:
        return
    cut = data.draw(st.integers(1, len(frame) - 1))
    if message.TYPE in (MsgType.BLOCK, MsgType.TX):
        return
    with pytest.raises(MalformedMessage):
        decode(frame[:cut])


# --- golden bytes: a format never changes by accident ------------------------------------------
GOLDEN_TIP = Tip(7, bytes(range(32)), 0x0100)


def test_golden_version():
    version = Version(1, REGTEST.chain_id, REGTEST.genesis_hash, 1, 1_800_000_000, 42, GOLDEN_TIP,
                      19444, 19445, "", "/coinium:0.1.0/")  # fmt: skip
    assert encode(version).hex() == (
        "01" "01000000" "0300 1ac0".replace(" ", "")
        + REGTEST.genesis_hash.hex()
        + "0100000000000000" "00d2496b00000000" "2a00000000000000"
        + "07000000" + bytes(range(32)).hex() + "00" * 30 + "0100"
        + "f44b" "f54b" "0000" "0f00" + b"/coinium:0.1.0/".hex()
    )


def test_golden_ping_inv_getheaders_addr_headers():
    assert encode(Ping(1, GOLDEN_TIP)).hex() == (
        "03" "0100000000000000" "07000000" + bytes(range(32)).hex() + "00" * 30 + "0100")
    assert encode(Inv(InvKind.BLOCK, (b"\xaa" * 32,))).hex() == "07" "02" "0100" + "aa" * 32
    assert encode(GetHeaders((b"\x01" * 32,))).hex() == "0a" "01" + "01" * 32 + "00" * 32
    record = AddrRecord(b"\x05" * 32, "127.0.0.1", 19444, 1, 1_800_000_000)
    assert encode(Addr((record,))).hex() == (
        "06" "0100" + "05" * 32 + "00" * 10 + "ffff" + "7f000001" + "f44b"
        + "0100000000000000" + "00d2496b00000000")
    genesis = REGTEST.genesis.header
    assert encode(Headers((genesis,))).hex() == "0b" "0100" + genesis.encode().hex()
    assert encode(Verack()) == b"\x02" and encode(MempoolReq()) == b"\x0e"


# --- bad frames -------------------------------------------------------------------------------
def test_empty_unknown_and_oversized_frames():
    with pytest.raises(MalformedMessage):
        decode(b"")
    with pytest.raises(UnknownMessage):
        decode(b"\xee payload")
    with pytest.raises(OversizedMessage):
        decode(bytes((MsgType.TX,)) + bytes(MAX_PAYLOAD[MsgType.TX] + 1))
    with pytest.raises(OversizedMessage):
        decode(bytes((MsgType.VERACK,)) + b"\x00")
    assert issubclass(MalformedMessage, DecodeError)
    assert MAX_FRAME_SIZE == 1 + MAX_PAYLOAD[MsgType.BLOCK]


def test_getblocktxn_indexes_must_increase_from_one():
    for indexes in ((0,), (3, 3), (5, 2)):
        frame = bytes((MsgType.GETBLOCKTXN,)) + bytes(32) + len(indexes).to_bytes(4, "little") \
            + b"".join(i.to_bytes(4, "little") for i in indexes)  # fmt: skip
        with pytest.raises(MalformedMessage):
            decode(frame)


def test_counts_and_kinds_out_of_range():
    too_many = MAX_INV + 1
    with pytest.raises(MalformedMessage):
        decode(bytes((MsgType.INV, 1)) + too_many.to_bytes(2, "little") + bytes(32 * 10))
    with pytest.raises(MalformedMessage, match="inventory kind"):
        decode(bytes((MsgType.GETDATA, 9)) + b"\x00\x00")
    with pytest.raises(MalformedMessage, match="locator"):
        decode(bytes((MsgType.GETHEADERS, 0)) + bytes(32))
    with pytest.raises(MalformedMessage):
        decode(bytes((MsgType.HEADERS,)) + (MAX_HEADERS + 1).to_bytes(2, "little"))
    with pytest.raises(MalformedMessage):
        decode(bytes((MsgType.ADDR,)) + (MAX_ADDR + 1).to_bytes(2, "little"))
    with pytest.raises(MalformedMessage, match="utf-8"):
        version = encode(Version(1, 1, bytes(32), 0, 0, 0, GOLDEN_TIP, 0, 0, "", "ok"))
        decode(version[:-2] + b"\xff\xfe")
    with pytest.raises(MalformedMessage):
        decode(bytes((MsgType.BLOCK,)) + bytes(10))  # shorter than a header and a count


def test_encode_refuses_what_decode_would():
    with pytest.raises(ValueError):
        encode(TxMsg(bytes(MAX_PAYLOAD[MsgType.TX] + 1)))


def test_block_and_tx_messages_hash_without_decoding():
    genesis = REGTEST.genesis
    message = BlockMsg.from_block(genesis)
    assert message.hash == genesis.hash
    assert message.decode() == genesis
    coinbase = genesis.transactions[0]
    assert TxMsg.from_tx(coinbase).txid == coinbase.txid
    with pytest.raises(DecodeError):
        BlockMsg(genesis.encode()[:-1]).decode()


def test_golden_txs_and_its_limits():
    coinbase = Transaction.coinbase(7, bytes(20), 5)
    frame = encode(TxsMsg((coinbase, coinbase)))
    assert frame.hex() == "14" "0200" + coinbase.raw.hex() * 2
    assert decode(frame) == TxsMsg((coinbase, coinbase))
    assert txs_count(frame) == 2  # read before decoding: the rate-limit charge
    with pytest.raises(MalformedMessage, match="empty"):
        decode(bytes((MsgType.TXS,)) + b"\x00\x00")
    with pytest.raises(MalformedMessage):  # one transaction more than the count says
        decode(bytes((MsgType.TXS,)) + b"\x01\x00" + coinbase.raw * 2)
    with pytest.raises(MalformedMessage):  # count over the cap
        decode(bytes((MsgType.TXS,)) + (MAX_TXS + 1).to_bytes(2, "little") + coinbase.raw)
    with pytest.raises(ValueError):
        encode(TxsMsg(()))
