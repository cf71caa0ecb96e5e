"""Bans by key and by IP network, expiry, and persistence in peers.lmdb across reopening."""

from __future__ import annotations

import threading

import pytest

from coinium.p2p.banlist import BanList, ban_subject
from coinium.p2p.peerdb import PeerDB

KEY = "ab" * 32


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_subjects_are_canonical():
    assert ban_subject(KEY.upper()) == KEY
    assert ban_subject(f"{KEY}@127.0.0.1:19444") == KEY
    assert ban_subject("10.1.2.3") == "10.1.2.3/32"
    assert ban_subject("10.1.2.3/16") == "10.1.0.0/16"
    assert ban_subject("2001:db8::1") == "2001:db8::1/128"
    with pytest.raises(ValueError):
        ban_subject("not an address")


def test_keys_and_networks_are_banned_until_their_time(tmp_path):
    clock = Clock()
    bans = BanList(None, clock)
    bans.ban(KEY, 60, reason="invalid-block")
    bans.ban("192.168.0.0/24", 120)
    assert bans.is_banned(KEY) and not bans.is_banned("cd" * 32)
    assert bans.is_banned(ip="192.168.0.77") and not bans.is_banned(ip="192.168.1.1")
    assert bans.is_banned("cd" * 32, "::ffff:192.168.0.5")  # IPv4-mapped counts as IPv4
    clock.now += 61
    assert not bans.is_banned(KEY) and bans.is_banned(ip="192.168.0.1")
    assert [b.subject for b in bans.entries()] == ["192.168.0.0/24"]
    assert bans.unban("192.168.0.0/24") and not bans.unban("192.168.0.0/24")


def test_bans_survive_a_restart(tmp_path):
    clock = Clock()
    db = PeerDB(tmp_path)
    bans = BanList(db, clock)
    bans.ban(KEY, 3600, reason="flooding")
    bans.ban("10.0.0.1", 10)
    db.close()
    clock.now += 20  # the IP ban expires while the node is down
    db = PeerDB(tmp_path)
    again = BanList(db, clock)
    assert again.is_banned(KEY) and not again.is_banned(ip="10.0.0.1")
    (ban,) = again.entries()
    assert (ban.subject, ban.reason, ban.until - ban.created) == (KEY, "flooding", 3600)
    again.clear()
    db.close()
    db = PeerDB(tmp_path)
    assert len(BanList(db, clock)) == 0
    db.close()


def test_bans_are_written_off_the_calling_thread_in_order(tmp_path):
    # A commit syncs to disk: a ban (or the address flush) must not stall the event loop.
    db = PeerDB(tmp_path)
    writers = []
    futures = [db.write(lambda txn, n=n: writers.append((n, threading.current_thread())))
               for n in range(5)]  # fmt: skip
    bans = BanList(db, Clock())
    bans.ban(KEY, 3600, reason="flooding")
    db.flush()
    assert [f.result() for f in futures] == [None] * 5
    assert [n for n, _ in writers] == list(range(5))
    threads = {t for _, t in writers}
    assert len(threads) == 1 and threading.current_thread() not in threads
    db.close()  # waits for what is queued
    db = PeerDB(tmp_path)
    assert BanList(db, Clock()).is_banned(KEY)
    db.close()


def test_automatic_bans_are_bounded_and_manual_ones_kept(tmp_path, monkeypatch):
    """3,000 fresh identities used to make 3,000 persisted bans: the automatic ones are capped,
    the one ending first goes, and what goes is gone from peers.lmdb too."""
    import coinium.p2p.banlist as banlist

    monkeypatch.setattr(banlist, "MAX_AUTOMATIC_BANS", 50)
    clock = Clock()
    db = PeerDB(tmp_path)
    bans = BanList(db, clock)
    bans.ban("10.0.0.1", 10_000)  # by hand: never evicted for room
    for i in range(300):
        clock.now += 1
        bans.ban(f"{i:064x}", 3600, reason="flood")
    assert len(bans) == 51
    assert bans.is_banned(ip="10.0.0.1")
    assert not bans.is_banned(f"{0:064x}") and bans.is_banned(f"{299:064x}")
    db.close()
    reopened = PeerDB(tmp_path)
    assert len(BanList(reopened, clock)) == 51
    reopened.close()
