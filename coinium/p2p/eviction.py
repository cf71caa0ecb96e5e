"""Who gets a pending-handshake slot, and for how long.

An inbound connection is a pending handshake from its first message until its VERACK. Keys cost
nothing, so a squatter can hold every pending slot by sending VERSION and never VERACK, redialling
with a fresh key when it times out (40 such connections kept 32 slots full: no honest newcomer got
in). So, as bitcoind's eviction does for full connections, a newcomer is never refused for want
of a pending slot; instead it evicts:

- the oldest pending handshake of its own address group, once that group holds
  ``MAX_PENDING_PER_GROUP`` slots (so one group, a squatter's, can never fill the table, and the
  slots it cannot fill are kept for everyone else);
- otherwise, with the table full, the oldest pending handshake of the group holding the most.

An honest handshake takes a few round trips, a squatter's the whole timeout, so the oldest is a
squatter's. Under pressure (half the table pending) the timeout falls from 10 s to 2 s. New
connections from one source address are rate-limited (`ConnectionRate`) before any of this.
"""

from __future__ import annotations

import ipaddress
import time
from collections import Counter, OrderedDict
from collections.abc import Sequence
from typing import Protocol

MAX_PENDING_HANDSHAKES = 32
MAX_PENDING_PER_GROUP = 8
HANDSHAKE_TIMEOUT_S = 10.0
HANDSHAKE_TIMEOUT_PRESSURE_S = 2.0
# New inbound connections per source address: a second, and the burst.
CONNECTIONS_PER_ADDRESS_RATE = 5.0
CONNECTIONS_PER_ADDRESS_BURST = 40.0
_RATE_ADDRESSES = 4096


class Pending(Protocol):
    ip: str
    created: float  # monotonic


def address_group(ip: str) -> str:
    """bitcoind's network group, shortened: IPv4 /16, IPv6 /32; anything else is its own."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.version == 4:
        return str(ipaddress.ip_network(f"{address}/16", strict=False))
    return str(ipaddress.ip_network(f"{address}/32", strict=False))


def pending_victim(pending: Sequence[Pending], newcomer_ip: str) -> Pending | None:
    """The pending handshake a newcomer from ``newcomer_ip`` replaces, or None: room for both."""
    if not pending:
        return None
    groups = Counter(address_group(p.ip) for p in pending)
    own = address_group(newcomer_ip)
    if groups[own] >= MAX_PENDING_PER_GROUP:
        group = own
    elif len(pending) >= MAX_PENDING_HANDSHAKES:
        group = max(groups, key=lambda g: groups[g])
    else:
        return None
    return min((p for p in pending if address_group(p.ip) == group), key=lambda p: p.created)


def handshake_timeout(pending_count: int) -> float:
    if pending_count >= MAX_PENDING_HANDSHAKES // 2:
        return HANDSHAKE_TIMEOUT_PRESSURE_S
    return HANDSHAKE_TIMEOUT_S


class ConnectionRate:
    """A token bucket per source address for new inbound connections (bounded table)."""

    def __init__(self, rate: float = CONNECTIONS_PER_ADDRESS_RATE,
                 burst: float = CONNECTIONS_PER_ADDRESS_BURST) -> None:  # fmt: skip
        self.rate = rate
        self.burst = burst
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, stamp

    def allow(self, ip: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        tokens, stamp = self._buckets.pop(ip, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[ip] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > _RATE_ADDRESSES:
            self._buckets.popitem(last=False)
        return allowed
