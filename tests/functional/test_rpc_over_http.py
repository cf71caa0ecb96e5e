"""The JSON-RPC server of a real node process: authentication, bad requests, and staying up."""

from __future__ import annotations

import base64
import json

import pytest

GARBAGE = [b"", b"{", b"\xff\xfe\x00", b"42", b'{"method": 5}', b'"just a string"',
           b'{"method": "getblockcount", "id": "\\udc80"}']


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    from nodeproc import NodeProcess

    process = NodeProcess(tmp_path_factory.mktemp("rpc"), "regtest",
                          ("--rpcauth", RPCAUTH_LINE))  # fmt: skip
    process.start()
    yield process
    process.stop()


# rpcauth for user "alice", password "hunter2hunter2" (salt "00112233"), HMAC-SHA256 as bitcoind.
def _rpcauth(user: str, password: str, salt: str) -> str:
    import hashlib
    import hmac

    digest = hmac.new(salt.encode(), password.encode(), hashlib.sha256).hexdigest()
    return f"{user}:{salt}${digest}"


RPCAUTH_LINE = _rpcauth("alice", "hunter2hunter2", "00112233")


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def call_body(method: str, *params, version: str = "1.0") -> bytes:
    return json.dumps({"jsonrpc": version, "id": 7, "method": method,
                       "params": list(params)}).encode()  # fmt: skip


@pytest.mark.parametrize(
    "headers",
    [{}, basic("__cookie__", "wrong"), basic("alice", "wrong"), {"Authorization": "Bearer x"}],
    ids=["none", "bad-cookie", "bad-rpcauth", "not-basic"],
)
def test_unauthenticated_calls_get_401(node, headers):
    status, reply_headers, _ = node.http(call_body("getblockcount"), headers)
    assert status == 401
    assert "Basic" in reply_headers.get("WWW-Authenticate", "")


def test_cookie_and_rpcauth_both_work(node):
    status, _, raw = node.http(call_body("getblockcount"), basic("alice", "hunter2hunter2"))
    assert status == 200 and json.loads(raw)["result"] == 0
    assert node.rpc("getblockcount") == 0


def authed(node, body: bytes):
    status, _, raw = node.http(body, {"Authorization": node.auth_header()})
    return status, json.loads(raw) if raw else None


def test_unknown_method(node):
    status, reply = authed(node, call_body("nosuchmethod"))
    assert reply["error"]["code"] == -32601 and status == 404


def test_wrong_parameter_types(node):
    _, reply = authed(node, call_body("getblockhash", "zero"))
    assert reply["error"]["code"] == -3
    _, reply = authed(node, call_body("getblockhash", 10_000))
    assert reply["error"]["code"] == -8


@pytest.mark.parametrize("body", GARBAGE)
def test_garbage_bodies_get_an_error_and_the_node_keeps_serving(node, body):
    status, raw_reply = authed_raw(node, body)
    assert status in (400, 500)
    assert node.rpc("getblockcount") == 0


def test_an_empty_batch_answers_an_empty_list(node):
    assert authed_raw(node, b"[]") == (200, b"[]\n")  # Bitcoin Core 28


def authed_raw(node, body: bytes):
    status, _, raw = node.http(body, {"Authorization": node.auth_header()})
    return status, raw


def test_parse_error_code(node):
    _, reply = authed(node, b"{not json")
    assert reply["error"]["code"] == -32700


def test_oversized_body_is_refused(node):
    status, _, _ = node.http(b" " * (33 << 20), {"Authorization": node.auth_header()})
    assert status == 413
    assert node.rpc("getblockcount") == 0


def test_batch_and_json_rpc_2(node):
    batch = json.dumps([
        {"jsonrpc": "2.0", "id": 1, "method": "getblockcount"},
        {"jsonrpc": "2.0", "id": 2, "method": "nosuchmethod"},
    ]).encode()  # fmt: skip
    status, reply = authed(node, batch)
    assert status == 200
    by_id = {item["id"]: item for item in reply}
    assert by_id[1]["result"] == 0 and "error" not in by_id[1]
    assert by_id[2]["error"]["code"] == -32601 and "result" not in by_id[2]
