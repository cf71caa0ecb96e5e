"""Wallets by name: create, load, unlock and add keys, over the wallet file.

A wallet lives in ``<network datadir>/wallets/<NAME>.wallet``, where the network datadir is the
base datadir for main and its ``testnet/`` or ``regtest/`` subfolder otherwise (as
`coinium.config.NodeOptions.datadir`). The folder is 0700 and every file 0600.

The file's format is `coinium.wallet.wallet_format`; how seeds are sealed with the passphrase,
`coinium.wallet.seed_sealing`; how files are written, `coinium.wallet.wallet_files`.

Public keys, addresses, labels and times are in clear so that ``list`` and ``address`` need no
passphrase. The passphrase does not authenticate them, so every unlock opens *every* seed and
checks it against its clear public key: a tampered file is refused as corrupted before any key
is used. Without the passphrase, the file's owner-only mode is what protects the clear part
(someone who can write your files can also replace the program that reads them).

Errors are `WalletError`s in words, never holding a secret. The first seed failing to open reads
"wrong passphrase for wallet 'alice'": a damaged sealed seed looks exactly the same and nothing
can tell them apart. Anything else malformed reads "wallet file <path> is corrupted: <what>".
Reading never writes.

Secrets in memory: Python cannot wipe memory, so seeds and the derived key live only in the locals
of `unlock`/`add_key` and in the `PrivateKey` objects handed to the caller; `Wallet` objects hold
no secret and logs, reprs and exception messages never show one.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import replace
from pathlib import Path

import nacl.utils

from coinium.core.params import NetworkParams
from coinium.crypto.keys import PrivateKey
from coinium.wallet.seed_sealing import (
    DEFAULT_MEMLIMIT,
    DEFAULT_OPSLIMIT,
    SALT_SIZE,
    associated_data,
    check_kdf_limits,
    derive_key,
    open_seed,
    seal_key,
)
from coinium.wallet.wallet_data import (
    MAX_KEYS,
    KdfParams,
    Wallet,
    WalletError,
    WalletKey,
    WalletNotFoundError,
    check_label,
    corrupted,
)
from coinium.wallet.wallet_files import (
    WALLET_SUFFIX,
    ensure_private_dir,
    locked,
    write_new,
    write_replace,
)
from coinium.wallet.wallet_format import MAX_FILE_SIZE, decode_wallet, encode_wallet

__all__ = [
    "DEFAULT_MEMLIMIT", "DEFAULT_OPSLIMIT", "Wallet", "WalletError", "WalletKey",
    "WalletNotFoundError", "add_key", "check_wallet_name", "create_wallet", "list_wallets",
    "load_wallet", "network_datadir", "open_all", "passphrase_weaknesses", "unlock", "unlock_key",
    "wallet_path", "wallets_dir",
]

log = logging.getLogger("coinium.wallet")

WALLETS_SUBDIR = "wallets"

MIN_PASSPHRASE_LENGTH = 12
# A tiny list: the passphrases every guesser tries first. Not a dictionary check.
_COMMON_PASSPHRASES = frozenset(
    """
    password password1 password12 password123 password1234 passw0rd p@ssw0rd p@ssword passphrase
    mypassphrase 123456 12345678 123456789 1234567890 123456789012 111111111111 000000000000
    qwerty qwerty123 qwertyuiop qwertyuiop123 asdfghjkl letmein letmein123 iloveyou iloveyou123
    admin admin123 welcome welcome123 changeme secret trustno1 monkey dragon sunshine princess
    football abc123 abcdefghijkl hunter2 coinium coinium123 bitcoin bitcoin123 satoshi
    satoshinakamoto correcthorsebatterystaple
    """.split()
) | {"correct horse battery staple"}

# Letters or digits first: no hidden files, and no name a shell or the command line reads as a flag.
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


# --- names and places -------------------------------------------------------------------------
def network_datadir(base_datadir: str | os.PathLike[str], params: NetworkParams) -> Path:
    """The network's own folder, as `coinium.config.NodeOptions.datadir`."""
    base = Path(base_datadir).expanduser()
    return base / params.data_subdir if params.data_subdir else base


def wallets_dir(datadir: Path) -> Path:
    """``datadir`` is the network datadir (see `network_datadir`)."""
    return Path(datadir) / WALLETS_SUBDIR


