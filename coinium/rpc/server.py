"""The JSON-RPC server: HTTP transport and authentication, as bitcoind's ``httprpc.cpp`` does
them (Bitcoin Core 28).

Transport: HTTP POST of a JSON body to ``/`` (other methods: 405, other paths: 404), a body over
``rpc_max_request_bytes``: 413.

Authentication: HTTP Basic, checked before the body is read. At start the server writes
``<datadir>/.cookie`` holding ``__cookie__:<64 hex>`` (a new secret each start, written to
``.cookie.tmp`` owner-only then renamed, deleted at stop); any ``rpcauth`` line
(``user:salt$hex(HMAC-SHA256(key=salt, msg=password))``) is accepted too. Every comparison is
constant-time. No or wrong credentials (or a header that is not ASCII Basic credentials at all):
401 with ``WWW-Authenticate: Basic realm="jsonrpc"``; a wrong password also waits 250 ms first
(bitcoind's brute-force brake). The brake is per source address, not per request, so parallel
connections do not multiply the guesses (`coinium.rpc.limits.AuthBrake`). Connections are capped,
and idle or half-sent ones closed (`coinium.rpc.limits.ConnectionGuard`).

JSON-RPC framing (single calls, batches, notifications, errors): `coinium.rpc.calls`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from coinium.config import ConfigError, NodeOptions
from coinium.rpc.calls import JsonRpcCalls
from coinium.rpc.encoding import (
    dumps_bytes,
)
from coinium.rpc.limits import (
    BODY_TIMEOUT_S,
    AuthBrake,
    ConnectionGuard,
    raise_open_file_limit,
)
from coinium.rpc.registry import MethodTable

if TYPE_CHECKING:
    from coinium.node import Node

log = logging.getLogger("coinium.rpc")

T = TypeVar("T")

COOKIE_USER = "__cookie__"
COOKIE_FILE = ".cookie"
WWW_AUTHENTICATE = 'Basic realm="jsonrpc"'
SHUTDOWN_TIMEOUT_S = 5.0  # in-flight calls (say a long generatetoaddress) get this long at stop



@dataclass(frozen=True, slots=True)
class RpcAuthLine:
    user: str
    salt: str
    hmac_hex: str

    @classmethod
    def parse(cls, line: str) -> RpcAuthLine:
        user, sep, rest = line.partition(":")
        salt, sep2, digest = rest.partition("$")
        if not (user and sep and sep2 and salt and len(digest) == 64):
            raise ConfigError(f"rpc_auth: {line!r} is not user:salt$hmac-sha256-hex "
                              "(as share/rpcauth/rpcauth.py prints it)")  # fmt: skip
        try:
            bytes.fromhex(digest)
        except ValueError:
            raise ConfigError(f"rpc_auth: the hash in {line!r} is not hex") from None
        return cls(user, salt, digest.lower())

    def accepts(self, user: str, password: str) -> bool:
        digest = hmac.new(self.salt.encode(), password.encode(), hashlib.sha256).hexdigest()
        # Both compares always run, so the timing says nothing about which one failed.
        same_user = hmac.compare_digest(user.encode(), self.user.encode())
        same_hash = hmac.compare_digest(digest.encode(), self.hmac_hex.encode())
        return same_user and same_hash


@dataclass(slots=True)
class RpcContext:
    """What a handler may use besides its parameters."""

    node: Node
    server: RpcServer
    user: str
    wallet: str | None = None  # the <name> of a /wallet/<name> request (bitcoind's multiwallet)
    # Run after the HTTP reply has gone out (``stop`` must answer before the node stops).
    after_reply: list[Callable[[], None]] = field(default_factory=list)
    # What a method's `prepare_batch` hook leaves for the calls of its batch (by method name).
    prepared: dict[str, Any] = field(default_factory=dict)

    @property
    def methods(self) -> MethodTable:
        return self.server.methods

    async def on_chain(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(chain, *args)`` on the chain thread: everything it reads is one chain."""
        node = self.node
        return await node.chain_call(lambda: fn(node.chain, *args))


