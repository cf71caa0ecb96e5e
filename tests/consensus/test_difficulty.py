"""ASERT (aserti3-2d): reference vectors, properties, and a hash-rate shock simulation."""

from __future__ import annotations

import random
import statistics
from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinium.consensus.difficulty import asert_next_target, next_bits, next_bits_from_genesis
from coinium.consensus.pow import decode_compact, encode_compact, target_to_work

# Bitcoin Cash mainnet parameters, used by the published vectors.
BCH_SPACING = 600
BCH_HALF_LIFE = 172_800
BCH_POW_LIMIT = decode_compact(0x1D00FFFF)

# Ours (see coinium/consensus/difficulty.py).
SPACING = 60
MAIN_HALF_LIFE = 21_600
TEST_HALF_LIFE = 3_600

# A few lines from the aserti3-2d test vectors generated from BCHN's C++ CalculateASERT
# (spec: bitcoincash.org spec/2020-11-15-asert.md; vectors published at
# gitlab.com/bitcoin-cash-node/bchn-sw/qa-assets, test_vectors/aserti3-2d, files run01..run10;
# read from the mirror in github.com/AIBlockOfficial/Network, src/test_data/asert/).
# Each vector line gives the evaluated block's height and time (the parent of the next block) and
# the nBits ASERT computes for the next block, T = 600 s, tau = 172,800 s, limit 0x1d00ffff.
# (run, anchor height, anchor parent time, anchor bits, eval height, eval time, expected bits)
ASERT_VECTORS = [
    # run01: steady 600 s blocks at the limit
    ("run01", 1, 0, 0x1D00FFFF, 2, 1200, 0x1D00FFFF),
    ("run01", 1, 0, 0x1D00FFFF, 11, 6600, 0x1D00FFFF),
    # run02 / run03: steady blocks at an arbitrary target and at the minimum target
    ("run02", 1, 0, 0x1A2B3C4D, 11, 6600, 0x1A2B3C4D),
    ("run03", 1, 0, 0x01010000, 11, 6600, 0x01010000),
    # run04: from target 1, one half-life behind per block: doubling up to the limit clamp
    ("run04", 1, 0, 0x01010000, 2, 174000, 0x01020000),
    ("run04", 1, 0, 0x01010000, 8, 1214400, 0x02008000),
    ("run04", 1, 0, 0x01010000, 224, 38668800, 0x1D008000),
    ("run04", 1, 0, 0x01010000, 225, 38842200, 0x1D00FFFF),
    # run05: from the limit, heights jump with no time passing: halving down to target 1
    ("run05", 1, 0, 0x1D00FFFF, 2, 0, 0x1D00FEC5),
    ("run05", 1, 0, 0x1D00FFFF, 290, 0, 0x1C7F62C0),
    ("run05", 1, 0, 0x1D00FFFF, 60194, 0, 0x027F6200),
    ("run05", 1, 0, 0x1D00FFFF, 62498, 0, 0x017F0000),
    ("run05", 1, 0, 0x1D00FFFF, 64514, 0, 0x01010000),
    # run06: random solve times, stable hash rate (includes a zero solve time)
    ("run06", 1, 0, 0x1802AEE8, 3, 1310, 0x1802AD91),
    ("run06", 1, 0, 0x1802AEE8, 9, 7099, 0x1802B39C),
    ("run06", 1, 0, 0x1802AEE8, 10, 7099, 0x1802B1F2),
    ("run06", 1, 0, 0x1802AEE8, 552, 338121, 0x1802C249),
    ("run06", 1, 0, 0x1802AEE8, 620, 378438, 0x1802C0EC),
    # run07: up-ramping hash rate
    ("run07", 1, 0, 0x1802AEE8, 459, 29064, 0x1800FFB4),
    ("run07", 1, 0, 0x1802AEE8, 637, 31014, 0x1800A7EE),
    # run08: down-ramping hash rate, up to the limit clamp
    ("run08", 1, 0, 0x1802AEE8, 187, 1078358, 0x19008158),
    ("run08", 1, 0, 0x1802AEE8, 481, 6842136, 0x1D00A31A),
    ("run08", 1, 0, 0x1802AEE8, 485, 6993399, 0x1D00FFFF),
    # run09: 300 s blocks across the signed 32-bit height boundary
    ("run09", 2147483642, 1234567290, 0x1802AEE8, 2147483643, 1234568190, 0x1802AE16),
    ("run09", 2147483642, 1234567290, 0x1802AEE8, 2147483652, 1234570890, 0x1802A6B7),
    # run10: 900 s blocks across the signed 64-bit height and 32-bit time boundaries
    (
        "run10",
        9223372036854775802,
        2147483047,
        0x1802AEE8,
        9223372036854775803,
        2147484547,
        0x1802AFBB,
    ),
    (
        "run10",
        9223372036854775802,
        2147483047,
        0x1802AEE8,
        9223372036854775812,
        2147492647,
        0x1802B73D,
    ),
]


