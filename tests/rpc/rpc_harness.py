"""A real regtest Node in-process (tmp datadir, RPC on port 0) and an HTTP client for it.

pytest-asyncio is not used: each test passes an async body to the ``run_node`` fixture
(conftest.py), which starts a node in a fresh event loop (``asyncio.run``), hands the body a
`Harness`, and always shuts down.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from coinium.config import build_options
from coinium.core.transaction import Transaction, sign_transfer
from coinium.crypto.address import encode_address
from coinium.crypto.keys import PrivateKey
from coinium.node import Node

DEFAULT_FLAGS = {"rpc_port": 0, "p2p_port": 0, "print_to_console": False, "mine": False}


def keypair(n: int) -> PrivateKey:
    return PrivateKey(n.to_bytes(32, "big"))


class RpcFailure(Exception):
    def __init__(self, code: int, message: str, status: int):
        super().__init__(f"RPC error {code}: {message} (HTTP {status})")
        self.code = code
        self.message = message
        self.status = status


class Harness:
    def __init__(self, node: Node, session: aiohttp.ClientSession):
        self.node = node
        self.session = session
        self.url = f"http://127.0.0.1:{node.rpc.port}/"
        self.params = node.params
        self._ids = 0

    @property
    def cookie(self) -> str:
        return (self.node.options.datadir / ".cookie").read_text()

    def basic(self, user_pass: str | None = None) -> str:
        raw = (user_pass if user_pass is not None else self.cookie).encode()
        return "Basic " + base64.b64encode(raw).decode()

    async def post(self, body: Any, *, auth: str | None | bool = True,
                   method: str = "POST", path: str = "/") -> tuple[int, dict[str, str], bytes]:
        """Send ``body`` (bytes as is, anything else as JSON); (status, headers, raw body)."""
        headers = {"Content-Type": "application/json"}
        if auth is True:
            headers["Authorization"] = self.basic()
        elif isinstance(auth, str):
            headers["Authorization"] = auth
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        url = self.url.rstrip("/") + path
        async with self.session.request(method, url, data=data, headers=headers) as response:
            return response.status, dict(response.headers), await response.read()

    async def request(self, payload: Any, **kwargs: Any) -> tuple[int, Any]:
        status, _, raw = await self.post(payload, **kwargs)
        return status, (json.loads(raw) if raw else None)

    async def call(self, method: str, *params: Any, **named: Any) -> Any:
        self._ids += 1
        payload = {"jsonrpc": "1.0", "id": self._ids, "method": method,
                   "params": named if named else list(params)}  # fmt: skip
        status, reply = await self.request(payload)
        if reply["error"] is not None:
            raise RpcFailure(reply["error"]["code"], reply["error"]["message"], status)
        assert status == 200
        return reply["result"]

    async def fails(self, code: int, method: str, *params: Any, **named: Any) -> RpcFailure:
        """Call and expect an error with ``code``; return it for further checks."""
        try:
            result = await self.call(method, *params, **named)
        except RpcFailure as failure:
            assert failure.code == code, failure
            return failure
        raise AssertionError(f"{method} returned {result!r}, expected error {code}")

    # --- chain helpers ----------------------------------------------------------------------
    def address(self, key: PrivateKey) -> str:
        return encode_address(self.params.address_prefix, key.account)

    def address_of(self, account: bytes) -> str:
        return encode_address(self.params.address_prefix, account)

    async def generate(self, n: int, key: PrivateKey | None = None) -> list[str]:
        return await self.call("generatetoaddress", n, self.address(key or keypair(99)))

    def transfer(self, sender: PrivateKey, recipient: PrivateKey, amount: int, fee: int,
                 nonce: int, memo: bytes = b"") -> Transaction:  # fmt: skip
        return sign_transfer(sender, self.params.chain_id, recipient.account, amount, fee,
                             nonce, memo)  # fmt: skip


async def with_node(tmp_path, body: Callable[[Harness], Awaitable[None]],
                     flags: dict[str, Any]) -> Node:  # fmt: skip
    options = build_options(network="regtest", datadir=tmp_path / "base",
                            flags={**DEFAULT_FLAGS, **flags})  # fmt: skip
    node = Node(options)
    await node.start()
    try:
        async with aiohttp.ClientSession() as session:
            await body(Harness(node, session))
    finally:
        await node.shutdown()
    return node
