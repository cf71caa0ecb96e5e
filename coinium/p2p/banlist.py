"""Bans: by Curve key or by IP network, each until a time, persisted in ``peers.lmdb``.

An automatic ban (a peer whose score fell to the threshold) names the peer's key: keys are what
the network authenticates, and on a shared host (or behind one NAT) an IP ban would also shut out
honest neighbours. ``setban`` takes either: a key (64 hex digits, or a whole peer address, whose
key is used), an IP address or a CIDR subnet, as bitcoind's ``setban`` takes subnets. Bans are
enforced where connections are authenticated (the ZAP handler), so a banned peer can neither
connect nor reconnect, and across restarts.

Keys are free, so automatic bans are bounded: past ``MAX_AUTOMATIC_BANS`` the one that ends first
goes (bans set by hand are kept). An address that keeps earning key bans with fresh keys is
banned by address instead (`Penalties.ban_peer`).
"""

from __future__ import annotations

import ipaddress
import logging
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from coinium.core.codec import DecodeError, Reader, u16
from coinium.p2p.peerdb import PeerDB
from coinium.p2p.transport import PeerAddress

log = logging.getLogger("coinium.net")

DEFAULT_BAN_TIME = 24 * 60 * 60  # bitcoind's -bantime
MAX_AUTOMATIC_BANS = 5000
MANUAL_REASON = "manually added"
_TIMES = struct.Struct("<QQ")


@dataclass(frozen=True, slots=True)
class Ban:
    subject: str  # a key in hex, or an IP network ("203.0.113.7/32")
    created: int
    until: int
    reason: str = MANUAL_REASON

    @property
    def automatic(self) -> bool:
        return self.reason != MANUAL_REASON

    @property
    def is_key(self) -> bool:
        return "/" not in self.subject

    def encode(self) -> bytes:
        reason = self.reason.encode()[:200]
        return _TIMES.pack(self.created, self.until) + u16(len(reason)) + reason

    @classmethod
    def decode(cls, subject: str, data: bytes) -> Ban:
        r = Reader(data, "ban")
        created, until = r.u64("created"), r.u64("until")
        reason = r.var_bytes("reason", 200).decode(errors="replace")
        r.finish()
        return cls(subject, created, until, reason)


def ban_subject(text: str) -> str:
    """The canonical subject of what a user names: a key in hex, or an IP network."""
    text = text.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text).hex()
        except ValueError:
            pass
    if "@" in text:
        return PeerAddress.parse(text).key_hex
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise ValueError(f"{text!r} is neither a peer key, a peer address, an IP nor a subnet") \
            from None


class BanList:
    def __init__(self, db: PeerDB | None, clock: Callable[[], float] = time.time):
        self.db = db
        self.clock = clock
        self._keys: dict[str, Ban] = {}
        self._nets: dict[str, tuple[Ban, ipaddress.IPv4Network | ipaddress.IPv6Network]] = {}
        if db is not None:
            for key, value in db.items("bans"):
                try:
                    self._remember(Ban.decode(key.decode(), value))
                except (DecodeError, ValueError, UnicodeDecodeError):
                    log.warning("dropping an unreadable ban record %r", key)
        self.sweep()

    def _remember(self, ban: Ban) -> None:
        if ban.is_key:
            self._keys[ban.subject] = ban
        else:
            self._nets[ban.subject] = (ban, ipaddress.ip_network(ban.subject))

    # --- queries -------------------------------------------------------------------------------
    def is_banned(self, key_hex: str | None = None, ip: str | None = None) -> bool:
        now = self.clock()
        if key_hex is not None:
            ban = self._keys.get(key_hex)
            if ban is not None and ban.until > now:
                return True
        if ip is not None and self._nets:
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                return False
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            for ban, network in self._nets.values():
                if ban.until > now and address.version == network.version and address in network:
                    return True
        return False

    def entries(self) -> list[Ban]:
        self.sweep()
        bans = [*self._keys.values(), *(ban for ban, _ in self._nets.values())]
        return sorted(bans, key=lambda b: (b.created, b.subject))

    def __len__(self) -> int:
        return len(self._keys) + len(self._nets)

    # --- changes -------------------------------------------------------------------------------
    def ban(self, subject: str, duration: float | None = None, *, until: int | None = None,
            reason: str = MANUAL_REASON) -> Ban:  # fmt: skip
        subject = ban_subject(subject)
        now = int(self.clock())
        if until is None:
            until = now + int(DEFAULT_BAN_TIME if duration is None else duration)
        ban = Ban(subject, now, until, reason)
        self._remember(ban)
        if self.db is not None:
            self.db.put("bans", subject.encode(), ban.encode())
        if ban.automatic:
            self._bound_automatic()
        return ban

    def _bound_automatic(self) -> None:
        automatic = [b for b in self._keys.values() if b.automatic]
        automatic += [b for b, _ in self._nets.values() if b.automatic]
        excess = len(automatic) - MAX_AUTOMATIC_BANS
        if excess <= 0:
            return
        self.sweep()
        automatic = sorted((b for b in self._keys.values() if b.automatic), key=_ends)
        gone = [b.subject for b in automatic[:excess]]
        for subject in gone:
            self._keys.pop(subject, None)
        if gone and self.db is not None:
            self.db.put_many("bans", [], [s.encode() for s in gone])

    def unban(self, subject: str) -> bool:
        subject = ban_subject(subject)
        found = self._keys.pop(subject, None) or self._nets.pop(subject, None)
        if found is not None and self.db is not None:
            self.db.delete("bans", subject.encode())
        return found is not None

    def clear(self) -> None:
        self._keys.clear()
        self._nets.clear()
        if self.db is not None:
            self.db.clear("bans")

    def sweep(self) -> None:
        """Forget expired bans."""
        now = self.clock()
        expired = [s for s, b in self._keys.items() if b.until <= now]
        expired += [s for s, (b, _) in self._nets.items() if b.until <= now]
        for subject in expired:
            self._keys.pop(subject, None)
            self._nets.pop(subject, None)
        if expired and self.db is not None:
            self.db.put_many("bans", [], [s.encode() for s in expired])


def _ends(ban: Ban) -> tuple[int, int]:
    return (ban.until, ban.created)
