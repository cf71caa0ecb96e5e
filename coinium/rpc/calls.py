"""JSON-RPC calls: request objects, single calls and batches, replies, as bitcoind's
``request.cpp`` frames them (Bitcoin Core 28). `coinium.rpc.server` carries them over HTTP.

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

A handler's unexpected exception becomes -32603; its traceback is logged the first time per method
and exception type, a single line after that, so a client cannot fill the log with tracebacks.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coinium.rpc.encoding import JsonParseError, PlainJson, has_lone_surrogate, loads
from coinium.rpc.errors import (
    RPC_IN_WARMUP,
    RPC_INTERNAL_ERROR,
    RPC_INVALID_REQUEST,
    RPC_METHOD_NOT_FOUND,
    RPC_PARSE_ERROR,
    RpcError,
)
from coinium.rpc.registry import Method

if TYPE_CHECKING:
    from collections.abc import Callable

    from coinium.node import Node
    from coinium.rpc.registry import MethodTable
    from coinium.rpc.server import RpcContext

log = logging.getLogger("coinium.rpc")

_LEGACY, _V2 = "1.0", "2.0"
_NO_ID = object()  # a request object without an "id" key (a notification, in 2.0)
_SCALARS = frozenset({str, int, bool, float, type(None)})


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


class JsonRpcCalls:
    """The JSON-RPC half of `RpcServer` (a mixin: the method table, node, timers and the
    traceback log are the server's)."""

    node: Node
    methods: MethodTable
    call_timers: list[Callable[[str, float], None]]
    _tracebacks_logged: set[tuple[str, str]]

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