@pytest.mark.parametrize(
    ("run", "anchor_height", "anchor_parent_time", "anchor_bits", "height", "time", "expected"),
    ASERT_VECTORS,
)
def test_bch_aserti3_2d_vectors(
    run: str,
    anchor_height: int,
    anchor_parent_time: int,
    anchor_bits: int,
    height: int,
    time: int,
    expected: int,
) -> None:
    bits = next_bits(
        decode_compact(anchor_bits),
        anchor_parent_time,
        anchor_height,
        time,
        height,
        BCH_SPACING,
        BCH_HALF_LIFE,
        BCH_POW_LIMIT,
    )
    assert bits == expected, f"{run} height {height}: {bits:#010x} != {expected:#010x}"


ANCHOR_TARGET = decode_compact(0x1C0FFFFF)
POW_LIMIT = decode_compact(0x1F00FFFF)


def _target(time_diff: int, height_diff: int, half_life: int = MAIN_HALF_LIFE) -> int:
    """ASERT target with an anchor at height 0, parent time 0, and our 60 s spacing."""
    return asert_next_target(
        ANCHOR_TARGET, 0, 0, time_diff, height_diff, SPACING, half_life, POW_LIMIT
    )


def _on_schedule(height: int) -> int:
    """Parent time that puts the block after ``height`` exactly on schedule."""
    return SPACING * (height + 1)


@pytest.mark.parametrize("height", [0, 1, 359, 360, 100_000, 2**32 - 1])
@pytest.mark.parametrize("half_life", [MAIN_HALF_LIFE, TEST_HALF_LIFE])
def test_on_schedule_keeps_the_target(height: int, half_life: int) -> None:
    assert _target(_on_schedule(height), height, half_life) == ANCHOR_TARGET


@pytest.mark.parametrize("half_life", [MAIN_HALF_LIFE, TEST_HALF_LIFE])
@pytest.mark.parametrize("height", [0, 500, 10_000])
def test_one_half_life_ahead_halves_and_behind_doubles(half_life: int, height: int) -> None:
    on = _on_schedule(height)
    assert _target(on - half_life, height, half_life) == ANCHOR_TARGET // 2
    assert _target(on + half_life, height, half_life) == ANCHOR_TARGET * 2
    assert _target(on - 3 * half_life, height, half_life) == ANCHOR_TARGET // 8
    assert _target(on + 3 * half_life, height, half_life) == ANCHOR_TARGET * 8


def _exact_target(offset: int, half_life: int) -> Decimal:
    """``ANCHOR_TARGET * 2**(e / 65536)`` for the rule's 16.16 exponent ``e``, to 60 digits."""
    exponent = abs(offset) * 65536 // half_life * (1 if offset >= 0 else -1)  # truncating
    with localcontext() as ctx:
        ctx.prec = 60
        return Decimal(2) ** (Decimal(exponent) / 65536) * ANCHOR_TARGET


@given(st.integers(min_value=-20 * MAIN_HALF_LIFE, max_value=20 * MAIN_HALF_LIFE))
def test_within_documented_error_of_exact_exponential(offset: int) -> None:
    """The cubic 2**x stays within the spec's 0.013 % of the exact power of two."""
    got = _target(_on_schedule(0) + offset, 0)
    exact = _exact_target(offset, MAIN_HALF_LIFE)
    assert abs(Decimal(got) - exact) <= exact * Decimal("0.00013")


def test_monotone_and_continuous_over_every_fraction() -> None:
    """With tau = 65536 s each second is one unit of the 16.16 exponent, so this walks all
    65536 fractional parts (and both neighbouring integer parts): the target never decreases,
    and the top of one octave meets the bottom of the next (2x) without a jump back."""
    half_life = 65536
    targets = [_target(_on_schedule(0) + offset, 0, half_life) for offset in range(-1, 65538)]
    assert targets == sorted(targets)
    assert targets[0] < ANCHOR_TARGET == targets[1]
    assert targets[-3] <= 2 * ANCHOR_TARGET == targets[-2]


@given(
    st.integers(min_value=0, max_value=1_000_000),
    st.integers(min_value=-(10**7), max_value=10**7),
    st.integers(min_value=0, max_value=10**6),
)
def test_monotonic_in_time_and_height(height: int, time: int, step: int) -> None:
    later = _target(time + step, height)
    assert _target(time, height) <= later
    # More blocks in the same time means the chain is further ahead: never an easier target.
    assert _target(time, height + step) <= _target(time, height)


def test_clamps() -> None:
    assert _target(-(10**9), 0) == 1  # far ahead of schedule: hardest target, never zero
    assert _target(0, 10**9) == 1
    assert _target(10**9, 0) == POW_LIMIT  # far behind: no easier than the limit
    # Absurd u64 timestamps are answered at once (no gigantic shift is built).
    assert _target(2**64 - 1, 0) == POW_LIMIT
    assert _target(-(2**64), 0) == 1
    at_limit = asert_next_target(POW_LIMIT, 0, 0, 10**6, 0, SPACING, MAIN_HALF_LIFE, POW_LIMIT)
    assert at_limit == POW_LIMIT


