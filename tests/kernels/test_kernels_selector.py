"""The backend selector: COINIUM_KERNELS, the default order, and the API every backend exports."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from kernels_testlib import load_or_skip

from coinium import kernels
from coinium.kernels import KernelBackendError, load_backend


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "COINIUM_KERNELS"}
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True,
                          text=True, timeout=120)


def test_every_backend_exports_the_api(backend):
    assert backend.NAME in ("python", "cython", "numba")
    for name in ("pow_search", "merkle_root", "verify_batch"):
        assert callable(getattr(backend, name))


def test_unknown_backend_is_an_error():
    with pytest.raises(KernelBackendError):
        load_backend("fortran")


def test_environment_picks_the_backend():
    done = run_python("from coinium import kernels; print(kernels.BACKEND)",
                      COINIUM_KERNELS="python")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "python"
    assert "unavailable" not in done.stderr


def test_environment_naming_a_missing_backend_fails():
    done = run_python("import coinium.kernels", COINIUM_KERNELS="fortran")
    assert done.returncode != 0
    assert "fortran" in done.stderr


def test_default_is_the_compiled_backend():
    load_or_skip("cython")  # in CI the extension must be built
    done = run_python("from coinium import kernels; print(kernels.BACKEND)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "cython"


def test_module_level_api_is_the_selected_backend():
    selected = load_backend(kernels.BACKEND)
    assert kernels.pow_search is selected.pow_search
    assert kernels.merkle_root is selected.merkle_root
    assert kernels.verify_batch is selected.verify_batch
    assert kernels.BACKEND in kernels.available_backends()
