"""Without the compiled extension (no C compiler at install), the fallback is said once per run,
not once per process, and Numba's first compile says how long it has been at it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# A fixed place (build/ is ignored by git): Numba's cache there survives between runs, so only
# the first run pays the compile.
TREE = REPO_ROOT / "build" / "tree-without-extension"

PARENT_AND_CHILD = """
import subprocess, sys
import coinium.kernels as k
print("parent", k.BACKEND)
subprocess.run([sys.executable, "-c", "import coinium.kernels as k; print('child', k.BACKEND)"],
               check=True)
"""


def copy_without_extension() -> Path:
    shutil.copytree(REPO_ROOT / "coinium", TREE / "coinium", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.so", "*.pyd"))  # fmt: skip
    for stale in (TREE / "coinium").rglob("*.so"):  # one copied by an older version of the test
        stale.unlink()
    return TREE


def test_fallback_is_reported_once_with_progress():
    tree = copy_without_extension()
    env = {k: v for k, v in os.environ.items()
           if k not in ("COINIUM_KERNELS", "COINIUM_KERNELS_NOTICE")}  # fmt: skip
    env["PYTHONPATH"] = str(tree)
    done = subprocess.run([sys.executable, "-c", PARENT_AND_CHILD], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "parent numba" in done.stdout and "child numba" in done.stdout, done.stdout
    notices = [line for line in done.stderr.splitlines() if "kernels unavailable" in line]
    assert len(notices) == 1, done.stderr  # the child inherited the notice: silent
    assert "numba" in notices[0] and "30 s" in notices[0]
