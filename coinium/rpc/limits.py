"""What one RPC client may take from the server: password guesses, connections, time.

`AuthBrake` — bitcoind waits 250 ms before answering a wrong password, per request, so a client
with 1,000 connections guessed 1,714 passwords a second. Here the brake is per source address,
whatever its concurrency: once an address has failed, each of its credential checks takes the
next 250 ms slot of that address (one check per slot), and a check that would wait more than
``max_wait`` is refused with 429 without looking at the credentials at all. So an address guesses
at most ``1 / delay`` passwords a second. A connection that has already authenticated is not
braked (a wallet's keep-alive session keeps working while someone on the same host guesses).

`ConnectionGuard` — the listening socket's protocol factory, wrapped: at most ``max_connections``
at once. A newcomer from an address the brake holds is closed at once when that address already
has ``MAX_CONNECTIONS_PER_SUSPECT`` open, or when the guard is full: a guesser's reconnections
cost an accept and a close, not an HTTP request each, and cannot churn anyone out. Another
newcomer evicts, oldest first, a connection that has never authenticated and is idle or waiting
in the brake, else an idle authenticated one; if every connection is at work it is closed at
once. So 1,000 guessing connections keep neither an honest client out nor an authenticated
keep-alive session. A connection that sends no complete request within ``idle_timeout`` (idle
keep-alive, or headers sent half) is closed; the handler bounds the body read itself
(`body_timeout`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("coinium.rpc")

AUTH_FAILURE_DELAY_S = 0.25
AUTH_MAX_WAIT_S = 4.0  # beyond this queue of checks for one address: 429 at once
AUTH_FORGET_S = 60.0  # an address with no failure for this long starts clean
MAX_RPC_CONNECTIONS = 256
MAX_CONNECTIONS_PER_SUSPECT = 16
IDLE_TIMEOUT_S = 30.0  # bitcoind's -rpcservertimeout default
BODY_TIMEOUT_S = 30.0


@dataclass(slots=True)
class _Address:
    next_slot: float = 0.0  # monotonic: when this address's next credential check may run
    last_failure: float = 0.0


class AuthBrake:
    """One credential check per ``delay`` for an address that has failed (see the module)."""

    def __init__(self, delay: float = AUTH_FAILURE_DELAY_S, max_wait: float = AUTH_MAX_WAIT_S,
                 max_addresses: int = 10_000):  # fmt: skip
        self.delay = delay
        self.max_wait = max_wait
        self.max_addresses = max_addresses
        self._addresses: dict[str, _Address] = {}

    def _entry(self, address: str, now: float) -> _Address | None:
        entry = self._addresses.get(address)
        if entry is not None and now - entry.last_failure > AUTH_FORGET_S:
            del self._addresses[address]
            return None
        return entry

    def holds(self, address: str) -> bool:
        """Whether ``address`` has failed recently (its checks are braked)."""
        return self._entry(address, time.monotonic()) is not None

    def reserve(self, address: str) -> float | None:
        """Seconds to wait before this address's next check (0: at once), or None: refuse."""
        now = time.monotonic()
        entry = self._entry(address, now)
        if entry is None:
            return 0.0
        slot = max(now, entry.next_slot)
        if slot - now > self.max_wait:
            return None
        entry.next_slot = slot + self.delay
        return slot - now

    def failed(self, address: str) -> float:
        """Record a failure; the seconds to hold its 401 (bitcoind's 250 ms, for every one)."""
        now = time.monotonic()
        entry = self._entry(address, now)
        if entry is None:
            if len(self._addresses) >= self.max_addresses:
                self._forget_oldest()
            entry = self._addresses[address] = _Address(next_slot=now + self.delay)
            entry.last_failure = now
            return self.delay
        entry.last_failure = now
        return self.delay

    def _forget_oldest(self) -> None:
        oldest = min(self._addresses, key=lambda a: self._addresses[a].last_failure)
        del self._addresses[oldest]


@dataclass(slots=True)
class _Conn:
    transport: asyncio.Transport
    address: str
    last_done: float = field(default_factory=time.monotonic)  # made, or last reply sent
    busy: int = 0  # requests being handled
    braked: bool = False  # its request waits for its address's next credential check
    trusted: bool = False  # has sent good credentials


class _GuardedProtocol(asyncio.Protocol):
    """Forwards everything to aiohttp's protocol; tells the guard when the link comes and goes."""

    def __init__(self, guard: ConnectionGuard, inner: Any):
        self._guard = guard
        self._inner = inner
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        if not self._guard._admit(transport):  # type: ignore[arg-type]
            transport.close()
            return
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._guard._conns.pop(self._transport, None)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class ConnectionGuard:
    def __init__(self, max_connections: int = MAX_RPC_CONNECTIONS,
                 idle_timeout: float = IDLE_TIMEOUT_S,
                 suspect: Callable[[str], bool] | None = None) -> None:  # fmt: skip
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.suspect = suspect  # an address whose newcomers are refused, not admitted, when full
        self.refused = 0
        self.evicted = 0
        self.timed_out = 0
        self._conns: dict[asyncio.Transport, _Conn] = {}
        self._task: asyncio.Task | None = None

    def __len__(self) -> int:
        return len(self._conns)

    def factory(self, inner_factory: Callable[[], Any]) -> Callable[[], asyncio.Protocol]:
        return lambda: _GuardedProtocol(self, inner_factory())

    def start(self) -> None:
        self._task = asyncio.create_task(self._sweep_loop(), name="rpc-connection-guard")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _admit(self, transport: asyncio.Transport) -> bool:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if peer else ""
        suspect = self.suspect is not None and self.suspect(address)
        if suspect and sum(1 for c in self._conns.values()
                           if c.address == address) >= MAX_CONNECTIONS_PER_SUSPECT:  # fmt: skip
            self.refused += 1
            return False
        if len(self._conns) >= self.max_connections:
            idle = [c for c in self._conns.values() if not c.busy or c.braked]
            if not idle or suspect:
                self.refused += 1
                return False
            victim = min(idle, key=lambda c: (c.trusted, c.last_done))
            self._conns.pop(victim.transport, None)
            victim.transport.close()
            self.evicted += 1
        self._conns[transport] = _Conn(transport, address)
        return True

    # The request handler brackets each request with these.
    def begin(self, transport: Any) -> None:
        conn = self._conns.get(transport)
        if conn is not None:
            conn.busy += 1

    def end(self, transport: Any) -> None:
        conn = self._conns.get(transport)
        if conn is not None:
            conn.busy = max(0, conn.busy - 1)
            conn.last_done = time.monotonic()

    def brake(self, transport: Any, waiting: bool) -> None:
        conn = self._conns.get(transport)
        if conn is not None:
            conn.braked = waiting

    def trust(self, transport: Any) -> None:
        conn = self._conns.get(transport)
        if conn is not None:
            conn.trusted = True

    def trusted(self, transport: Any) -> bool:
        conn = self._conns.get(transport)
        return conn is not None and conn.trusted

    def sweep(self, now: float) -> None:
        for conn in list(self._conns.values()):
            if not conn.busy and now - conn.last_done > self.idle_timeout:
                self._conns.pop(conn.transport, None)
                conn.transport.close()
                self.timed_out += 1

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.idle_timeout / 4))
            self.sweep(time.monotonic())


def raise_open_file_limit() -> int:
    """Raise the soft open-file limit to the hard one (bitcoind's RaiseFileDescriptorLimit);
    return the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return soft
