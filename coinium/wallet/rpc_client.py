"""A small synchronous JSON-RPC client for the node, over HTTP with bitcoind-style authentication.

Used by the wallet commands and by ``coinium rpc``. Authentication is either a user and password
given by the caller, or the node's cookie file ``<network datadir>/.cookie`` (one line,
``__cookie__:<password>``), read again at every call because the node writes a new one each time
it starts. Requests are JSON-RPC 2.0 (``{"jsonrpc": "2.0", "id", "method", "params"}``); replies
are accepted in both bitcoind shapes: 2.0 (HTTP 200, ``result`` or ``error``) and legacy 1.0
(``result`` and ``error`` both present, HTTP 500/404 on an error).

Numbers with a fraction in replies are parsed as `decimal.Decimal`, never float, so coin amounts
stay exact. Errors: `RpcError` when the node answered with a JSON-RPC error (``code``,
``message``), `RpcConnectionError` when there was no usable answer (not running, refused
credentials, timeout, not JSON-RPC); both are `RpcClientError` and carry a one-line message.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import socket
import urllib.error
import urllib.request
from decimal import Decimal
from os import PathLike
from pathlib import Path
from typing import Any

COOKIE_FILE = ".cookie"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_TIMEOUT = 900.0  # seconds, as bitcoin-cli's -rpcclienttimeout: some calls mine blocks
MAX_REPLY_BYTES = 256 << 20


class RpcClientError(Exception):
    """Any failure of an RPC call, with a one-line message."""


class RpcError(RpcClientError):
    """The node answered with a JSON-RPC error."""

    def __init__(self, code: int | None, message: str):
        super().__init__(f"{message} (code {code})" if code is not None else message)
        self.code = code
        self.message = message


class RpcConnectionError(RpcClientError):
    """No usable answer: the node is not reachable, refused the credentials, or spoke nonsense."""


def read_cookie(cookie_file: str | PathLike[str]) -> tuple[str, str]:
    """(user, password) from a bitcoind-style cookie file."""
    path = Path(cookie_file)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RpcConnectionError(
            f"no RPC cookie at {path}: is `coinium node` running with this --datadir and "
            "--network? (or pass --rpc-user and --rpc-password)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RpcConnectionError(f"cannot read the RPC cookie {path}: {exc}") from None
    user, sep, password = text.strip().partition(":")
    if not sep or not user or not password:
        raise RpcConnectionError(f"the RPC cookie {path} is malformed (expected user:password)")
    return user, password


class RpcClient:
    """``RpcClient(url, user=..., password=...)`` or ``RpcClient(url, cookie_file=...)``."""

    def __init__(
        self,
        url: str,
        *,
        user: str | None = None,
        password: str | None = None,
        cookie_file: str | PathLike[str] | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ):
        if (user is None) != (password is None):
            raise ValueError("give both an RPC user and password, or neither")
        if user is not None and cookie_file is not None:
            raise ValueError("give an RPC user and password or a cookie file, not both")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._credentials = (user, password) if user is not None else None
        self._cookie_file = Path(cookie_file) if cookie_file is not None else None
        self._ids = itertools.count(1)
        # No proxies: an http_proxy variable must never carry node credentials off this machine.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @classmethod
    def for_node(
        cls,
        network_datadir: str | PathLike[str],
        port: int,
        *,
        host: str = DEFAULT_HOST,
        user: str | None = None,
        password: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> RpcClient:
        """The client for a node: given credentials, else the cookie in its network datadir."""
        shown_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        url = f"http://{shown_host}:{port}"
        if user is not None or password is not None:
            return cls(url, user=user, password=password, timeout=timeout)
        return cls(url, cookie_file=Path(network_datadir) / COOKIE_FILE, timeout=timeout)

    def __repr__(self) -> str:  # never the password
        return f"RpcClient({self.url!r})"

    def call(self, method: str, *params: Any) -> Any:
        """The method's result; raises `RpcError` or `RpcConnectionError`."""
        request_id = next(self._ids)
        body = json.dumps(
            {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}
        ).encode()
        request = urllib.request.Request(
            self.url + "/",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": self._authorization()},
        )
        status, raw = self._post(request)
        try:
            reply = json.loads(raw, parse_float=Decimal)
        except ValueError:
            raise RpcConnectionError(
                f"the node at {self.url} sent a reply that is not JSON (HTTP {status})"
            ) from None
        if isinstance(reply, dict) and reply.get("error") is not None:
            error = reply["error"]
            if isinstance(error, dict):
                code = error.get("code")
                raise RpcError(code if isinstance(code, int) else None,
                               str(error.get("message", "unknown error")))  # fmt: skip
            raise RpcError(None, str(error))
        if status != 200 or not isinstance(reply, dict) or "result" not in reply:
            raise RpcConnectionError(
                f"the node at {self.url} sent an unexpected reply to {method} (HTTP {status})"
            )
        return reply["result"]

    def _authorization(self) -> str:
        if self._credentials is not None:
            user, password = self._credentials
        elif self._cookie_file is not None:
            user, password = read_cookie(self._cookie_file)
        else:
            return ""
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return "Basic " + token

    def _post(self, request: urllib.request.Request) -> tuple[int, bytes]:
        unreachable = f"cannot reach the node at {self.url}: is `coinium node` running?"
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return response.status, response.read(MAX_REPLY_BYTES)
        except urllib.error.HTTPError as exc:  # bitcoind answers RPC errors with 4xx/5xx too
            with exc:
                if exc.code in (401, 403):
                    raise RpcConnectionError(
                        f"the node at {self.url} refused the RPC credentials (HTTP {exc.code}): "
                        "check --rpc-user/--rpc-password or that the cookie is this node's"
                    ) from None
                return exc.code, exc.read(MAX_REPLY_BYTES)
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ConnectionRefusedError):
                raise RpcConnectionError(unreachable) from None
            if isinstance(reason, (TimeoutError, socket.timeout)):
                raise RpcConnectionError(self._timed_out()) from None
            raise RpcConnectionError(f"cannot reach the node at {self.url}: {reason}") from None
        except TimeoutError:
            raise RpcConnectionError(self._timed_out()) from None
        except ConnectionRefusedError:
            raise RpcConnectionError(unreachable) from None
        except (OSError, http.client.HTTPException) as exc:
            raise RpcConnectionError(
                f"lost the connection to the node at {self.url}: {exc or type(exc).__name__}"
            ) from None

    def _timed_out(self) -> str:
        return f"the node at {self.url} did not answer within {self.timeout} s"
