"""The standalone miner's link to a node: work over JSON-RPC, new tips over ZMQ (or polling).

`RpcWorkSource` is the `WorkSource` of ``coinium mine``: ``getblocktemplate`` for work and
``submitblock`` for finds, through the wallet's `RpcClient` (cookie or user/password, the cookie
re-read at every call, so a restarted node's new cookie just works). Connection failures become
`SourceUnavailable`, which the miner answers with backoff and retries.

`TipWatcher` tells the miner about new tips as fast as the node can say it:

* ZMQ: a SUB socket on the node's ``hashblock`` publisher, found by asking the node
  (``getzmqnotifications``) unless an address is given. A wildcard bind address (``0.0.0.0``,
  ``*``) is reached at the RPC host. ZeroMQ reconnects by itself when the node restarts.
* Otherwise a short poll of ``getbestblockhash`` (the node's ``getblocktemplate`` does no long
  polling), every ``poll_seconds``. While polling in "auto" mode it asks again for a publisher
  now and then, so a node that comes back with ZMQ configured is picked up.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import zmq

from coinium.core.block import Block
from coinium.core.params import NetworkParams
from coinium.mining.engine import Miner, SourceFatal, SourceUnavailable
from coinium.mining.work import Template, TemplateError
from coinium.wallet.rpc_client import RpcClient, RpcClientError, RpcConnectionError, RpcError

log = logging.getLogger("coinium.miner")

RPC_METHOD_NOT_FOUND = -32601
REDISCOVER_SECONDS = 10.0
_SEQUENCE = struct.Struct("<I")


class RpcWorkSource:
    def __init__(self, client: RpcClient, params: NetworkParams | None = None):
        self.client = client
        self.params = params
        self._checked = False

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return self.client.call(method, *args)
        except RpcConnectionError as exc:
            self._checked = False  # it may be another node when it comes back
            raise SourceUnavailable(str(exc)) from None
        except RpcError as exc:
            if exc.code == RPC_METHOD_NOT_FOUND:
                raise SourceFatal(f"the node has no {method}: {exc}") from None
            raise SourceUnavailable(f"{method}: {exc}") from None

    def get_template(self) -> Template:
        if not self._checked and self.params is not None:
            chain = self._call("getmininginfo").get("chain")
            if chain is not None and chain != self.params.name:
                raise SourceFatal(f"the node is on {chain!r} but the payout address is for "
                                  f"{self.params.name!r}")  # fmt: skip
            self._checked = True
        reply = self._call("getblocktemplate", {"mode": "template"})
        try:
            return Template.from_rpc(reply, time.monotonic())
        except TemplateError as exc:
            raise SourceUnavailable(str(exc)) from None

    def submit_block(self, block: Block) -> str | None:
        try:
            result = self.client.call("submitblock", block.encode().hex())
        except RpcConnectionError as exc:
            raise SourceUnavailable(str(exc)) from None
        except RpcError as exc:  # the node answered: a refusal (e.g. the block did not decode)
            return exc.message
        return None if result is None else str(result)


def reachable_zmq_address(address: str, rpc_url: str) -> str:
    """A publisher bound to every interface is reached at the host we talk RPC to."""
    scheme, sep, rest = address.partition("://")
    if not sep or scheme != "tcp":
        return address
    host, colon, port = rest.rpartition(":")
    if host in ("*", "0.0.0.0", "[::]", "::"):
        rpc_host = urlsplit(rpc_url).hostname or "127.0.0.1"
        shown = f"[{rpc_host}]" if ":" in rpc_host else rpc_host
        return f"tcp://{shown}{colon}{port}"
    return address


class TipWatcher:
    """A thread that feeds `Miner.new_tip`; ``zmq_address``: "auto", an address, or None
    (poll only)."""

    def __init__(self, miner: Miner, client: RpcClient, zmq_address: str | None = "auto",
                 poll_seconds: float = 0.25,
                 report: Callable[..., None] | None = None):  # fmt: skip
        self.miner = miner
        self.client = client
        self.zmq_address = zmq_address
        self.poll_seconds = poll_seconds
        self._report = report or (lambda kind, **data: None)
        self._stop = threading.Event()
        self._context = zmq.Context()
        self._thread = threading.Thread(target=self._run, name="tip-watcher", daemon=True)
        self.mode: str | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self._context.term()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                address = self._publisher()
                if address is not None:
                    self._subscribe(address)
                else:
                    self._poll()
        except Exception:  # noqa: BLE001 - the miner still refreshes work without us
            log.exception("the tip watcher stopped")

    def _publisher(self) -> str | None:
        if self.zmq_address is None:
            return None
        if self.zmq_address != "auto":
            return self.zmq_address
        try:
            notifications = self.client.call("getzmqnotifications")
        except RpcClientError:
            return None
        for entry in notifications or []:
            if entry.get("type") == "pubhashblock":
                return reachable_zmq_address(entry["address"], self.client.url)
        return None

    def _set_mode(self, mode: str, **data: Any) -> None:
        if mode != self.mode:
            self.mode = mode
            self._report("notify", mode=mode, **data)

    def _subscribe(self, address: str) -> None:
        sock = self._context.socket(zmq.SUB)
        try:
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.TCP_KEEPALIVE, 1)
            if address.startswith("tcp://["):
                sock.setsockopt(zmq.IPV6, 1)
            sock.setsockopt(zmq.SUBSCRIBE, b"hashblock")
            sock.connect(address)
            self._set_mode("zmq", address=address)
            expected: int | None = None
            while not self._stop.is_set():
                if not sock.poll(200):
                    continue
                frames = sock.recv_multipart()
                seen = time.monotonic()
                if len(frames) != 3 or frames[0] != b"hashblock" or len(frames[1]) != 32:
                    continue
                sequence = _SEQUENCE.unpack(frames[2])[0] if len(frames[2]) == 4 else None
                if expected is not None and sequence is not None and sequence != expected:
                    log.info("zmq hashblock: sequence %d, expected %d (missed notices or a "
                             "node restart)", sequence, expected)  # fmt: skip
                expected = None if sequence is None else (sequence + 1) & 0xFFFFFFFF
                self.miner.new_tip(frames[1], source="zmq", seen_at=seen)
        finally:
            sock.close(linger=0)

    def _poll(self) -> None:
        self._set_mode("poll", interval=self.poll_seconds)
        last_discovery = time.monotonic()
        while not self._stop.wait(self.poll_seconds):
            try:
                best = self.client.call("getbestblockhash")
            except RpcClientError:
                continue  # the miner reports the node being away
            try:
                tip = bytes.fromhex(best)
            except (TypeError, ValueError):
                continue
            self.miner.new_tip(tip, source="poll")
            now = time.monotonic()
            if self.zmq_address == "auto" and now - last_discovery > REDISCOVER_SECONDS:
                last_discovery = now
                if self._publisher() is not None:
                    return  # the node publishes hashblock now: subscribe
