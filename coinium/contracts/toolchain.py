"""Building a C contract with clang's wasm32 target (Debian: ``apt-get install clang lld``),
against the SDK in ``contracts/sdk``: ``python -m coinium.contracts.toolchain token.c``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

SDK = Path(__file__).resolve().parents[2] / "contracts" / "sdk"
FLAGS = ["--target=wasm32", "-mcpu=mvp", "-O2", "-nostdlib", "-fno-builtin",
         "-Wl,--no-entry", "-Wl,--strip-all", "-Wl,-z,stack-size=32768",
         "-Wl,--initial-memory=131072", "-Wl,--max-memory=1048576"]  # fmt: skip


def clang() -> str | None:
    return shutil.which("clang")


def build_c(source: Path, output: Path | None = None) -> bytes:
    """Compile one C file to a contract; returns the Wasm bytes (and writes ``output``)."""
    compiler = clang()
    if compiler is None:
        raise RuntimeError("clang not found: apt-get install clang lld")
    output = output or source.with_suffix(".wasm")
    subprocess.run([compiler, *FLAGS, f"-I{SDK}", "-o", str(output), str(source)], check=True)
    return output.read_bytes()


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"{name}: {len(build_c(Path(name)))} bytes")
