"""Header rules: proof of work, version, required difficulty, timestamps, height, state root.

`check_proof_of_work` needs nothing but the header, so a node runs it first and spends nothing
else on a header without work. `check_header_in_context` needs facts about the parent, which the
caller passes in (`ParentContext`): rules read no storage and no clock (``now`` is an argument).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coinium.consensus.difficulty import next_bits_from_genesis
from coinium.consensus.errors import HeaderError
from coinium.consensus.pow import decode_compact, hash_meets_target
from coinium.core.header import HEADER_VERSION, Header
from coinium.core.params import NetworkParams


@dataclass(frozen=True, slots=True)
class ParentContext:
    """What the rules need to know of a header's parent and its ancestors."""

    height: int
    timestamp: int
    recent_timestamps: Sequence[int]  # up to median_time_span timestamps, ending with the parent


def median_time_past(timestamps: Sequence[int]) -> int:
    """The median of the given timestamps (bitcoind's GetMedianTimePast over the last 11)."""
    ordered = sorted(timestamps)
    return ordered[len(ordered) // 2]


def required_bits(params: NetworkParams, parent_height: int, parent_timestamp: int) -> int:
    """The ``bits`` the child of the given parent must carry (ASERT anchored at genesis)."""
    if not params.retarget:
        return params.genesis_bits
    return next_bits_from_genesis(
        genesis_bits=params.genesis_bits,
        genesis_timestamp=params.genesis_timestamp,
        eval_parent_time=parent_timestamp,
        eval_parent_height=parent_height,
        spacing=params.target_spacing,
        half_life=params.asert_half_life,
        pow_limit=decode_compact(params.pow_limit_bits),
    )


def check_proof_of_work(header: Header, params: NetworkParams) -> None:
    try:
        target = decode_compact(header.bits)
    except ValueError as exc:
        raise HeaderError("bad-diffbits", str(exc)) from None
    if target > decode_compact(params.pow_limit_bits):
        raise HeaderError("bad-diffbits", "target above the network's proof-of-work limit")
    if not hash_meets_target(header.hash, target):
        raise HeaderError("high-hash", "proof of work failed")


def check_header_in_context(
    header: Header, parent: ParentContext, params: NetworkParams, now: int
) -> None:
    if header.version != HEADER_VERSION:
        raise HeaderError("bad-version",
                          f"version {header.version}, only {HEADER_VERSION} is valid")
    if header.height != parent.height + 1:
        raise HeaderError(
            "bad-height", f"height {header.height}, parent is at {parent.height}"
        )
    expected_bits = required_bits(params, parent.height, parent.timestamp)
    if header.bits != expected_bits:
        raise HeaderError(
            "bad-diffbits", f"bits {header.bits:#010x}, required {expected_bits:#010x}"
        )
    mtp = median_time_past(parent.recent_timestamps)
    if header.timestamp <= mtp:
        raise HeaderError(
            "time-too-old", f"timestamp {header.timestamp} not above median time past {mtp}"
        )
    if header.timestamp > now + params.max_future_block_time:
        raise HeaderError(
            "time-too-new",
            f"timestamp {header.timestamp} more than {params.max_future_block_time} s "
            f"after now ({now})",
            permanent=False,
        )


def check_state_root(header: Header, parent_state_root: bytes) -> None:
    """A header commits to the state its block is applied to: the root of the state its parent
    left (DESIGN.md, lagged one block). The caller computes that root; the rule compares."""
    if header.state_root != parent_state_root:
        raise HeaderError(
            "bad-stateroot",
            f"state root {header.state_root.hex()}, the parent left {parent_state_root.hex()}",
        )