def check_wallet_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise WalletError(
            f"invalid wallet name {name!r}: use 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def wallet_path(datadir: Path, name: str) -> Path:
    return wallets_dir(datadir) / (check_wallet_name(name) + WALLET_SUFFIX)


def list_wallets(datadir: Path) -> list[str]:
    """Names of the wallet files in the network datadir, sorted (their contents unchecked)."""
    folder = wallets_dir(datadir)
    if not folder.is_dir():
        return []
    names = [p.name[: -len(WALLET_SUFFIX)] for p in folder.glob("*" + WALLET_SUFFIX)]
    return sorted(n for n in names if _NAME_RE.fullmatch(n))


# --- passphrases ------------------------------------------------------------------------------
def passphrase_weaknesses(passphrase: str) -> list[str]:
    """Why a passphrase is weak, in words; empty when none of the simple checks fires."""
    if not passphrase:
        return ["it is empty"]
    reasons = []
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        reasons.append(f"it is shorter than {MIN_PASSPHRASE_LENGTH} characters")
    if passphrase.lower() in _COMMON_PASSPHRASES:
        reasons.append("it is one of the most common passphrases")
    if len({_char_class(c) for c in passphrase}) == 1:
        reasons.append("it uses only one kind of character (mix letters, digits, symbols, spaces)")
    return reasons


def _char_class(c: str) -> str:
    if c.islower():
        return "lower"
    if c.isupper():
        return "upper"
    if c.isdigit():
        return "digit"
    return "other"


# --- operations -------------------------------------------------------------------------------
def create_wallet(
    datadir: Path,
    params: NetworkParams,
    name: str,
    passphrase: str,
    *,
    label: str = "",
    opslimit: int = DEFAULT_OPSLIMIT,
    memlimit: int = DEFAULT_MEMLIMIT,
    now: int | None = None,
) -> Wallet:
    """Create ``<datadir>/wallets/<name>.wallet`` with one new key; never overwrites a wallet.

    ``datadir`` is the network datadir. A weak passphrase is the caller's to warn about
    (`passphrase_weaknesses`); only an empty one is refused here.
    """
    check_wallet_name(name)
    if not isinstance(passphrase, str) or not passphrase:
        raise WalletError("a wallet needs a passphrase: an empty one is refused")
    problem = check_kdf_limits(opslimit, memlimit)
    if problem:
        raise WalletError(problem)
    check_label(label)
    path = wallet_path(datadir, name)
    if path.exists():  # checked again, atomically, when the file is linked into place
        raise WalletError(f"a wallet named {name!r} already exists on {params.name}: {path}")
    created = int(time.time()) if now is None else now
    kdf = KdfParams(nacl.utils.random(SALT_SIZE), opslimit, memlimit)
    key = derive_key(passphrase, kdf)
    first = seal_key(key, PrivateKey.generate(), params, name, label, created)
    del key
    wallet = Wallet(name, params.name, created, kdf, (first,), path)
    ensure_private_dir(wallets_dir(datadir))
    write_new(path, encode_wallet(wallet), name, params.name)
    log.info("created wallet %r on %s at %s", name, params.name, path)
    return wallet


def load_wallet(datadir: Path, params: NetworkParams, name: str) -> Wallet:
    """Read and check a wallet's file; needs no passphrase and never writes."""
    path = wallet_path(datadir, name)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_SIZE + 1)
    except FileNotFoundError:
        raise WalletNotFoundError(
            f"no wallet named {name!r} on {params.name} (looked for {path})"
        ) from None
    except OSError as exc:
        raise WalletError(f"cannot read wallet file {path}: {exc.strerror}") from None
    if len(data) > MAX_FILE_SIZE:
        raise corrupted(path, f"larger than {MAX_FILE_SIZE} bytes")
    return decode_wallet(data, path, params, name)


def unlock(wallet: Wallet, passphrase: str) -> list[PrivateKey]:
    """Every key of the wallet, in file order; `WalletError` on a wrong passphrase."""
    key = derive_key(passphrase, wallet.kdf)
    try:
        return open_all(wallet, key)
    finally:
        del key


def unlock_key(wallet: Wallet, passphrase: str, address: str | None = None) -> PrivateKey:
    """The key of ``address`` (the receiving key when None), after checking the whole file."""
    index = 0 if address is None else _index_of(wallet, address)
    return unlock(wallet, passphrase)[index]


def open_all(wallet: Wallet, key: bytes) -> list[PrivateKey]:
    """Every key of the wallet under its derived ``key``, each opened and checked against its
    public key (see the module docstring)."""
    ad = associated_data(wallet.network, wallet.name)
    keys = []
    for i, wk in enumerate(wallet.keys):
        seed = open_seed(wk, ad, key)
        if seed is None:
            if i == 0:
                raise WalletError(f"wrong passphrase for wallet {wallet.name!r}") from None
            raise corrupted(
                wallet.path, f"key {i} does not open with the passphrase that opens key 0"
            ) from None
        private = PrivateKey(seed)
        del seed
        if private.public_key != wk.public_key:
            raise corrupted(wallet.path, f"key {i}: the public key is not the sealed key's")
        keys.append(private)
    return keys


def add_key(
    datadir: Path,
    params: NetworkParams,
    name: str,
    passphrase: str,
    *,
    label: str = "",
    now: int | None = None,
) -> tuple[Wallet, WalletKey]:
    """Add a new random key to a wallet (needs its passphrase); returns the wallet and the key.

    The file is re-read under a lock on the wallets folder, so two concurrent adds both land.
    A backup made before this call does not hold the new key.
    """
    check_label(label)
    with locked(wallets_dir(datadir)):
        wallet = load_wallet(datadir, params, name)
        if len(wallet.keys) >= MAX_KEYS:
            raise WalletError(f"wallet {name!r} already holds {MAX_KEYS} keys, the most it may")
        key = derive_key(passphrase, wallet.kdf)
        try:
            open_all(wallet, key)  # the passphrase must be the wallet's before we seal with it
            created = int(time.time()) if now is None else now
            private = PrivateKey.generate()
            if wallet.hd is not None:  # a deterministic wallet derives its next key
                from coinium.wallet.hd import next_key

                private, wallet = next_key(wallet, key)
            new = seal_key(key, private, params, name, label, created)
        finally:
            del key
        wallet = replace(wallet, keys=wallet.keys + (new,))
        write_replace(wallet.path, encode_wallet(wallet))
    log.info("added key %d to wallet %r on %s", len(wallet.keys) - 1, name, params.name)
    return wallet, new


def _index_of(wallet: Wallet, address: str) -> int:
    for i, wk in enumerate(wallet.keys):
        if wk.address == address:
            return i
    raise WalletError(f"address {address} is not in wallet {wallet.name!r}")
