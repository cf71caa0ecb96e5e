"""Writing wallet files safely: an owner-only folder, an advisory lock on it, and whole files
written to a temporary file (O_EXCL, 0600, fsync) then moved into place: a hard link for a new
wallet (never overwrites one), ``os.replace`` for a changed one, the folder fsynced after.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import nacl.utils

from coinium.wallet.wallet_data import WalletError

WALLET_SUFFIX = ".wallet"


def ensure_private_dir(folder: Path) -> None:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)  # mkdir's mode is cut by the umask and skips an existing folder
    except OSError as exc:
        raise WalletError(f"cannot prepare the wallets folder {folder}: {exc.strerror}") from None


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """An exclusive advisory lock on the wallets folder (where flock exists)."""
    ensure_private_dir(folder)
    try:
        import fcntl
    except ImportError:  # Windows: no flock; concurrent key additions are the user's to avoid
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_temp(folder: Path, data: bytes) -> Path:
    """A fully written, fsynced, owner-only temporary file in ``folder``."""
    tmp = folder / f".tmp-{nacl.utils.random(8).hex()}{WALLET_SUFFIX}.part"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, 0o600)
    except OSError as exc:
        raise WalletError(f"cannot write in {folder}: {exc.strerror}") from None
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        _remove(tmp)
        raise WalletError(f"cannot write in {folder}: {exc.strerror}") from None
    except BaseException:
        _remove(tmp)
        raise
    return tmp


def write_new(path: Path, data: bytes, name: str, network: str) -> None:
    tmp = _write_temp(path.parent, data)
    try:
        try:
            os.link(tmp, path)  # atomic, and fails if the wallet exists: create never overwrites
        except FileExistsError:
            raise WalletError(
                f"a wallet named {name!r} already exists on {network}: {path}"
            ) from None
        except OSError:  # a filesystem without hard links
            if path.exists():
                raise WalletError(
                    f"a wallet named {name!r} already exists on {network}: {path}"
                ) from None
            os.replace(tmp, path)
    finally:
        _remove(tmp)
    _fsync_dir(path.parent)


def write_replace(path: Path, data: bytes) -> None:
    tmp = _write_temp(path.parent, data)
    try:
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise WalletError(f"cannot write wallet file {path}: {exc.strerror}") from None
    _fsync_dir(path.parent)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (no-op where folders cannot be opened, as on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
