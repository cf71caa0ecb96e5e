"""A wallet file's content in memory (`Wallet`, `WalletKey`, `KdfParams`), the limits on it, and
`WalletError`, which every wallet operation raises in words (never holding a secret)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_KEYS = 10_000
MAX_LABEL_LENGTH = 100


class WalletError(Exception):
    """A wallet operation that cannot be done, with the reason in words (never a secret)."""


class WalletNotFoundError(WalletError):
    """No wallet of that name on that network."""


def corrupted(path: Path, what: str) -> WalletError:
    return WalletError(f"wallet file {path} is corrupted: {what}")


@dataclass(frozen=True, slots=True)
class KdfParams:
    salt: bytes
    opslimit: int
    memlimit: int


@dataclass(frozen=True, slots=True)
class WalletKey:
    """One key's public data and its sealed seed (useless without the passphrase)."""

    public_key: bytes
    address: str
    label: str
    created: int
    nonce: bytes = field(repr=False)
    sealed_seed: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Wallet:
    """A wallet as read from its file. Holds no secret: `keystore.unlock` returns the keys."""

    name: str
    network: str
    created: int
    kdf: KdfParams = field(repr=False)
    keys: tuple[WalletKey, ...]
    path: Path
    hd: dict[str, Any] | None = field(default=None, repr=False)  # the seed: coinium.wallet.hd

    @property
    def receiving_address(self) -> str:
        return self.keys[0].address

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(k.address for k in self.keys)


def check_label(label: str) -> None:
    if not isinstance(label, str) or len(label) > MAX_LABEL_LENGTH or not label.isprintable():
        raise WalletError(f"a label is printable text of at most {MAX_LABEL_LENGTH} characters")
