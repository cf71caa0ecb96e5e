"""Proof-of-work arithmetic: compact targets, work and the hash-vs-target check.

The header's ``bits`` field is a target in Bitcoin's compact encoding (exponent byte, 23-bit
mantissa, sign bit 0x00800000). We decode and encode it exactly as Bitcoin Core's
``arith_uint256::SetCompact`` / ``GetCompact`` do, so tooling that understands Bitcoin's ``bits``
reads ours the same way and a target always has one canonical encoding. Everything here is
integer-only and deterministic; the single float (`difficulty_for_display`) is for RPC output and
must never feed a consensus rule.
"""

from __future__ import annotations

__all__ = [
    "MAX_TARGET_EXCLUSIVE",
    "decode_compact",
    "decode_compact_raw",
    "difficulty_for_display",
    "encode_compact",
    "hash_meets_target",
    "target_to_work",
]

# Targets are 256-bit unsigned integers (they are compared with 32-byte hashes).
MAX_TARGET_EXCLUSIVE = 1 << 256

_U32_MAX = 0xFFFFFFFF
_SIGN_BIT = 0x00800000
_MANTISSA_MASK = 0x007FFFFF


def decode_compact_raw(bits: int) -> tuple[int, bool, bool]:
    """Bitcoin's ``SetCompact``: return ``(value, negative, overflow)`` without judging them.

    Kept separate from `decode_compact` so tests can compare against Bitcoin Core's cases one for
    one. As in Core, the sign and overflow flags look at the mantissa *after* it has been shifted
    down for exponents below 3 (so ``0x01803456`` is zero, not negative). When ``overflow`` is set
    the returned value is meaningless (Core would have truncated it to 256 bits).
    """
    if not isinstance(bits, int) or isinstance(bits, bool):
        raise TypeError(f"bits must be an int, got {type(bits).__name__}")
    if not 0 <= bits <= _U32_MAX:
        raise ValueError(f"bits {bits:#x} does not fit in an unsigned 32-bit field")
    size = bits >> 24
    word = bits & _MANTISSA_MASK
    if size <= 3:
        word >>= 8 * (3 - size)
        value = word
    else:
        value = word << (8 * (size - 3))
    negative = word != 0 and (bits & _SIGN_BIT) != 0
    overflow = word != 0 and (
        size > 34 or (word > 0xFF and size > 33) or (word > 0xFFFF and size > 32)
    )
    return value, negative, overflow


def decode_compact(bits: int, pow_limit: int | None = None) -> int:
    """Decode a header's ``bits`` into its target, rejecting every encoding Bitcoin rejects.

    Raises `ValueError` when ``bits`` is not a u32, encodes a negative number, overflows 256 bits
    or decodes to zero (a zero target can never be met), and, when ``pow_limit`` is given, when
    the target is easier than the network allows (Bitcoin's ``CheckProofOfWork`` order).
    """
    value, negative, overflow = decode_compact_raw(bits)
    if negative:
        raise ValueError(f"compact target {bits:#010x} is negative (sign bit set)")
    if overflow:
        raise ValueError(f"compact target {bits:#010x} overflows 256 bits")
    if value == 0:
        raise ValueError(f"compact target {bits:#010x} decodes to zero")
    if pow_limit is not None and value > pow_limit:
        raise ValueError(f"compact target {bits:#010x} is above the proof-of-work limit")
    return value


def encode_compact(target: int) -> int:
    """Bitcoin's ``GetCompact`` (non-negative): the canonical ``bits`` for ``target``.

    Keeps the three most significant bytes of the target (two when the top one would set the
    sign bit), so ``decode_compact(encode_compact(t))`` is ``t`` with its low bytes cleared, and
    ``encode_compact(decode_compact(b)) == b`` for every canonical ``b``. Zero encodes as 0.
    """
    if not isinstance(target, int) or isinstance(target, bool):
        raise TypeError(f"target must be an int, got {type(target).__name__}")
    if not 0 <= target < MAX_TARGET_EXCLUSIVE:
        raise ValueError("target must be in [0, 2**256)")
    size = (target.bit_length() + 7) // 8
    if size <= 3:
        compact = target << (8 * (3 - size))
    else:
        compact = target >> (8 * (size - 3))
    # 0x00800000 is the sign bit: if the mantissa would set it, move one byte into the exponent.
    if compact & _SIGN_BIT:
        compact >>= 8
        size += 1
    return (size << 24) | compact


def target_to_work(target: int) -> int:
    """Expected number of hashes to meet ``target``: ``2**256 // (target + 1)``.

    This is Bitcoin's ``GetBlockProof``; the chain with the largest sum of it wins.
    """
    if not 0 <= target < MAX_TARGET_EXCLUSIVE:
        raise ValueError("target must be in [0, 2**256)")
    return MAX_TARGET_EXCLUSIVE // (target + 1)


def hash_meets_target(block_hash: bytes, target: int) -> bool:
    """True when the 32-byte hash, read as a big-endian integer, is at most ``target``."""
    if len(block_hash) != 32:
        raise ValueError(f"block hash must be 32 bytes, got {len(block_hash)}")
    return int.from_bytes(block_hash, "big") <= target


def difficulty_for_display(target: int, pow_limit: int) -> float:
    """How many times harder ``target`` is than ``pow_limit`` (``getdifficulty``-style number).

    DISPLAY ONLY: this returns a float for RPC and logs and must never be used by a consensus
    rule (use `target_to_work` for chain work). Python's int/int true division is correctly
    rounded, so the value is the nearest double to the exact ratio.
    """
    if target <= 0:
        raise ValueError("target must be positive")
    return pow_limit / target
