"""The JSON-RPC client against a real HTTP server on 127.0.0.1 and a real cookie file.

The server below is a test double of the *node*: it is acceptable only for this unit test of the
client's HTTP, auth and error handling. Everything that needs node behaviour (balance, send,
history) is tested end to end against a real node process in the functional tests.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from coinium.wallet.rpc_client import (
    COOKIE_FILE,
    RpcClient,
    RpcConnectionError,
    RpcError,
    read_cookie,
)


class FakeNode(BaseHTTPRequestHandler):
    """Checks Basic auth against the cookie file's current content, as the node does."""

    cookie_path = None  # set per server
    seen: list = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        user, password = read_cookie(self.server.cookie_path)
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            return self._send(401, b"")
        request = json.loads(body)
        self.server.seen.append((self.headers.get("Content-Type"), request))
        rid, method, params = request["id"], request["method"], request["params"]
        if method == "getaccount":
            # Written by hand: a coin amount that a float would not hold exactly.
            reply = (
                f'{{"jsonrpc": "2.0", "id": {rid}, "result": {{"address": {json.dumps(params[0])},'
                ' "balance": 20999999.99999999, "balance_units": 2099999999999999}}'
            )
            return self._send(200, reply.encode())
        if method == "getblockchaininfo":
            return self._json(200, {"jsonrpc": "2.0", "id": rid, "result": {"chain": "regtest"}})
        if method == "legacyfail":  # bitcoind's JSON-RPC 1.0 shape: HTTP 500, result and error
            error = {"code": -5, "message": "Invalid address"}
            return self._json(500, {"result": None, "error": error, "id": rid})
        if method == "garbage":
            return self._send(200, b"<html>not json</html>")
        error = {"code": -32601, "message": "Method not found"}
        return self._json(200, {"jsonrpc": "2.0", "id": rid, "error": error})

    def _json(self, status, doc):
        self._send(status, json.dumps(doc).encode())

    def _send(self, status, data):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def node(tmp_path):
    datadir = tmp_path / "regtest"
    datadir.mkdir()
    (datadir / COOKIE_FILE).write_text("__cookie__:" + "ab" * 32)
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeNode)
    server.cookie_path = datadir / COOKIE_FILE
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server, datadir
    server.shutdown()
    server.server_close()
    thread.join()


def _client(node, **kw):
    server, datadir = node
    return RpcClient.for_node(datadir, server.server_address[1], timeout=10, **kw)


def test_cookie_auth_and_result(node):
    server, _ = node
    client = _client(node)
    assert client.call("getblockchaininfo") == {"chain": "regtest"}
    account = client.call("getaccount", "rcn1xyz")
    assert account["balance"] == Decimal("20999999.99999999")  # exact, not a float
    assert account["balance_units"] == 2099999999999999
    content_type, request = server.seen[-1]
    assert content_type == "application/json"
    assert request["jsonrpc"] == "2.0" and request["params"] == ["rcn1xyz"]
    assert server.seen[0][1]["id"] != request["id"]


def test_cookie_is_read_again_after_a_node_restart(node):
    _, datadir = node
    client = _client(node)
    client.call("getblockchaininfo")
    (datadir / COOKIE_FILE).write_text("__cookie__:" + "cd" * 32)  # the node wrote a new one
    assert client.call("getblockchaininfo") == {"chain": "regtest"}


def test_json_rpc_errors_in_both_shapes(node):
    client = _client(node)
    with pytest.raises(RpcError) as info:
        client.call("nosuchmethod")
    assert (info.value.code, info.value.message) == (-32601, "Method not found")
    assert str(info.value) == "Method not found (code -32601)"
    with pytest.raises(RpcError) as info:
        client.call("legacyfail", "x")
    assert (info.value.code, info.value.message) == (-5, "Invalid address")


def test_wrong_credentials(node):
    client = _client(node, user="__cookie__", password="stale")
    with pytest.raises(RpcConnectionError, match=r"refused the RPC credentials \(HTTP 401\)"):
        client.call("getblockchaininfo")
    assert "stale" not in repr(client)


def test_explicit_user_and_password(node):
    server, _ = node
    client = _client(node, user="__cookie__", password="ab" * 32)
    assert client.call("getblockchaininfo") == {"chain": "regtest"}


def test_reply_that_is_not_json(node):
    server, _ = node
    with pytest.raises(RpcConnectionError, match=r"not JSON \(HTTP 200\)"):
        _client(node).call("garbage")


def test_proxy_variables_are_ignored(node, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy"):
        monkeypatch.setenv(var, f"http://127.0.0.1:{dead}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert _client(node).call("getblockchaininfo") == {"chain": "regtest"}


def test_node_not_running(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = RpcClient.for_node(tmp_path, port, user="u", password="p", timeout=5)
    with pytest.raises(RpcConnectionError) as info:
        client.call("getblockchaininfo")
    assert str(info.value) == (
        f"cannot reach the node at http://127.0.0.1:{port}: is `coinium node` running?"
    )


def test_missing_or_malformed_cookie(tmp_path):
    client = RpcClient.for_node(tmp_path, 1, timeout=5)
    with pytest.raises(RpcConnectionError, match=f"no RPC cookie at {tmp_path / COOKIE_FILE}"):
        client.call("getblockchaininfo")
    (tmp_path / COOKIE_FILE).write_text("nocolon")
    with pytest.raises(RpcConnectionError, match="malformed"):
        client.call("getblockchaininfo")
