"""Penalties: the one place a peer's misbehaviour lowers its score and, at the threshold, bans it.
Which offence a block or transaction error is lives in `coinium.p2p.scoring`.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from coinium.p2p import scoring
from coinium.p2p.peer import Peer, PeerState
from coinium.p2p.scoring import Merit, Misbehaviour

if TYPE_CHECKING:
    from coinium.p2p.manager import PeerManager

log = logging.getLogger("coinium.net")

# An address whose fresh keys earn this many automatic bans within KEY_BANS_WINDOW_S is banned
# as an address: keys are free, so a key ban alone is evaded by making another.
KEY_BANS_BEFORE_ADDRESS_BAN = 16
KEY_BANS_WINDOW_S = 3600.0


class Penalties:
    """Scores, bans and rewards for peers."""

    def __init__(self, host: PeerManager) -> None:
        self.host = host
        self.banned_total = 0
        self._key_bans_by_ip: OrderedDict[str, list[float]] = OrderedDict()

    def misbehaving(self, peer: Peer, what: Misbehaviour, detail: str = "") -> None:
        """The one way a peer is punished: its score falls, and at the threshold it is banned."""
        if peer.state == PeerState.CLOSED:
            return
        now = time.monotonic()
        score = peer.reputation.penalize(what, now)
        if scoring.PENALTY[what]:
            level = logging.DEBUG if what == Misbehaviour.FLOOD else logging.INFO
            log.log(level, "peer %d misbehaving (%s%s): score %.1f", peer.id, what.value,
                    f": {detail}" if detail else "", score)  # fmt: skip
        if peer.reputation.should_ban(now):
            self.ban_peer(peer, what.value)

    def ban_peer(self, peer: Peer, reason: str) -> None:
        self.host.bans.ban(peer.key_hex, self.host.config.ban_time, reason=reason)
        self.banned_total += 1
        log.warning("banning peer %d (%s) for %d s: %s", peer.id, peer.key_hex,
                    self.host.config.ban_time, reason)  # fmt: skip
        self.host.disconnect(peer, f"banned: {reason}")
        if peer.inbound and peer.ip:
            self._count_key_ban(peer.ip)

    def _count_key_ban(self, ip: str) -> None:
        """Ban the address whose fresh keys keep earning bans (see KEY_BANS_BEFORE_ADDRESS_BAN)."""
        now = time.monotonic()
        times = [t for t in self._key_bans_by_ip.pop(ip, []) if now - t < KEY_BANS_WINDOW_S]
        times.append(now)
        self._key_bans_by_ip[ip] = times
        while len(self._key_bans_by_ip) > 4096:
            self._key_bans_by_ip.popitem(last=False)
        if len(times) < KEY_BANS_BEFORE_ADDRESS_BAN:
            return
        del self._key_bans_by_ip[ip]
        try:
            self.host.bans.ban(ip, self.host.config.ban_time,
                               reason=f"{len(times)} keys banned from this address")  # fmt: skip
        except ValueError:
            return
        log.warning("banning address %s for %d s: %d of its keys were banned", ip,
                    self.host.config.ban_time, len(times))  # fmt: skip

    def reward(self, peer: Peer | None, what: Merit, count: int = 1) -> None:
        if peer is not None and peer.state != PeerState.CLOSED and count:
            peer.reputation.reward(what, time.monotonic(), count)

