"""Hostile RPC clients (issue 10): huge numbers, headers that are not ASCII, lone surrogates,
parallel password guessing, idle and half-sent connections. Each gets a clear answer, the server
keeps answering everyone else promptly, and nothing a client sends puts a traceback in the log."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
from rpc_harness import Harness

BAD_COOKIE = "__cookie__:" + "0" * 64


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _capture() -> _Records:
    handler = _Records()
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.DEBUG)
    return handler


async def _within(seconds: float, coro):
    """The answer, or a failure if the server took longer (the old code froze for minutes)."""
    return await asyncio.wait_for(coro, seconds)


def test_huge_numbers_are_range_checked_before_conversion(run_node):
    async def body(h: Harness) -> None:
        for number in ("1e1000000", "-1e1000000", "1e999999999", "9.5e400000"):
            raw = f'{{"method": "getblockhash", "params": [{number}], "id": 1}}'.encode()
            status, _, data = await _within(5, h.post(raw))
            assert status == 500 and b"JSON integer out of range" in data, (number, data)
        raw = b'{"method": "sendrawtransaction", "params": ["00", 1e300000], "id": 1}'
        status, _, data = await _within(5, h.post(raw))
        assert b'"code":-3' in data and b"Invalid amount" in data, data
        raw = b'{"method": "getblockhash", "params": [1e-1000000], "id": 1}'
        status, _, data = await _within(5, h.post(raw))
        assert b"is not an integer" in data
        assert await h.call("getblockhash", 0) == h.params.genesis_hash.hex()

    run_node(body)


def test_non_ascii_authorization_is_401_with_the_delay_and_no_traceback(run_node):
    records = _capture()

    async def body(h: Harness) -> None:
        payload = {"method": "getblockcount", "id": 1}
        for header in ("Basic \u00e9\u00e9\u00e9", "Basic YWxpY2U6\u00ff", "B\u00e4sic abc"):
            started = time.monotonic()
            status, headers, _ = await h.post(payload, auth=header)
            assert status == 401 and headers["WWW-Authenticate"] == 'Basic realm="jsonrpc"'
            assert time.monotonic() - started >= 0.2
        assert (await h.request(payload))[1]["result"] == 0

    try:
        run_node(body)
    finally:
        logging.getLogger().removeHandler(records)
    assert not [r for r in records.records if r.exc_info], "a traceback for client input"
    failures = [r for r in records.records if "incorrect password" in r.getMessage()]
    assert len(failures) == 3 and all(len(r.getMessage()) < 100 for r in failures)


def test_lone_surrogates_get_an_error_for_their_element_only(run_node):
    async def body(h: Harness) -> None:
        raw = b'{"jsonrpc": "2.0", "method": "getblockcount", "id": "\\udc80"}'
        status, _, data = await h.post(raw)
        assert status == 400, data
        assert data.startswith(b'{"jsonrpc":"2.0","error":{"code":-32600') and b'"id":null' in data
        raw = b'{"method": "getblockhash", "params": ["\\ud800"], "id": 5}'
        status, _, data = await h.post(raw)
        assert status == 400 and b'"id":5' in data and b"lone surrogate" in data
        batch = (b'[{"jsonrpc": "2.0", "method": "getblockcount", "id": 1},'
                 b' {"jsonrpc": "2.0", "method": "get\\udc80", "id": 2},'
                 b' {"jsonrpc": "2.0", "method": "help", "params": {"\\udfff": 1}, "id": 3},'
                 b' {"jsonrpc": "2.0", "method": "getblockcount", "id": 4}]')  # fmt: skip
        status, _, data = await h.post(batch)
        import json

        replies = json.loads(data)
        assert status == 200 and [r.get("id") for r in replies] == [1, 2, 3, 4]
        assert replies[0]["result"] == 0 and replies[3]["result"] == 0
        assert replies[1]["error"]["code"] == -32600 and replies[2]["error"]["code"] == -32600

    run_node(body)


def test_password_guessing_is_braked_per_address_whatever_the_concurrency(run_node):
    async def body(h: Harness) -> None:
        brake = h.node.rpc.brake
        brake.delay, brake.max_wait = 0.05, 1.0
        payload = {"method": "getblockcount", "id": 1}
        # A client that authenticated on its keep-alive connection before the attack.
        assert (await h.request(payload))[1]["result"] == 0

        async def guess() -> int:
            try:
                return (await h.post(payload, auth=h.basic(BAD_COOKIE)))[0]
            except aiohttp.ClientError:
                return 0  # closed at once: too many connections from a guessing address

        started = time.monotonic()
        codes = await asyncio.gather(*(guess() for _ in range(60)))
        elapsed = time.monotonic() - started
        assert set(codes) <= {0, 401, 429} and (429 in codes or 0 in codes)
        checked = codes.count(401)
        # One check per 50 ms slot for this address: never all 60 at once.
        assert checked <= 1.0 / 0.05 + 2, codes
        assert elapsed >= (checked - 1) * 0.05
        # The right password from a new connection of that address waits its turn (or 429).
        status, _, _ = await h.post(payload)
        assert status in (200, 429)
        await asyncio.sleep(1.2)
        assert (await h.request(payload))[1]["result"] == 0

    run_node(body)


async def _raw_connection(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


def test_idle_and_half_sent_connections_are_closed_and_capped(run_node):
    async def body(h: Harness) -> None:
        guard = h.node.rpc.guard
        guard.max_connections, guard.idle_timeout = 8, 0.6
        port = h.node.rpc.port
        idle = [await _raw_connection(port) for _ in range(20)]
        half = await _raw_connection(port)
        half[1].write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Le")
        await half[1].drain()
        assert len(guard) <= 8
        # Newcomers evict the connection idle the longest: an honest call gets in at once.
        assert await _within(3, h.call("getblockcount")) == 0
        # Idle and half-sent connections are closed after the timeout (EOF to the client).
        for reader, _ in [*idle[-4:], half]:
            assert await _within(5, reader.read()) == b""
        assert guard.evicted >= 12 and guard.timed_out >= 1
        # A body promised but never sent: 408 after the body timeout.
        h.node.rpc.body_timeout = 0.5
        reader, writer = await _raw_connection(port)
        writer.write(f"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: {h.basic()}\r\n"
                     "Content-Length: 100\r\n\r\n{".encode())  # fmt: skip
        await writer.drain()
        head = await _within(5, reader.readline())
        assert head.startswith(b"HTTP/1.1 408"), head
        for _, w in [*idle, half, (reader, writer)]:
            w.close()

    run_node(body)
