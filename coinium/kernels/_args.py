"""Argument checks and conversions shared by the backends, so they all refuse the same things."""

from __future__ import annotations

import os

import numpy as np

HEADER_SIZE = 124  # version-2 header (coinium.core.header); kernels do not import core
NONCE_OFFSET = 116
MAX_NONCE = (1 << 64) - 1
MAX_TARGET = (1 << 256) - 1


def check_search_args(header: bytes, start_nonce: int, count: int) -> None:
    """Raise ValueError as the python reference does for a bad header or nonce range."""
    if len(header) != HEADER_SIZE:
        raise ValueError(f"pow_search: header must be {HEADER_SIZE} bytes, got {len(header)}")
    check_nonce_range(start_nonce, count)


def check_nonce_range(start_nonce: int, count: int) -> None:
    """Raise ValueError unless start_nonce .. start_nonce+count-1 lies within 0 .. 2^64-1."""
    if start_nonce < 0 or count < 0 or (count > 0 and start_nonce + count - 1 > MAX_NONCE):
        raise ValueError("pow_search: nonce range must lie within 0 .. 2^64-1")


def settled_search(target: int, start_nonce: int, count: int) -> tuple[int | None, int] | None:
    """pow_search's answer where no hash need be computed, as the python reference gives it; else
    None. An empty range: (None, 0); a negative target, which no hash meets: (None, count); the
    all-ones target, which every hash meets: (start_nonce, 1)."""
    if count == 0:
        return None, 0
    if target < 0:
        return None, count
    if target >= MAX_TARGET:
        return start_nonce, 1
    return None


def leaves_array(txids) -> np.ndarray | None:
    """A C-contiguous (n, 32) uint8 array if txids is a NumPy array, else None (a sequence)."""
    if not isinstance(txids, np.ndarray):
        return None
    if txids.dtype != np.uint8:
        raise ValueError("merkle_root: an array of txids must have dtype uint8")
    if txids.size == 0:
        return np.zeros((0, 32), dtype=np.uint8)
    if txids.ndim != 2 or txids.shape[1] != 32:
        raise ValueError("merkle_root: an array of txids must have shape (n, 32)")
    return np.ascontiguousarray(txids)


def usable_cpus() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
