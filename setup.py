"""Build the compiled kernels from `_ext/`.

The Cython extension is optional at install time in one sense only: if no C compiler is
available the package installs anyway and `coinium.kernels` runs on the pure-Python backend,
saying so once. Set ``COINIUM_REQUIRE_EXT=1`` (CI does) to turn a failed build into an error, so
a broken extension can never pass unnoticed.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    def run(self):
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any build failure degrades to pure Python
            self._give_up(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._give_up(exc)

    def _give_up(self, exc):
        if os.environ.get("COINIUM_REQUIRE_EXT") == "1":
            raise
        print(
            f"WARNING: building the compiled kernels failed ({exc}); "
            "coinium will use the pure-Python kernel backend.",
            file=sys.stderr,
        )


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
        sources=["_ext/ckernels.pyx", "_ext/csrc/blake3_kernels.c", "_ext/csrc/verify_threads.c"],
        include_dirs=["_ext/csrc"],
        depends=["_ext/csrc/blake3_kernels.h"],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )
    # The state tree's fast path (store/state_tree.py) hashes with the same BLAKE3 lanes.
    state = Extension(
        "coinium.store._state_fast",
        sources=["_ext/state_fast.pyx", "_ext/csrc/blake3_kernels.c"],
        include_dirs=["_ext/csrc"],
        depends=["_ext/csrc/blake3_kernels.h"],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )
    return cythonize([ext, state], language_level=3, compiler_directives={"boundscheck": False,
                                                                    "wraparound": False})


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
