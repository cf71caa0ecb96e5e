"""The hot kernels behind one small API, whatever the backend.

``COINIUM_KERNELS=cython|numba|python`` picks a backend; a requested backend that fails to load is
an error, never a silent fallback. Without the variable the fastest backend that loads is used
(cython, then numba, then python). If the compiled extension is missing, this says so once per
run of a program (processes it starts, such as miner workers, inherit ``COINIUM_KERNELS_NOTICE``
and stay quiet), and while Numba compiles its kernels (about half a minute on a first start) it
says how long it has been at it.

The GPU backend, ``cuda`` (Numba's CUDA target, ``pip install 'coinium[gpu]'``), provides only
`pow_search`, so it is never a default: the GPU miner loads it with ``load_backend("cuda")`` in
its own worker processes. ``COINIUM_KERNELS=cuda`` asks for it explicitly: `pow_search` then runs
on the GPU and the other kernels on the fastest CPU backend (``BACKEND`` names that one,
``POW_BACKEND`` says "cuda"); without a usable GPU that is an error.

    pow_search(header, target, start_nonce, count) -> (nonce | None, hashes_done)
    merkle_root(txids) -> bytes
    keyed_hash64(key, blocks) -> list[bytes]     (BLAKE3 keyed hash of each 64-byte block)
    verify_batch(public_keys, messages, signatures) -> list[bool]
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from types import ModuleType

log = logging.getLogger("coinium.kernels")

_BACKEND_MODULES = {
    "cython": "coinium.kernels.cython_backend",
    "numba": "coinium.kernels.numba_backend",
    "python": "coinium.kernels.python_backend",
    "cuda": "coinium.kernels.cuda_backend",  # pow_search only: never chosen by default
}
_POW_ONLY = ("cuda",)
_PREFERENCE = ("cython", "numba", "python")
_NOTICE_ENV = "COINIUM_KERNELS_NOTICE"  # set once the fallback was reported: children inherit it
PROGRESS_INTERVAL_S = 10.0


class KernelBackendError(ImportError):
    """A backend that was asked for by name could not be loaded."""


def load_backend(name: str) -> ModuleType:
    """Import one backend by name; raise KernelBackendError if it cannot load."""
    if name not in _BACKEND_MODULES:
        raise KernelBackendError(
            f"unknown kernel backend {name!r}; choose one of {', '.join(_BACKEND_MODULES)}"
        )
    try:
        return importlib.import_module(_BACKEND_MODULES[name])
    except ImportError as exc:
        raise KernelBackendError(f"kernel backend {name!r} failed to load: {exc}") from exc


def available_backends() -> list[str]:
    """Names of the backends that load on this machine, fastest first."""
    names = []
    for name in _PREFERENCE:
        try:
            load_backend(name)
        except KernelBackendError:
            continue
        names.append(name)
    return names


def _select(requested: str) -> ModuleType:
    if requested:
        return load_backend(requested)
    failures: list[str] = []
    for name in _PREFERENCE:
        if not failures:
            try:
                return load_backend(name)
            except KernelBackendError as exc:
                failures.append(str(exc))
                continue
        try:
            return _load_fallback(name)
        except KernelBackendError as exc:
            failures.append(str(exc))
    raise KernelBackendError("; ".join(failures))


def _load_fallback(name: str) -> ModuleType:
    """Load a slower backend, telling the operator why and, while Numba compiles, how long."""
    quiet = bool(os.environ.get(_NOTICE_ENV))
    if not quiet:
        compiling = " (its first start compiles it: about 30 s)" if name == "numba" else ""
        log.warning("compiled kernels unavailable; using the %s kernel backend (slower)%s. "
                    "Reinstall with a C compiler to build them.", name, compiling)  # fmt: skip
    started = time.monotonic()
    done = threading.Event()

    def progress() -> None:
        while not done.wait(PROGRESS_INTERVAL_S):
            log.warning("still preparing the %s kernels (%.0f s)", name,
                        time.monotonic() - started)  # fmt: skip

    ticker = threading.Thread(target=progress, name="kernel-progress", daemon=True)
    if not quiet:
        ticker.start()
    try:
        backend = load_backend(name)
    finally:
        done.set()
    os.environ[_NOTICE_ENV] = "1"
    elapsed = time.monotonic() - started
    if not quiet and elapsed >= 1.0:
        log.warning("%s kernels ready in %.0f s", name, elapsed)
    return backend


_requested = os.environ.get("COINIUM_KERNELS", "").strip().lower()
_pow_backend = load_backend(_requested) if _requested in _POW_ONLY else None
_backend = _select("" if _pow_backend is not None else _requested)

BACKEND: str = _backend.NAME
POW_BACKEND: str = (_pow_backend or _backend).NAME
pow_search = (_pow_backend or _backend).pow_search
merkle_root = _backend.merkle_root
keyed_hash64 = _backend.keyed_hash64
verify_batch = _backend.verify_batch

__all__ = [
    "BACKEND",
    "KernelBackendError",
    "POW_BACKEND",
    "available_backends",
    "keyed_hash64",
    "load_backend",
    "merkle_root",
    "pow_search",
    "verify_batch",
]
