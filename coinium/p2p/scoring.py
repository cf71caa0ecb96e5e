"""Reputation: what each misbehaviour costs a peer, what good behaviour earns, and when to ban.

This is the one place that decides how a peer is punished (Bitcoin Core's ``Misbehaving``): the
handlers report *what happened* (`Misbehaviour`, `Merit`), and `PENALTY`/`REWARD` say what it is
worth. Consensus errors and mempool rejections are mapped here too (`for_block_error`,
`for_tx_reject`), so no handler decides on its own that a reason is the peer's fault.

A peer starts at 0. Good behaviour raises the score up to `MAX_SCORE`; misbehaviour lowers it;
at `BAN_THRESHOLD` or below the peer is disconnected and its key banned for the configured ban
time. Both directions decay towards 0 with a half-life, so a peer that slipped once long ago (a
transaction that lost a race, say) is not banned for a second slip, and an old good record does
not shield a peer that turns bad. Offences that no honest node commits (an invalid block, a bad
signature, another network) cost more than the best reputation can absorb: an immediate ban.
"""

from __future__ import annotations

import math
from enum import Enum

from coinium.consensus.errors import ConsensusError

BAN_THRESHOLD = -100.0
MAX_SCORE = 50.0
HALF_LIFE_S = 600.0  # the score halves towards 0 every ten minutes
INSTANT = 1000.0  # more than any reputation absorbs


class Misbehaviour(Enum):
    INVALID_BLOCK = "invalid-block"  # breaks a consensus rule (or a known-invalid block again)
    INVALID_TX = "invalid-tx"  # undecodable, bad signature, a coinbase: no honest node relays it
    MALFORMED = "malformed-message"  # a frame that is not a canonical message
    OVERSIZED = "oversized-message"  # a frame over its type's cap
    UNKNOWN_MESSAGE = "unknown-message"  # a type byte we do not know (newer peer?): harmless
    UNREQUESTED = "unrequested-data"  # headers, notfound or pong nobody asked for
    FLOOD = "flooding"  # one message over the peer's rate limit
    PROTOCOL = "protocol-violation"  # a message before the handshake, a second VERSION, ...
    WRONG_NETWORK = "wrong-network"  # another chain id or genesis: never useful to us
    BAD_HEADERS = "bad-headers"  # headers that do not chain, or fail their proof of work
    UNCONNECTING_HEADERS = "unconnecting-headers"  # headers whose first parent we do not know
    TOO_MANY_ITEMS = "too-many-items"  # a getdata for more blocks than one request may hold
    GOSSIP_CHANNEL = "gossip-channel"  # something other than a block or tx on the PUB socket


PENALTY: dict[Misbehaviour, float] = {
    Misbehaviour.INVALID_BLOCK: INSTANT,
    Misbehaviour.INVALID_TX: INSTANT,
    Misbehaviour.WRONG_NETWORK: INSTANT,
    Misbehaviour.BAD_HEADERS: INSTANT,
    Misbehaviour.OVERSIZED: 100.0,
    Misbehaviour.MALFORMED: 50.0,
    Misbehaviour.PROTOCOL: 20.0,
    Misbehaviour.GOSSIP_CHANNEL: 20.0,
    Misbehaviour.TOO_MANY_ITEMS: 20.0,
    Misbehaviour.UNREQUESTED: 20.0,
    Misbehaviour.UNCONNECTING_HEADERS: 10.0,
    Misbehaviour.FLOOD: 2.0,
    Misbehaviour.UNKNOWN_MESSAGE: 0.0,
}
assert set(PENALTY) == set(Misbehaviour)


class Merit(Enum):
    NOVEL_BLOCK = "novel-block"  # first to bring us a block that became our tip
    NOVEL_TX = "novel-tx"  # first to bring us a transaction the mempool took
    PONG = "pong"  # answered a ping in time
    SERVED_BLOCK = "served-block"  # delivered a block we asked for


REWARD: dict[Merit, float] = {
    Merit.NOVEL_BLOCK: 2.0,
    Merit.NOVEL_TX: 0.05,
    Merit.PONG: 0.5,
    Merit.SERVED_BLOCK: 0.05,
}
assert set(REWARD) == set(Merit)


# Mempool reject reasons that no honest relay produces: the transaction itself is bad. Every other
# reason (nonce used or pending, a gap, funds, a full pool) can come from a race with a block or
# another relay and costs nothing.
_BAD_TX_REASONS = frozenset({
    "TX decode failed", "bad-txns-signature", "bad-txns-kind", "bad-txns-txouttotal-toolarge",
    "tx-size",
    # Votes and evidence (issue 12): a non-validator's vote or one for a checkpoint that does
    # not exist yet is nobody's race. A vote for a past checkpoint or a repeat can be (an epoch
    # or a block passed while it travelled), so those cost nothing.
    "bad-vote-validator", "bad-vote-future", "bad-vote-epochs", "bad-slash-evidence",
    "bad-slash-signature",
    # Governance (issue 13): a malformed proposal or vote is nobody's race; the stateful reasons
    # (a step from a value that just changed, a vote that just closed) can be, and cost nothing.
    "bad-gov-field", "bad-gov-payload", "bad-gov-title", "bad-gov-changes",
    "bad-gov-param-unknown", "bad-gov-param-bounds", "bad-gov-option",
})  # fmt: skip


def for_block_error(error: ConsensusError | None) -> Misbehaviour | None:
    """What a peer did by sending a block that intake refused with ``error``.

    A block that may become valid later (``time-too-new``) costs nothing; anything permanent,
    mutated bodies included (the header is fine but the peer sent the wrong transactions), is
    an invalid block."""
    if error is None or not error.permanent:
        return None
    return Misbehaviour.INVALID_BLOCK


def for_tx_reject(reason: str) -> Misbehaviour | None:
    """What a peer did by relaying a transaction the mempool refused for ``reason``."""
    if reason in _BAD_TX_REASONS:
        return Misbehaviour.INVALID_TX
    return None


class Reputation:
    """One peer's score: penalties and rewards, decaying towards 0 with `HALF_LIFE_S`."""

    __slots__ = ("_score", "_at", "last_offence")

    def __init__(self, score: float = 0.0, now: float = 0.0):
        self._score = score
        self._at = now
        self.last_offence: Misbehaviour | None = None

    def score(self, now: float) -> float:
        elapsed = max(0.0, now - self._at)
        return self._score * math.pow(0.5, elapsed / HALF_LIFE_S)

    def _settle(self, now: float) -> None:
        self._score = self.score(now)
        self._at = max(self._at, now)

    def penalize(self, what: Misbehaviour, now: float, count: int = 1) -> float:
        """Apply a penalty; return the new score."""
        self._settle(now)
        self._score -= PENALTY[what] * count
        if PENALTY[what]:
            self.last_offence = what
        return self._score

    def reward(self, what: Merit, now: float, count: int = 1) -> float:
        """Apply a reward ``count`` times (the cap, as one at a time would); the new score."""
        self._settle(now)
        self._score = min(MAX_SCORE, self._score + REWARD[what] * count)
        return self._score

    def should_ban(self, now: float) -> bool:
        return self.score(now) <= BAN_THRESHOLD
