"""Fixtures that run every kernel test on every backend (and every SIMD path of the C backend).

A backend that fails to load is skipped on a developer machine but fails the test in CI
(CI=true): a broken build must never pass as "skipped". A SIMD path the CPU lacks is skipped.
"""

from __future__ import annotations

import pytest
from kernels_testlib import BACKENDS, KERNEL_PATHS, SIMD_LEVELS, load_or_skip


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Each backend module in turn."""
    return load_or_skip(request.param)


@pytest.fixture(params=KERNEL_PATHS, ids=lambda p: p[0] if p[1] is None else f"{p[0]}-{p[1]}")
def kernel(request):
    """Each backend module in turn, the C backend once per SIMD path this CPU has."""
    name, path = request.param
    module = load_or_skip(name)
    if path is None:
        yield module
        return
    ck = module._ck
    level = SIMD_LEVELS[path]
    if level > ck.simd_detect():
        pytest.skip(f"this CPU has no {path}")
    before = ck.simd_level()
    ck.simd_set(level)
    try:
        yield module
    finally:
        ck.simd_set(before)