class RpcServer(JsonRpcCalls):
    def __init__(self, node: Node, options: NodeOptions, methods: MethodTable | None = None):
        if methods is None:
            from coinium.rpc.methods import default_table

            methods = default_table()
        self.node = node
        self.options = options
        self.methods = methods
        self.auth_lines = [RpcAuthLine.parse(line) for line in options.rpc_auth]
        self.cookie_path: Path = options.datadir / COOKIE_FILE
        self.port: int | None = None
        self._cookie: str | None = None
        self._runner: web.AppRunner | None = None
        # Called with (method name, seconds) after each call of a known method (metrics).
        self.call_timers: list[Callable[[str, float], None]] = []
        self._listener: asyncio.base_events.Server | None = None
        self.brake = AuthBrake()
        self.guard = ConnectionGuard(suspect=self.brake.holds)
        self.body_timeout = BODY_TIMEOUT_S
        self._tracebacks_logged: set[tuple[str, str]] = set()

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        self._cookie = self._write_cookie()
        app = web.Application(client_max_size=self.options.rpc_max_request_bytes)
        app.router.add_route("*", "/", self._handle)
        app.router.add_route("*", "/wallet/{name}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S,
                               keepalive_timeout=self.guard.idle_timeout)  # fmt: skip
        files = raise_open_file_limit()
        try:
            await runner.setup()
            assert runner.server is not None
            # Our own listener (not a web.TCPSite): the guard sees every connection come and go.
            self._listener = await asyncio.get_running_loop().create_server(
                self.guard.factory(runner.server), self.options.rpc_bind, self.options.rpc_port,
                reuse_address=True)  # fmt: skip
        except BaseException:
            await runner.cleanup()
            self._delete_cookie()
            raise
        self._runner = runner
        self.port = self._listener.sockets[0].getsockname()[1]
        self.guard.start()
        log.info("JSON-RPC listening on %s:%d (cookie %s; at most %d connections, %d files open)",
                 self.options.rpc_bind, self.port, self.cookie_path, self.guard.max_connections,
                 files)  # fmt: skip

    async def stop(self) -> None:
        await self.guard.stop()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        if listener is not None:
            await listener.wait_closed()
        self._delete_cookie()

    def _write_cookie(self) -> str:
        """bitcoind's GenerateAuthCookie: a fresh secret, owner-only from the first byte on,
        renamed into place so a reader never sees half a cookie."""
        line = f"{COOKIE_USER}:{secrets.token_hex(32)}"
        self.cookie_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cookie_path.with_name(COOKIE_FILE + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(tmp, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        os.replace(tmp, self.cookie_path)
        return line

    def _delete_cookie(self) -> None:
        if self._cookie is None:
            return
        self._cookie = None
        with contextlib.suppress(FileNotFoundError):
            self.cookie_path.unlink()

    # --- HTTP ---------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        self.guard.begin(transport)
        try:
            return await self._answer(request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug; the client's input is never worth a traceback per request
            self._log_failure("HTTP request", exc)
            return web.Response(status=500, text="internal error")
        finally:
            self.guard.end(transport)

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return web.Response(status=405, text="JSONRPC server handles only POST requests")
        limit = self.options.rpc_max_request_bytes
        if request.content_length is not None and request.content_length > limit:
            return _too_large(limit)
        header = request.headers.get("Authorization")
        if header is None:
            return _unauthorized()
        user = await self._authenticate(request, header)
        if not isinstance(user, str):
            return user
        try:
            body = await asyncio.wait_for(request.read(), self.body_timeout)
        except web.HTTPRequestEntityTooLarge:
            return _too_large(limit)
        except TimeoutError:
            return web.Response(status=408, text="request body not sent in time")

        ctx = RpcContext(self.node, self, user, wallet=request.match_info.get("name"))
        status, reply = await self.process(body, ctx)
        if reply is None:
            response = web.Response(status=204)
        else:
            response = web.Response(status=status, body=dumps_bytes(reply) + b"\n",
                                    content_type="application/json")  # fmt: skip
        if ctx.after_reply:
            await response.prepare(request)
            await response.write_eof()
            for callback in ctx.after_reply:
                callback()
        return response

    async def _authenticate(self, request: web.Request, header: str) -> str | web.Response:
        """The user, or the response for a client that is not one (after the brake's wait)."""
        transport = request.transport
        address = request.remote or "?"
        if not self.guard.trusted(transport):
            wait = self.brake.reserve(address)
            if wait is None:
                return web.Response(status=429, text="too many failed authentication attempts")
            if wait:
                self.guard.brake(transport, True)
                try:
                    await asyncio.sleep(wait)
                finally:
                    self.guard.brake(transport, False)
        user = self._authorized(header)
        if user is None:
            hold = self.brake.failed(address)
            log.warning("incorrect password attempt from %s", address)
            if hold:
                await asyncio.sleep(hold)
            return _unauthorized()
        self.guard.trust(transport)
        return user

    def _authorized(self, header: str) -> str | None:
        """The user the Basic credentials belong to, or None (whatever the header holds)."""
        scheme, _, encoded = header.partition(" ")
        if scheme != "Basic":
            return None
        try:
            user_pass = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeError):  # binascii.Error, and non-ASCII text in the header
            return None
        user, sep, password = user_pass.partition(":")
        if not sep:
            return None
        if self._cookie is not None and hmac.compare_digest(user_pass.encode(),
                                                            self._cookie.encode()):  # fmt: skip
            return user
        accepted = [line.accepts(user, password) for line in self.auth_lines]  # no early exit
        return user if any(accepted) else None

def _unauthorized() -> web.Response:
    return web.Response(status=401, headers={"WWW-Authenticate": WWW_AUTHENTICATE})


def _too_large(limit: int) -> web.Response:
    return web.Response(status=413, text=f"request body larger than {limit} bytes")