@pytest.mark.parametrize(
    "kwargs",
    [
        {"anchor_target": 0},
        {"anchor_target": POW_LIMIT + 1},
        {"eval_parent_height": -1},
        {"spacing": 0},
        {"half_life": 0},
        {"pow_limit": 1 << 256, "anchor_target": 1},
    ],
)
def test_rejects_inputs_the_reference_asserts_on(kwargs: dict[str, int]) -> None:
    args = {
        "anchor_target": ANCHOR_TARGET,
        "anchor_parent_time": 0,
        "anchor_height": 0,
        "eval_parent_time": 60,
        "eval_parent_height": 0,
        "spacing": SPACING,
        "half_life": MAIN_HALF_LIFE,
        "pow_limit": POW_LIMIT,
    }
    args.update(kwargs)
    with pytest.raises(ValueError):
        asert_next_target(**args)


def test_genesis_anchor_gives_block_one_the_genesis_bits() -> None:
    genesis_bits, genesis_time = 0x1D00FFFF, 1_700_000_000
    args = (SPACING, MAIN_HALF_LIFE, POW_LIMIT)
    assert next_bits_from_genesis(genesis_bits, genesis_time, genesis_time, 0, *args) == 0x1D00FFFF
    # Block 2 after a parent exactly 60 s later keeps it too; a faster one tightens it.
    on_time = next_bits_from_genesis(genesis_bits, genesis_time, genesis_time + 60, 1, *args)
    assert on_time == 0x1D00FFFF
    fast = next_bits_from_genesis(genesis_bits, genesis_time, genesis_time + 1, 1, *args)
    assert decode_compact(fast) < decode_compact(0x1D00FFFF)
    assert (
        next_bits(
            decode_compact(genesis_bits), genesis_time - SPACING, 0, genesis_time + 1, 1, *args
        )
        == fast
    )
    assert fast == encode_compact(decode_compact(fast))


# --- Hash-rate shock simulation --------------------------------------------------------------
# Floats are fine here: they model miners, not the rule. The chain itself runs on the real
# integer rule (next_bits_from_genesis -> decode_compact), with integer timestamps.

SIM_GENESIS_BITS = 0x1D00FFFF
SIM_GENESIS_TIME = 1_700_000_000
SIM_POW_LIMIT = decode_compact(0x207FFFFF)


def _simulate(phases: list[tuple[float, int]], seed: int) -> list[list[int]]:
    """Mine ``count`` blocks at ``multiplier`` x the hash rate that fits genesis, per phase.

    Returns the block times (timestamp differences, seconds) of each phase.
    """
    rng = random.Random(seed)
    base_hashrate = target_to_work(decode_compact(SIM_GENESIS_BITS)) / SPACING
    parent_time, parent_height, clock = SIM_GENESIS_TIME, 0, float(SIM_GENESIS_TIME)
    result = []
    for multiplier, count in phases:
        block_times = []
        for _ in range(count):
            bits = next_bits_from_genesis(
                SIM_GENESIS_BITS,
                SIM_GENESIS_TIME,
                parent_time,
                parent_height,
                SPACING,
                MAIN_HALF_LIFE,
                SIM_POW_LIMIT,
            )
            mean_solve = target_to_work(decode_compact(bits)) / (base_hashrate * multiplier)
            clock += rng.expovariate(1.0) * mean_solve
            timestamp = int(clock)
            block_times.append(timestamp - parent_time)
            parent_time, parent_height = timestamp, parent_height + 1
        result.append(block_times)
    return result


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hash_rate_jump_x10_and_drop_div10_return_to_target(seed: int) -> None:
    steady, jump, back, drop = _simulate(
        [(1.0, 1500), (10.0, 3000), (1.0, 3000), (0.1, 3000)], seed
    )

    def tail_mean(times: list[int]) -> float:
        return statistics.fmean(times[-1000:])

    # Before the shock the chain sits on schedule.
    assert abs(tail_mean(steady) - SPACING) <= 0.15 * SPACING
    # Right after x10 the old target is 10x too easy: blocks come far too fast...
    assert statistics.fmean(jump[:50]) < 0.5 * SPACING
    # ... right after the return to 1x (a /10) and the drop to 0.1x they come far too slowly.
    assert statistics.fmean(back[:50]) > 3 * SPACING
    assert statistics.fmean(drop[:20]) > 3 * SPACING
    # In every phase ASERT brings block times back to 60 s (+-15 % over the last 1000 blocks).
    for phase in (jump, back, drop):
        assert abs(tail_mean(phase) - SPACING) <= 0.15 * SPACING
