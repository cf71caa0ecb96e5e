"""libsodium entry points as raw C function addresses, for the compiled backends.

The library is the one PyNaCl ships in its wheel (or links, when built against a system
libsodium), so `pip install .` needs nothing more. The C batch check takes SHA-512 from it; the
numba backend (and the benchmarks' "before" baseline) call crypto_sign_verify_detached, whose
accepting implies Coinium's rule accepting (see ed25519_zip215.verify and docs/KERNELS.md).
"""

from __future__ import annotations

import ctypes

import nacl.bindings  # noqa: F401 - importing it runs sodium_init(), which libsodium needs first
from nacl import _sodium


def addresses() -> tuple[int, int]:
    """(address of crypto_sign_verify_detached, address of crypto_sign_open); one may be 0.

    crypto_sign_verify_detached is preferred (no copying). PyNaCl's cffi module does not bind it,
    so it is looked up as an exported symbol of the loaded module; if a build hides the symbol,
    crypto_sign_open (which PyNaCl does bind, and which applies the same check to sig || msg) is
    taken from cffi instead. Raises ImportError if neither can be had.
    """
    verify_detached = 0
    try:
        lib = ctypes.CDLL(_sodium.__file__)  # the module is loaded already; this is a dlopen
        verify_detached = ctypes.cast(lib.crypto_sign_verify_detached, ctypes.c_void_p).value or 0
    except (OSError, AttributeError):
        verify_detached = 0
    if verify_detached:
        return verify_detached, 0
    try:
        pointer = _sodium.ffi.addressof(_sodium.lib, "crypto_sign_open")
        sign_open = int(_sodium.ffi.cast("uintptr_t", pointer))
    except (AttributeError, TypeError, _sodium.ffi.error) as exc:
        raise ImportError(
            f"cannot reach libsodium's Ed25519 verifier through PyNaCl: {exc}"
        ) from exc
    return 0, sign_open


def sign_open_address() -> int:
    """crypto_sign_open's address from PyNaCl's cffi module (tests use it to check that path)."""
    pointer = _sodium.ffi.addressof(_sodium.lib, "crypto_sign_open")
    return int(_sodium.ffi.cast("uintptr_t", pointer))


def sha512_address() -> int:
    """crypto_hash_sha512's address (PyNaCl binds it), for the C Ed25519 checks' challenge hash."""
    try:
        pointer = _sodium.ffi.addressof(_sodium.lib, "crypto_hash_sha512")
        return int(_sodium.ffi.cast("uintptr_t", pointer))
    except (AttributeError, TypeError, _sodium.ffi.error) as exc:
        raise ImportError(f"cannot reach libsodium's SHA-512 through PyNaCl: {exc}") from exc
