"""The JSON-RPC server: HTTP transport, authentication and JSON-RPC framing, as bitcoind's
``httprpc.cpp`` and ``request.cpp`` do them (Bitcoin Core 28).

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

Framing, per request object:

- legacy (no ``jsonrpc`` key, or ``"1.0"``): the reply has ``result``, ``error`` and ``id``
  (one of the first two null); an error reply has HTTP status 404 (-32601 method not found),
  400 (-32600 invalid request) or 500 (anything else).
- ``"jsonrpc": "2.0"``: the reply has ``jsonrpc``, ``result`` xor ``error``, and ``id``; HTTP
  200 whatever the method did. A request without ``id`` is a notification: it runs, the reply is
  HTTP 204 with no body.
- A body that is not JSON (or neither an object nor an array) is a -32700 parse error with HTTP
  500, in the legacy shape since no version could be read.
- A batch (an array) answers HTTP 200 with one reply per non-notification element, in order;
  errors stay inside their element; a batch of only notifications answers 204. An empty batch
  answers ``[]`` (HTTP 200), as Bitcoin Core 28 does.
- Consecutive calls in a batch of a method with a `Method.run_batch` (sendrawtransaction) run as
  one unit: parameters bound in one loop, one handler invocation for the run, no call timer or
  ``getrpcinfo`` entry per call (the metrics' timers get each call's share of the run's time).
  Each call's reply is exactly the one it gets run alone (``tests/rpc/test_rpc_batch_equivalence``).
- A string holding a lone surrogate (``"\\udc80"``: valid JSON escapes, but no Unicode text) in an
  element's id, method or params makes that element a -32600 error (id null if the id is the bad
  part); the rest of a batch is answered as usual.

A handler's unexpected exception becomes -32603; its traceback is logged the first time per method
and exception type, a single line after that, so a client cannot fill the log with tracebacks.
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
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from coinium.config import ConfigError, NodeOptions
from coinium.rpc.encoding import (
    JsonParseError,
    PlainJson,
    dumps_bytes,
    has_lone_surrogate,
    loads,
)
from coinium.rpc.errors import (
    RPC_IN_WARMUP,
    RPC_INTERNAL_ERROR,
    RPC_INVALID_REQUEST,
    RPC_METHOD_NOT_FOUND,
    RPC_PARSE_ERROR,
    RpcError,
)
from coinium.rpc.limits import (
    BODY_TIMEOUT_S,
    AuthBrake,
    ConnectionGuard,
    raise_open_file_limit,
)
from coinium.rpc.registry import Method, MethodTable

if TYPE_CHECKING:
    from coinium.node import Node

log = logging.getLogger("coinium.rpc")

T = TypeVar("T")

COOKIE_USER = "__cookie__"
COOKIE_FILE = ".cookie"
WWW_AUTHENTICATE = 'Basic realm="jsonrpc"'
SHUTDOWN_TIMEOUT_S = 5.0  # in-flight calls (say a long generatetoaddress) get this long at stop

_LEGACY, _V2 = "1.0", "2.0"
_NO_ID = object()  # a request object without an "id" key (a notification, in 2.0)
_SCALARS = frozenset({str, int, bool, float, type(None)})


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


@dataclass(slots=True)
class _Request:
    version: str = _LEGACY
    id: Any = _NO_ID
    method: str = ""
    params: list[Any] | dict[str, Any] = field(default_factory=list)

    @property
    def is_notification(self) -> bool:
        return self.version == _V2 and self.id is _NO_ID


class _BadRequest(Exception):
    """A request object that cannot be run; carries what was read of it for the reply."""

    def __init__(self, error: RpcError, request: _Request):
        super().__init__(error.message)
        self.error = error
        self.request = request


class RpcServer:
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

    # --- JSON-RPC -----------------------------------------------------------------------------
    async def process(self, body: bytes, ctx: RpcContext) -> tuple[int, Any | None]:
        """(HTTP status, reply) for a request body; reply None means 204 No Content."""
        try:
            data = loads(body)
        except JsonParseError:
            return 500, _reply(_Request(), error=RpcError(RPC_PARSE_ERROR, "Parse error"))
        # A lone surrogate can only come from a \u escape (strict UTF-8 refuses encoded ones):
        # a body without one needs no scan of its strings.
        scan = b"\\u" in body
        if isinstance(data, dict):
            return await self._single(data, ctx, scan)
        if isinstance(data, list):
            return await self._batch(data, ctx, scan)
        return 500, _reply(_Request(), error=RpcError(RPC_PARSE_ERROR,
                                                      "Top-level object parse error"))

    async def _single(self, data: dict[str, Any], ctx: RpcContext,
                      scan: bool = True) -> tuple[int, Any | None]:  # fmt: skip
        try:
            request = _parse_request(data, scan)
        except _BadRequest as bad:
            return _legacy_status(bad.error.code), _reply(bad.request, error=bad.error)
        try:
            result = await self._execute(request, ctx)
        except RpcError as error:
            if request.is_notification:
                return 204, None
            status = 200 if request.version == _V2 else _legacy_status(error.code)
            return status, _reply(request, error=error)
        if request.is_notification:
            return 204, None
        return 200, _reply(request, result=result)

    async def _batch(self, items: list[Any], ctx: RpcContext,
                     scan: bool = True) -> tuple[int, Any | None]:  # fmt: skip
        if not items:
            return 200, []  # Bitcoin Core 28 (JSON-RPC 2.0 would have an error)
        parsed: list[_Request | _BadRequest] = []
        for item in items:
            try:
                parsed.append(_parse_request(item, scan))
            except _BadRequest as bad:
                parsed.append(bad)
        requests = [r for r in parsed if isinstance(r, _Request)]
        # One debug line per batch, not per call: a line per call costs more than a cheap call.
        if log.isEnabledFor(logging.DEBUG):
            counts = Counter(r.method for r in requests)
            log.debug("%s called a batch of %d: %s", ctx.user, len(items),
                      ", ".join(f"{n} x{c}" for n, c in counts.items()))
        await self._prepare_batch(requests, ctx)
        replies = []
        i, count = 0, len(parsed)
        while i < count:
            request = parsed[i]
            if isinstance(request, _BadRequest):
                replies.append(_reply(request.request, error=request.error))
                i += 1
                continue
            method = self.methods.get(request.method)
            if method is not None and method.run_batch is not None:
                # Consecutive calls of a method that runs them as one unit: one run, in order.
                end = i + 1
                while end < count and getattr(parsed[end], "method", None) == request.method:
                    end += 1
                run = parsed[i:end]
                outcomes = await self._execute_run(method, run, ctx)
                for call, outcome in zip(run, outcomes, strict=True):
                    if not call.is_notification:  # type: ignore[union-attr]
                        replies.append(_reply(call, error=outcome)  # type: ignore[arg-type]
                                       if isinstance(outcome, RpcError)
                                       else _reply(call, result=outcome))  # type: ignore[arg-type]
                i = end
                continue
            try:
                reply = _reply(request, result=await self._execute(request, ctx, in_batch=True))
            except RpcError as error:
                reply = _reply(request, error=error)
            if not request.is_notification:
                replies.append(reply)
            i += 1
        return (200, replies) if replies else (204, None)

    async def _execute_run(self, method: Method, run: list[Any],
                           ctx: RpcContext) -> list[Any]:  # fmt: skip
        """Each call's result or RpcError for a run of calls of ``method`` (`Method.run_batch`),
        exactly what `_execute` gives for each in turn. The metrics' timers get each call's
        share of the run's time (one clock reading per run, not per call)."""
        if method.needs_chain and self.node.chain is None:
            error = RpcError(RPC_IN_WARMUP, "The chain is not loaded (starting or shutting down)")
            return [error] * len(run)
        started = time.monotonic()
        outcomes: list[Any] = [None] * len(run)
        bound: list[dict[str, Any]] = []
        where: list[int] = []
        for k, request in enumerate(run):
            try:
                bound.append(method.bind(request.params))
                where.append(k)
            except RpcError as error:
                outcomes[k] = error
            except Exception as exc:
                outcomes[k] = self._internal_error(method, exc)
        if bound:
            assert method.run_batch is not None
            try:
                results = await method.run_batch(ctx, bound)
                if len(results) != len(bound):
                    raise RuntimeError(f"{len(results)} outcomes for {len(bound)} calls")
            except Exception as exc:  # a bug in the runner: each of its calls gets the error
                results = [exc] * len(bound)
            for k, result in zip(where, results, strict=True):
                if isinstance(result, Exception) and not isinstance(result, RpcError):
                    result = self._internal_error(method, result)
                outcomes[k] = result
        if self.call_timers:
            share = (time.monotonic() - started) / len(run)
            for timer in self.call_timers:
                for _ in run:
                    timer(method.name, share)
        return outcomes

    async def _prepare_batch(self, requests: list[_Request], ctx: RpcContext) -> None:
        """Each method's `prepare_batch` hook, once, with the params of its calls in the batch."""
        if self.node.chain is None:
            return
        groups: dict[str, tuple[Method, list[Any]]] = {}
        for request in requests:
            method = self.methods.get(request.method)
            if method is not None and method.prepare_batch is not None:
                groups.setdefault(method.name, (method, []))[1].append(request.params)
        for name, (method, params) in groups.items():
            try:
                await method.prepare_batch(ctx, params)  # type: ignore[misc]
            except Exception:  # only speed is lost: each call still does all its checks
                log.exception("preparing a batch of %s failed", name)

    async def _execute(self, request: _Request, ctx: RpcContext, in_batch: bool = False) -> Any:
        method = self.methods.get(request.method)
        if method is None:
            raise RpcError(RPC_METHOD_NOT_FOUND, "Method not found")
        if method.needs_chain and self.node.chain is None:
            raise RpcError(RPC_IN_WARMUP, "The chain is not loaded (starting or shutting down)")
        started = time.monotonic()
        try:
            kwargs = method.bind(request.params)
            if not in_batch:
                log.debug("%s called %s", ctx.user, method.name)
            return await method.handler(ctx, **kwargs)
        except RpcError:
            raise
        except Exception as exc:
            raise self._internal_error(method, exc) from exc
        finally:
            for timer in self.call_timers:
                timer(method.name, time.monotonic() - started)

    def _internal_error(self, method: Method, exc: Exception) -> RpcError:
        """-32603 for a handler's unexpected exception (logged)."""
        self._log_failure(f"RPC {method.name}", exc)
        return RpcError(RPC_INTERNAL_ERROR, f"Internal error: {type(exc).__name__}: {exc}")

    def _log_failure(self, what: str, exc: Exception) -> None:
        """A traceback the first time per (what, exception type), one line after that."""
        kind = (what, type(exc).__name__)
        if kind in self._tracebacks_logged:
            log.error("%s failed: %s: %.200s", what, type(exc).__name__, exc)
            return
        if len(self._tracebacks_logged) < 1000:
            self._tracebacks_logged.add(kind)
        log.error("%s failed", what, exc_info=exc)


