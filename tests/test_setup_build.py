"""setup.py: a failed rebuild leaves no stale extension behind (issue 17)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SO_GLOB = "_ckernels*.so"


def test_failed_rebuild_does_not_install_the_stale_extension(tmp_path):
    built = sorted((REPO_ROOT / "build").glob(f"lib*/coinium/kernels/{SO_GLOB}"))
    if not built or not (REPO_ROOT / "_ext" / "ckernels.c").exists():
        pytest.skip("needs an earlier `python setup.py build_ext --inplace` in this checkout")
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("setup.py", "pyproject.toml"):
        shutil.copy2(REPO_ROOT / name, tree / name)
    shutil.copytree(REPO_ROOT / "_ext", tree / "_ext")
    shutil.copytree(REPO_ROOT / "build", tree / "build")  # the earlier build, with its binary
    shutil.copytree(REPO_ROOT / "coinium", tree / "coinium",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    assert list((tree / "coinium" / "kernels").glob(SO_GLOB))
    with open(tree / "_ext" / "csrc" / "blake3_core.c", "a") as source:
        source.write("\n#error a change that does not compile\n")
    env = {k: v for k, v in os.environ.items() if k != "COINIUM_REQUIRE_EXT"}
    done = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=tree,
                          env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr  # optional: the install goes on without it
    assert "building the compiled kernels failed" in done.stderr
    assert not list((tree / "coinium" / "kernels").glob(SO_GLOB)), done.stderr
    assert not list((tree / "build").glob(f"lib*/coinium/kernels/{SO_GLOB}"))

