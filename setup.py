"""Build the compiled kernels from `_ext/`.

The Cython extension is optional at install time in one sense only: if no C compiler is
available the package installs anyway and `coinium.kernels` runs on the pure-Python backend,
saying so once. Set ``COINIUM_REQUIRE_EXT=1`` (CI does) to turn a failed build into an error, so
a broken extension can never pass unnoticed.

A failed rebuild also removes the extension an earlier build left (in ``build/`` and, with
``--inplace``, in the source tree): setuptools would otherwise copy that stale binary into place
as if the rebuild had worked, and the node would run kernels older than their sources.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    def run(self):
        self.failed = set()
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any build failure degrades to pure Python
            self._give_up(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self.failed.add(ext.name)
            _remove(self.get_ext_fullpath(ext.name))  # the stale build, not to be copied
            self._give_up(exc)

    def copy_extensions_to_source(self):
        build_py = self.get_finalized_command("build_py")
        for ext in self.extensions:
            if ext.name in self.failed:
                inplace_file, _ = self._get_inplace_equivalent(build_py, ext)
                _remove(inplace_file)
        self.extensions = [ext for ext in self.extensions if ext.name not in self.failed]
        super().copy_extensions_to_source()

    def _give_up(self, exc):
        if os.environ.get("COINIUM_REQUIRE_EXT") == "1":
            raise
        print(
            f"WARNING: building the compiled kernels failed ({exc}); "
            "coinium will use the pure-Python kernel backend.",
            file=sys.stderr,
        )


def _remove(path):
    if os.path.exists(path):
        os.remove(path)
        print(f"removed the stale {path}", file=sys.stderr)


# BLAKE3: compression and SIMD dispatch, nonce search, keyed hashes of 64-byte blocks, Merkle root
# (blake3_internal.h holds what they share; blake3_kernels.h is their API).
BLAKE3_SOURCES = [f"_ext/csrc/blake3_{part}.c"
                  for part in ("core", "pow", "keyed", "merkle", "chunk")]  # fmt: skip
BLAKE3_HEADERS = ["_ext/csrc/blake3_kernels.h", "_ext/csrc/blake3_internal.h"]
# Coinium's Ed25519 rule: field, group, multi-scalar multiplication, the decoded-key cache, single
# and batch checks.
ED25519_PARTS = ("field", "group", "msm", "keycache", "batch")
ED25519_SOURCES = [f"_ext/csrc/ed25519_{part}.c" for part in ED25519_PARTS]
ED25519_HEADERS = [f"_ext/csrc/ed25519_{part}.h" for part in ED25519_PARTS]


def extensions():
    from Cython.Build import cythonize

    # No -m flags: the SIMD paths carry GCC/clang target attributes and are picked at run time,
    # so one build runs on any CPU of the architecture (see docs/KERNELS.md).
    if sys.platform == "win32":
        compile_args, link_args = ["/O2"], []
    else:
        compile_args, link_args = ["-O3", "-fno-strict-aliasing", "-pthread"], ["-pthread"]
    ext = Extension(
        "coinium.kernels._ckernels",
        # hand-written C lives in _ext/csrc/ (the .gitignore drops the generated _ext/*.c)
        sources=["_ext/ckernels.pyx", *BLAKE3_SOURCES, "_ext/csrc/verify_threads.c",
                 *ED25519_SOURCES],
        include_dirs=["_ext/csrc"],
        depends=[*BLAKE3_HEADERS, *ED25519_HEADERS],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )
    # The state tree's fast path (store/state_tree.py) hashes with the same BLAKE3 lanes.
    state = Extension(
        "coinium.store._state_fast",
        sources=["_ext/state_fast.pyx", *BLAKE3_SOURCES],
        include_dirs=["_ext/csrc"],
        depends=BLAKE3_HEADERS,
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )
    # The transaction decoder's fast path (core/transaction.py) hashes txids with the same BLAKE3.
    tx = Extension(
        "coinium.core._tx_fast",
        sources=["_ext/tx_fast.pyx", *BLAKE3_SOURCES],
        include_dirs=["_ext/csrc"],
        depends=BLAKE3_HEADERS,
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )
    return cythonize([ext, state, tx], language_level=3,
                     compiler_directives={"boundscheck": False, "wraparound": False})


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
