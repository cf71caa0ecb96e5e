"""The same contract blocks on every kernel backend give the same gas, receipts, events, storage
and state root (each backend in its own process, as a node would run it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from coinium.kernels import available_backends

WORKER = Path(__file__).resolve().parent / "determinism_worker.py"
ROOT = Path(__file__).resolve().parents[2]


def run(backend: str) -> dict:
    env = {**os.environ, "COINIUM_KERNELS": backend, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(WORKER)], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_python_and_cython_backends_agree_on_gas_events_and_root():
    backends = [b for b in ("python", "cython") if b in available_backends()]
    assert "python" in backends and len(backends) == 2, \
        "the cython backend is not built: python setup.py build_ext --inplace"
    first, second = (run(b) for b in backends)
    assert (first["backend"], second["backend"]) == ("python", "cython")
    reasons = [r[2] for r in first["receipts"]]
    assert reasons == [""] * 5 + ["out-of-gas", "contract-error", "", "out-of-gas"]
    assert any(ns == 0x43 for ns, _, _ in first["records"])  # events were written
    for field in ("root", "receipts", "records"):
        assert first[field] == second[field], field
