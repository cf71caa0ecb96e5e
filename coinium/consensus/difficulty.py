"""Difficulty adjustment: ASERT (aserti3-2d), Bitcoin Cash's absolutely scheduled algorithm.

The next target depends only on an anchor block and on how far the chain's tip is ahead of or
behind an ideal schedule of one block every ``spacing`` seconds::

    next_target = anchor_target * 2 ** ((dt - spacing * (dh + 1)) / half_life)

with ``dt`` the parent time difference and ``dh`` the height difference to the anchor. Every
``half_life`` seconds that the chain runs ahead of schedule halves the target (doubles the
difficulty); every ``half_life`` behind doubles it. Because it is anchored rather than windowed
it has no path dependence, no accumulated rounding error and none of the oscillations a moving
window causes. The integer evaluation below reproduces BCH's ``CalculateASERT`` bit for bit (16.16
fixed-point exponent, truncating division, cubic approximation of ``2**x`` on [0, 1) whose error
is below 0.013 %), and is tested against the published aserti3-2d test vectors.

Anchor: the genesis block. ``anchor_height = 0``, ``anchor_target = decode_compact(genesis.bits)``
and ``anchor_parent_time = genesis.timestamp - spacing`` (genesis has no parent, so we place a
virtual one exactly on schedule; block 1 then gets the genesis target). See
`next_bits_from_genesis`.

Parameters per network and why:

* main: ``spacing`` T = 60 s, half-life tau = 6 hours = 21,600 s = 360 blocks.
* test: T = 60 s, tau = 1 hour = 3,600 s (60 blocks), as BCH's testnet uses a short half-life so
  that test networks with erratic hash rate recover quickly.
* regtest: no retargeting; ``bits`` stay at the proof-of-work limit so blocks mine instantly.

BCH uses tau = 2 days with 10-minute blocks, i.e. 288 blocks per half-life: long enough that one
block's timestamp noise (exponential solve times, the standard deviation of one solve is a whole
T) moves the target by only ~T/tau, short enough to follow real hash-rate moves. We keep a half-life
of the same order in *blocks* (360) so per-block target noise stays similar, while our 10x shorter
blocks make the response 8x faster in wall-clock time. A sustained hash-rate jump by 10x needs the
target to fall by 10x, which ASERT does once the chain is log2(10) * tau ~ 20 hours of schedule
ahead; the simulation in ``tests/consensus/test_difficulty.py`` shows block times returning to
60 s after such jumps and drops.

All arithmetic is on Python integers: no floats, no clocks.
"""

from __future__ import annotations

from coinium.consensus.pow import decode_compact, encode_compact

__all__ = [
    "asert_next_target",
    "next_bits",
    "next_bits_from_genesis",
]

_RADIX_BITS = 16
_RADIX = 1 << _RADIX_BITS  # 16.16 fixed point


def _trunc_div(numerator: int, denominator: int) -> int:
    """Integer division rounding toward zero, like C/C++ ``/`` (Python's ``//`` floors)."""
    quotient = abs(numerator) // abs(denominator)
    return quotient if (numerator >= 0) == (denominator >= 0) else -quotient


def asert_next_target(
    anchor_target: int,
    anchor_parent_time: int,
    anchor_height: int,
    eval_parent_time: int,
    eval_parent_height: int,
    spacing: int,
    half_life: int,
    pow_limit: int,
) -> int:
    """Target for the block whose parent is at ``eval_parent_height`` / ``eval_parent_time``.

    Follows the aserti3-2d spec step by step (see the module docstring). The result is a raw
    target; headers carry ``encode_compact`` of it, and the target actually in force is
    ``decode_compact`` of those bits (use `next_bits`). Raises `ValueError` on inputs the
    reference asserts against: a non-positive spacing or half-life, an anchor target outside
    ``[1, pow_limit]``, a limit of 2**256 or more, or an evaluation block below the anchor.
    """
    if spacing <= 0 or half_life <= 0:
        raise ValueError("spacing and half_life must be positive")
    if not 0 < anchor_target <= pow_limit < 1 << 256:
        raise ValueError("need 1 <= anchor_target <= pow_limit < 2**256")
    height_diff = eval_parent_height - anchor_height
    if height_diff < 0:
        raise ValueError("eval_parent_height is below the anchor height")
    time_diff = eval_parent_time - anchor_parent_time

    # 1. 16.16 fixed-point exponent, truncating toward zero as C++ int64 division does.
    exponent = _trunc_div((time_diff - spacing * (height_diff + 1)) * _RADIX, half_life)
    # 2. Integer part by arithmetic (flooring) shift; fractional part in [0, 65536).
    shifts = exponent >> _RADIX_BITS
    frac = exponent - shifts * _RADIX
    # 3. 65536 * 2**(frac / 65536), cubic approximation, exact at 0 and 1.
    factor = (
        (
            195_766_423_245_049 * frac
            + 971_821_376 * frac * frac
            + 5_127 * frac * frac * frac
            + (1 << 47)
        )
        >> 48
    ) + _RADIX
    # 4. anchor_target * factor * 2**shifts / 65536, as one shift by (shifts - 16) exactly as
    #    CalculateASERT does (identical to shifting by `shifts` and then >> 16, floors included).
    next_target = anchor_target * factor
    shift = shifts - _RADIX_BITS
    if shift <= 0:
        # Capping the count changes nothing (the result is already 0) but bounds the work.
        next_target >>= min(-shift, next_target.bit_length())
    elif shift >= 256:
        # next_target >= 2**16 before the shift, so the result is >= 2**272 > pow_limit. The
        # reference gets pow_limit here too (its 256-bit overflow check); we skip building a
        # huge integer, which an absurd timestamp could otherwise make us do.
        next_target = pow_limit
    else:
        next_target <<= shift
    # 5. Clamp: 0 is not a valid target but 1 is; never easier than the limit.
    if next_target == 0:
        return 1
    return min(next_target, pow_limit)


def next_bits(
    anchor_target: int,
    anchor_parent_time: int,
    anchor_height: int,
    eval_parent_time: int,
    eval_parent_height: int,
    spacing: int,
    half_life: int,
    pow_limit: int,
) -> int:
    """``bits`` required of the next block: ``encode_compact(asert_next_target(...))``.

    The reference also goes target -> compact, so the target a block must meet is
    ``decode_compact(next_bits(...))`` (the ASERT target truncated to the compact precision).
    """
    return encode_compact(
        asert_next_target(
            anchor_target,
            anchor_parent_time,
            anchor_height,
            eval_parent_time,
            eval_parent_height,
            spacing,
            half_life,
            pow_limit,
        )
    )


def next_bits_from_genesis(
    genesis_bits: int,
    genesis_timestamp: int,
    eval_parent_time: int,
    eval_parent_height: int,
    spacing: int,
    half_life: int,
    pow_limit: int,
) -> int:
    """`next_bits` with the genesis block as the ASERT anchor (our networks' convention).

    Genesis has no parent, so its "parent time" is ``genesis_timestamp - spacing``: exactly on
    schedule, which gives block 1 the genesis target.
    """
    return next_bits(
        decode_compact(genesis_bits),
        genesis_timestamp - spacing,
        0,
        eval_parent_time,
        eval_parent_height,
        spacing,
        half_life,
        pow_limit,
    )
