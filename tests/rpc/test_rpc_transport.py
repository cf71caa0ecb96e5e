"""The RPC transport: auth, cookie, HTTP statuses, legacy/2.0/batch framing, parameter checks."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import stat
import time

from rpc_harness import Harness

from coinium.rpc.errors import RpcError
from coinium.rpc.registry import Method, Param

SALT = "f0e1d2c3b4a59687"
PASSWORD = "correct horse battery staple"
RPCAUTH = f"alice:{SALT}${hmac.new(SALT.encode(), PASSWORD.encode(), hashlib.sha256).hexdigest()}"


# --- authentication -------------------------------------------------------------------------------
def test_cookie_file_is_owner_only_fresh_and_deleted_at_stop(run_node, tmp_path):
    cookies = []

    async def body(h: Harness) -> None:
        path = h.node.options.datadir / ".cookie"
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == 0o600, oct(mode)
        user, _, secret = h.cookie.partition(":")
        assert user == "__cookie__" and len(secret) == 64 and int(secret, 16) >= 0
        assert not path.with_name(".cookie.tmp").exists()
        cookies.append(h.cookie)

    node = run_node(body)
    assert not (node.options.datadir / ".cookie").exists()
    run_node(body)  # a second start writes a new secret
    assert cookies[0] != cookies[1]


def test_missing_or_wrong_credentials_get_401(run_node):
    async def body(h: Harness) -> None:
        payload = {"method": "getblockcount", "id": 1}
        status, headers, raw = await h.post(payload, auth=None)
        assert status == 401 and headers["WWW-Authenticate"] == 'Basic realm="jsonrpc"'
        assert raw == b""

        started = time.monotonic()
        status, headers, _ = await h.post(payload, auth=h.basic("__cookie__:" + "0" * 64))
        assert status == 401 and headers["WWW-Authenticate"] == 'Basic realm="jsonrpc"'
        assert time.monotonic() - started >= 0.2  # the anti-brute-force pause

        for bad in ("Bearer abc", "Basic !!!notbase64", h.basic("no-colon-here"),
                    h.basic("alice:wrong"), h.basic(f"bob:{PASSWORD}")):  # fmt: skip
            assert (await h.post(payload, auth=bad))[0] == 401, bad

        assert (await h.request(payload))[1]["result"] == 0  # the cookie works
        status, reply = await h.request(payload, auth=h.basic(f"alice:{PASSWORD}"))
        assert status == 200 and reply["result"] == 0  # so does the rpcauth line

    run_node(body, rpc_auth=[RPCAUTH])


def test_only_post_on_root(run_node):
    async def body(h: Harness) -> None:
        status, _, raw = await h.post(b"", method="GET")
        assert status == 405 and b"only POST" in raw
        status, _, _ = await h.post({"method": "getblockcount"}, path="/elsewhere")
        assert status == 404

    run_node(body)


def test_oversized_body_is_413_and_the_server_keeps_serving(run_node):
    async def body(h: Harness) -> None:
        big = json.dumps({"method": "help", "params": ["x" * 8000], "id": 1}).encode()
        status, _, _ = await h.post(big)
        assert status == 413
        assert await h.call("getblockcount") == 0

    run_node(body, rpc_max_request_bytes=4096)


# --- framing ----------------------------------------------------------------------------------
def test_legacy_replies_and_statuses(run_node):
    async def body(h: Harness) -> None:
        status, reply = await h.request({"method": "getblockcount", "id": "a"})
        assert (status, reply) == (200, {"result": 0, "error": None, "id": "a"})

        status, reply = await h.request({"method": "nosuchmethod", "id": 7})
        assert status == 404
        assert reply == {"result": None, "error": {"code": -32601, "message": "Method not found"},
                         "id": 7}  # fmt: skip

        status, reply = await h.request({"id": 8, "params": []})  # no method
        assert status == 400 and reply["error"]["code"] == -32600 and reply["id"] == 8

        status, reply = await h.request({"method": "getblockhash", "params": [5], "id": 9})
        assert status == 500
        assert reply["error"] == {"code": -8, "message": "Block height out of range"}

        # {"jsonrpc": "1.0"} is legacy too; an id-less legacy request still gets a reply.
        status, reply = await h.request({"jsonrpc": "1.0", "method": "getblockcount"})
        assert (status, reply) == (200, {"result": 0, "error": None, "id": None})

        status, reply = await h.request({"jsonrpc": "3.0", "method": "getblockcount", "id": 1})
        assert status == 400 and reply["error"]["message"] == "JSON-RPC version not supported"

        status, reply = await h.request({"method": "getblockcount", "params": 5, "id": 1})
        assert status == 400 and reply["error"]["code"] == -32600

    run_node(body)


def test_jsonrpc_2_replies_notifications_and_statuses(run_node):
    async def body(h: Harness) -> None:
        ok = {"jsonrpc": "2.0", "method": "getblockcount", "id": 1}
        assert await h.request(ok) == (200, {"jsonrpc": "2.0", "result": 0, "id": 1})

        status, reply = await h.request({**ok, "method": "nosuchmethod"})
        assert status == 200 and "result" not in reply
        assert reply == {"jsonrpc": "2.0", "error": {"code": -32601,
                                                     "message": "Method not found"}, "id": 1}

        status, reply = await h.request({**ok, "method": "getblockhash", "params": [9]})
        assert status == 200 and reply["error"]["code"] == -8

        # A notification runs but gets no reply, even when it fails.
        status, _, raw = await h.post({"jsonrpc": "2.0", "method": "getblockcount"})
        assert (status, raw) == (204, b"")
        status, _, raw = await h.post({"jsonrpc": "2.0", "method": "nosuchmethod"})
        assert (status, raw) == (204, b"")

    run_node(body)


def test_batches(run_node):
    async def body(h: Harness) -> None:
        batch = [
            {"jsonrpc": "2.0", "method": "getblockcount", "id": 1},
            {"jsonrpc": "2.0", "method": "getblockcount"},  # notification: no reply
            {"method": "nosuchmethod", "id": 2},  # legacy element, error inside the batch
            {"jsonrpc": "2.0", "method": "getblockhash", "params": [0], "id": 3},
            "not an object",
            {"jsonrpc": "2.0", "id": 4},
        ]
        status, replies = await h.request(batch)
        assert status == 200 and len(replies) == 5
        assert replies[0] == {"jsonrpc": "2.0", "result": 0, "id": 1}
        assert replies[1] == {"result": None, "error": {"code": -32601,
                                                        "message": "Method not found"}, "id": 2}
        assert replies[2]["result"] == h.params.genesis_hash.hex()
        assert replies[3]["error"]["code"] == -32600 and replies[3]["id"] is None
        assert replies[4]["error"] == {"code": -32600, "message": "Missing method"}
        assert replies[4]["id"] == 4 and replies[4]["jsonrpc"] == "2.0"

        status, _, raw = await h.post([{"jsonrpc": "2.0", "method": "getblockcount"}])
        assert (status, raw) == (204, b"")

        assert await h.request([]) == (200, [])  # as Bitcoin Core 28

    run_node(body)


def test_parse_errors(run_node):
    async def body(h: Harness) -> None:
        for raw in (b"{not json", b"\xff\xfe", b'{"method": NaN}', b""):
            status, _, data = await h.post(raw)
            reply = json.loads(data)
            assert status == 500, raw
            assert reply == {"result": None, "error": {"code": -32700, "message": "Parse error"},
                             "id": None}  # fmt: skip
        status, reply = await h.request(42)
        assert status == 500 and reply["error"] == {"code": -32700,
                                                    "message": "Top-level object parse error"}

    run_node(body)


# --- parameters -------------------------------------------------------------------------------
def test_parameter_checks(run_node):
    async def body(h: Harness) -> None:
        failure = await h.fails(-3, "getblockhash", "0")
        assert failure.message == "JSON value of type string is not of expected type number"
        failure = await h.fails(-3, "getblockheader", h.params.genesis_hash.hex(), 1)
        assert failure.message == "JSON value of type number is not of expected type bool"
        await h.fails(-3, "getblockhash", True)
        await h.fails(-3, "getblockhash", 1.5)
        # Wrong argument count: the method's help, code -1, as bitcoind.
        failure = await h.fails(-1, "getblockhash")
        assert failure.message.startswith("getblockhash height\n")
        await h.fails(-1, "getblockcount", 1)
        # Named parameters, bitcoind's "args", unknown and duplicate names.
        assert await h.call("getblockhash", height=0) == h.params.genesis_hash.hex()
        genesis = h.params.genesis_hash.hex()
        header = await h.call("getblockheader", args=[genesis], verbose=False)
        assert len(header) == 248  # the 124-byte header in hex
        failure = await h.fails(-8, "getblockhash", depth=0)
        assert failure.message == "Unknown named parameter depth"
        await h.fails(-8, "getblockheader", args=[genesis], blockhash=genesis)
        # Optional parameters may be null (omitted).
        assert (await h.call("getblockheader", genesis, None))["height"] == 0
        # Hashes.
        failure = await h.fails(-8, "getblockheader", "abc")
        assert failure.message == "blockhash must be of length 64 (not 3, for 'abc')"
        failure = await h.fails(-8, "getblockheader", "zz" * 32)
        assert failure.message.startswith("blockhash must be hexadecimal string")

    run_node(body)


def test_unexpected_exception_is_internal_error_and_server_survives(run_node):
    async def boom(ctx, value):
        raise ZeroDivisionError("deliberate")

    async def rpc_error(ctx):
        raise RpcError(-5, "expected failure")

    async def body(h: Harness) -> None:
        h.node.rpc.methods.add(Method("boom", "test", boom, "fails", "nothing",
                                      (Param("value", "number", "any"),), hidden=True))
        h.node.rpc.methods.add(Method("fail", "test", rpc_error, "fails", "nothing", hidden=True))
        failure = await h.fails(-32603, "boom", 1)
        assert "deliberate" in failure.message and failure.status == 500
        await h.fails(-5, "fail")
        assert await h.call("getblockcount") == 0
        assert "boom" not in await h.call("help")  # hidden

    run_node(body)


def test_help(run_node):
    async def body(h: Harness) -> None:
        overview = await h.call("help")
        assert overview.startswith("== Accounts ==\n")
        for section in ("== Blockchain ==", "== Control ==", "== Mining ==",
                        "== Rawtransactions ==", "== Zmq ==", "== Generating =="):  # fmt: skip
            assert f"\n{section}\n" in overview
        assert "\ngetblock \"blockhash\" ( verbosity )\n" in overview
        text = await h.call("help", "getblockhash")
        assert text.startswith("getblockhash height\n\nReturns hash of block")
        assert "1. height" in text and "Result:" in text
        assert await h.call("help", "nosuch") == "help: unknown command: nosuch"
        for name in h.node.rpc.methods.names():  # every method renders its help
            assert (await h.call("help", name)).startswith(name)

    run_node(body)


def test_uptime_and_stop(run_node):
    async def body(h: Harness) -> None:
        assert isinstance(await h.call("uptime"), int)
        assert not h.node._stop.is_set()
        assert await h.call("stop") == "Coinium server stopping"
        for _ in range(100):
            if h.node._stop.is_set():
                break
            await asyncio.sleep(0.01)
        assert h.node._stop.is_set()

    run_node(body)


def test_a_run_of_batched_calls_reaches_the_timers_once_per_call(run_node):
    """A batch's run of sendrawtransaction calls (one unit, `Method.run_batch`) still reaches the
    metrics' timers once per call, with the method's name, and is listed while it runs."""

    async def body(h: Harness) -> None:
        timed: list[tuple[str, float]] = []
        h.node.rpc.call_timers.append(lambda name, seconds: timed.append((name, seconds)))
        batch = [{"jsonrpc": "2.0", "id": i, "method": "sendrawtransaction", "params": [text]}
                 for i, text in enumerate(["zz", "0011", "00"])]  # fmt: skip
        batch.append({"jsonrpc": "2.0", "id": 9, "method": "sendrawtransaction"})  # no params
        status, replies = await h.request(batch)
        assert status == 200 and [r["error"]["code"] for r in replies] == [-22, -22, -22, -1]
        assert [name for name, _ in timed] == ["sendrawtransaction"] * 4
        assert all(seconds >= 0 for _, seconds in timed)
        info = await h.call("getrpcinfo")
        assert [c["method"] for c in info["active_commands"]] == ["getrpcinfo"]  # run finished

    run_node(body)
