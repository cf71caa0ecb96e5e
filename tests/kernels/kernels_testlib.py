"""Helpers shared by the kernel tests (imported by name: tests/kernels is on sys.path)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from coinium.kernels import KernelBackendError, load_backend

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors"

BACKENDS = ("python", "cython", "numba")
# (backend, SIMD path) pairs for the BLAKE3 kernels; None: the backend has one path.
KERNEL_PATHS = (
    ("python", None),
    ("cython", "avx512"),
    ("cython", "avx2"),
    ("cython", "portable"),
    ("numba", None),
)
SIMD_LEVELS = {"portable": 0, "avx2": 1, "avx512": 2}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def load_or_skip(name: str):
    """The backend module; in CI a backend that fails to load fails the test instead."""
    try:
        return load_backend(name)
    except KernelBackendError as exc:
        if in_ci():
            pytest.fail(f"kernel backend {name!r} must load in CI: {exc}")
        pytest.skip(f"kernel backend {name!r} unavailable: {exc}")


def ticks_while(work: Callable[[], object]) -> int:
    """Run ``work`` in a thread and count loops of Python code in this one until it ends: a
    kernel that releases the GIL lets the count run into the tens of thousands."""
    done = threading.Event()
    failure: list[BaseException] = []

    def run():
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread
            failure.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=run)
    worker.start()
    ticks = 0
    while not done.is_set():
        ticks += 1
    worker.join()
    if failure:
        raise failure[0]
    return ticks
