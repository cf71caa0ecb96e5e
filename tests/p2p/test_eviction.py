"""Pending-handshake eviction by address group, the timeout under pressure, and the per-address
connection rate."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from coinium.p2p.eviction import (
    HANDSHAKE_TIMEOUT_PRESSURE_S,
    HANDSHAKE_TIMEOUT_S,
    MAX_PENDING_HANDSHAKES,
    MAX_PENDING_PER_GROUP,
    ConnectionRate,
    address_group,
    handshake_timeout,
    pending_victim,
)


@dataclass
class P:
    ip: str
    created: float


def test_address_groups():
    assert address_group("203.0.113.7") == address_group("203.0.200.1") == "203.0.0.0/16"
    assert address_group("::ffff:203.0.113.7") == "203.0.0.0/16"
    assert address_group("2001:db8:1::1") == "2001:db8::/32"
    assert address_group("not-an-ip") == "not-an-ip"


def test_a_group_never_holds_more_than_its_share():
    squatters = [P("198.51.100.1", float(i)) for i in range(MAX_PENDING_PER_GROUP)]
    # A newcomer of the squatters' group replaces the oldest of them...
    assert pending_victim(squatters, "198.51.7.7") is squatters[0]
    # ...one from elsewhere finds room without evicting anyone.
    assert pending_victim(squatters, "203.0.113.9") is None


def test_a_full_table_evicts_the_oldest_of_the_largest_group():
    table = [P(f"10.{i % 4}.0.1", float(i)) for i in range(MAX_PENDING_HANDSHAKES - 1)]
    table.append(P("10.0.0.2", -1.0))  # the oldest, in group 10.0/16 (the largest: 9)
    assert pending_victim(table, "192.0.2.1") is table[-1]
    assert pending_victim([], "192.0.2.1") is None


@given(st.lists(st.tuples(st.integers(0, 5), st.floats(0, 100)), max_size=60), st.integers(0, 5))
def test_evicting_keeps_every_group_within_bounds(entries, newcomer):
    pending = [P(f"10.{g}.0.1", t) for g, t in entries]
    victim = pending_victim(pending, f"10.{newcomer}.0.9")
    if victim is not None:
        pending.remove(victim)  # type: ignore[arg-type]
    own = sum(1 for p in pending if p.ip.startswith(f"10.{newcomer}."))
    if len(entries) < MAX_PENDING_HANDSHAKES and own < MAX_PENDING_PER_GROUP - 1:
        assert victim is None
    assert own < max(MAX_PENDING_PER_GROUP, len(entries))


def test_shorter_timeout_under_pressure():
    assert handshake_timeout(1) == HANDSHAKE_TIMEOUT_S
    assert handshake_timeout(MAX_PENDING_HANDSHAKES // 2) == HANDSHAKE_TIMEOUT_PRESSURE_S


def test_connection_rate_per_address():
    rate = ConnectionRate(rate=1.0, burst=3.0)
    assert [rate.allow("192.0.2.1", 0.0) for _ in range(4)] == [True, True, True, False]
    assert rate.allow("192.0.2.2", 0.0)  # another address has its own bucket
    assert not rate.allow("192.0.2.1", 0.5) and rate.allow("192.0.2.1", 1.6)