def _parse_request(data: Any, scan: bool = True) -> _Request:
    """bitcoind's JSONRPCRequest::parse: fields are read in order, so an error reply carries the
    id and version read before the problem. ``scan``: whether strings may hold lone surrogates
    (False when the body has no ``\\u`` escape at all)."""
    request = _Request()
    if not isinstance(data, dict):
        raise _BadRequest(RpcError(RPC_INVALID_REQUEST, "Invalid Request object"), request)
    if "id" in data and not (scan and has_lone_surrogate(data["id"])):
        request.id = data["id"]
    # The id (left null if it is the bad part), method or params.
    if scan and has_lone_surrogate(data):
        if "jsonrpc" in data and data["jsonrpc"] in (_LEGACY, _V2):
            request.version = data["jsonrpc"]
        raise _BadRequest(RpcError(RPC_INVALID_REQUEST, "Invalid Request: a string holds a lone "
                                   "surrogate (not Unicode text)"), request)  # fmt: skip
    version = data.get("jsonrpc")
    if version is not None:
        if not isinstance(version, str):
            raise _BadRequest(RpcError(RPC_INVALID_REQUEST, "jsonrpc field must be a string"),
                              request)  # fmt: skip
        if version not in (_LEGACY, _V2):
            raise _BadRequest(RpcError(RPC_INVALID_REQUEST, "JSON-RPC version not supported"),
                              request)  # fmt: skip
        request.version = version
    method = data.get("method")
    if method is None:
        raise _BadRequest(RpcError(RPC_INVALID_REQUEST, "Missing method"), request)
    if not isinstance(method, str):
        raise _BadRequest(RpcError(RPC_INVALID_REQUEST, "Method must be a string"), request)
    request.method = method
    params = data.get("params")
    if params is None:
        request.params = []
    elif isinstance(params, (list, dict)):
        request.params = params
    else:
        raise _BadRequest(RpcError(RPC_INVALID_REQUEST, "Params must be an array or object"),
                          request)  # fmt: skip
    return request


def _reply(request: _Request, *, result: Any = None, error: RpcError | None = None) -> dict:
    """bitcoind's JSONRPCReplyObj: legacy has both result and error, 2.0 has one of them.
    Every key in it is text when the result is a scalar (the id comes from parsed JSON, an
    error is code and message): then it is `PlainJson`, which `dumps` writes at C speed."""
    plain = error is not None or type(result) in _SCALARS
    reply: dict[str, Any] = PlainJson() if plain else {}
    if request.version == _V2:
        reply["jsonrpc"] = "2.0"
        if error is not None:
            reply["error"] = error.to_json()
        else:
            reply["result"] = result
    else:
        reply["result"] = None if error is not None else result
        reply["error"] = error.to_json() if error is not None else None
    reply["id"] = None if request.id is _NO_ID else request.id
    return reply


def _legacy_status(code: int) -> int:
    if code == RPC_INVALID_REQUEST:
        return 400
    if code == RPC_METHOD_NOT_FOUND:
        return 404
    return 500


def _unauthorized() -> web.Response:
    return web.Response(status=401, headers={"WWW-Authenticate": WWW_AUTHENTICATE})


def _too_large(limit: int) -> web.Response:
    return web.Response(status=413, text=f"request body larger than {limit} bytes")
