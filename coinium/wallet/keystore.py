"""The wallet file: Ed25519 seeds encrypted with a passphrase, public data in clear.

A wallet lives in ``<network datadir>/wallets/<NAME>.wallet``, where the network datadir is the
base datadir for main and its ``testnet/`` or ``regtest/`` subfolder otherwise (as
`coinium.config.NodeOptions.datadir`). The folder is 0700 and every file 0600.

Format, version 1: UTF-8 JSON, binary values in lowercase hex::

    {
      "format": "coinium-wallet",
      "version": 1,
      "network": "regtest",                     # NetworkParams.name
      "name": "alice",                          # must equal the file name without ".wallet"
      "created": 1795305600,                    # unix seconds
      "kdf": {"algorithm": "argon2id13",        # libsodium crypto_pwhash_argon2id
              "salt": "<16 bytes>", "opslimit": 3, "memlimit": 268435456},
      "cipher": "xchacha20poly1305-ietf",
      "keys": [                                 # one or more; keys[0] is the receiving key
        {"public_key": "<32 bytes>", "address": "rcn1...", "label": "", "created": 1795305600,
         "nonce": "<24 bytes>", "encrypted_seed": "<48 bytes: ciphertext || 16-byte tag>"}
      ]
    }

Secret part: ``k = Argon2id(NFC(passphrase) as UTF-8, salt, opslimit, memlimit)``, 32 bytes, one
salt per wallet. Each key's 32-byte Ed25519 seed is sealed with XChaCha20-Poly1305 (IETF) under
``k`` with its own random 24-byte nonce and associated data
``b"coinium wallet v1\\0" + network + b"\\0" + name``, so a sealed seed does not open in another
wallet or on another network (and a wallet file cannot be renamed: the name is bound in).

Public part: public keys, addresses, labels and times are in clear so that ``list`` and
``address`` need no passphrase. The passphrase does not authenticate them, so every unlock opens
*every* seed and checks it against its clear public key: a tampered file is refused as corrupted
before any key is used. Without the passphrase, the file's owner-only mode is what protects the
clear part (someone who can write your files can also replace the program that reads them).

Errors are `WalletError`s in words, never holding a secret. The first seed failing to open reads
"wrong passphrase for wallet 'alice'": a damaged sealed seed looks exactly the same and nothing
can tell them apart. Anything else malformed reads "wallet file <path> is corrupted: <what>".
Reading never writes. Writes go to a temporary file (O_EXCL, 0600, fsync) renamed into place:
a hard link for a new wallet (never overwrites one), ``os.replace`` when a key is added.

Secrets in memory: Python cannot wipe memory, so seeds and the derived key live only in the locals
of `unlock`/`add_key` and in the `PrivateKey` objects handed to the caller; `Wallet` objects hold
no secret and logs, reprs and exception messages never show one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import nacl.bindings
import nacl.exceptions
import nacl.pwhash.argon2id as argon2id
import nacl.utils

from coinium.core.params import NetworkParams
from coinium.crypto.address import account_id, encode_address
from coinium.crypto.keys import PrivateKey

log = logging.getLogger("coinium.wallet")

FORMAT_NAME = "coinium-wallet"
FORMAT_VERSION = 1
KDF_ALGORITHM = "argon2id13"
CIPHER = "xchacha20poly1305-ietf"
WALLETS_SUBDIR = "wallets"
WALLET_SUFFIX = ".wallet"

# libsodium's "moderate" profile (3 passes over 256 MiB, about a second): a stolen wallet file
# costs an attacker that much per guess. Tests pass libsodium's minimum instead.
DEFAULT_OPSLIMIT = argon2id.OPSLIMIT_MODERATE
DEFAULT_MEMLIMIT = argon2id.MEMLIMIT_MODERATE
MIN_OPSLIMIT = argon2id.OPSLIMIT_MIN
MIN_MEMLIMIT = argon2id.MEMLIMIT_MIN
# A file asking for more than this is refused as corrupted, so a crafted file cannot make unlock
# run for hours or allocate terabytes (libsodium's "sensitive" profile is 4 passes over 1 GiB).
MAX_OPSLIMIT = 64
MAX_MEMLIMIT = 4 << 30

SALT_SIZE = argon2id.SALTBYTES
KEY_SIZE = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_KEYBYTES
NONCE_SIZE = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
SEED_SIZE = 32
SEALED_SEED_SIZE = SEED_SIZE + nacl.bindings.crypto_aead_xchacha20poly1305_ietf_ABYTES
PUBLIC_KEY_SIZE = 32
MAX_KEYS = 10_000
MAX_LABEL_LENGTH = 100
MAX_FILE_SIZE = 8 << 20  # far above MAX_KEYS keys; stops reading a huge stray file whole

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
_AD_DOMAIN = b"coinium wallet v1\x00"


class WalletError(Exception):
    """A wallet operation that cannot be done, with the reason in words (never a secret)."""


class WalletNotFoundError(WalletError):
    """No wallet of that name on that network."""


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
    """A wallet as read from its file. Holds no secret: `unlock` returns the keys."""

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


def _derive(passphrase: str, kdf: KdfParams) -> bytes:
    if not isinstance(passphrase, str):
        raise TypeError("the passphrase must be text")
    # NFC so that the same passphrase typed on systems that compose accents differently matches.
    secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    return argon2id.kdf(KEY_SIZE, secret, kdf.salt, opslimit=kdf.opslimit, memlimit=kdf.memlimit)


def _check_kdf_limits(opslimit: int, memlimit: int) -> str | None:
    """What is wrong with these Argon2id limits, or None."""
    for what, value, low, high in (
        ("opslimit", opslimit, MIN_OPSLIMIT, MAX_OPSLIMIT),
        ("memlimit", memlimit, MIN_MEMLIMIT, MAX_MEMLIMIT),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            return f"Argon2id {what} must be a whole number from {low} to {high}, got {value!r}"
    return None


# --- sealing ----------------------------------------------------------------------------------
def _associated_data(network: str, name: str) -> bytes:
    return _AD_DOMAIN + network.encode() + b"\x00" + name.encode()


def _seal(
    key: bytes, private: PrivateKey, params: NetworkParams, name: str, label: str, created: int
) -> WalletKey:
    nonce = nacl.utils.random(NONCE_SIZE)
    sealed = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        private.seed, _associated_data(params.name, name), nonce, key
    )
    address = encode_address(params.address_prefix, private.account)
    return WalletKey(private.public_key, address, label, created, nonce, sealed)


def _open_all(wallet: Wallet, key: bytes) -> list[PrivateKey]:
    """Open every sealed seed and check it against its public key (see the module docstring)."""
    ad = _associated_data(wallet.network, wallet.name)
    keys = []
    for i, wk in enumerate(wallet.keys):
        try:
            seed = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
                wk.sealed_seed, ad, wk.nonce, key
            )
        except nacl.exceptions.CryptoError:
            if i == 0:
                raise WalletError(f"wrong passphrase for wallet {wallet.name!r}") from None
            raise _corrupted(
                wallet.path, f"key {i} does not open with the passphrase that opens key 0"
            ) from None
        private = PrivateKey(seed)
        del seed
        if private.public_key != wk.public_key:
            raise _corrupted(wallet.path, f"key {i}: the public key is not the sealed key's")
        keys.append(private)
    return keys


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
    problem = _check_kdf_limits(opslimit, memlimit)
    if problem:
        raise WalletError(problem)
    _check_label(label)
    path = wallet_path(datadir, name)
    if path.exists():  # checked again, atomically, when the file is linked into place
        raise WalletError(f"a wallet named {name!r} already exists on {params.name}: {path}")
    created = int(time.time()) if now is None else now
    kdf = KdfParams(nacl.utils.random(SALT_SIZE), opslimit, memlimit)
    key = _derive(passphrase, kdf)
    first = _seal(key, PrivateKey.generate(), params, name, label, created)
    del key
    wallet = Wallet(name, params.name, created, kdf, (first,), path)
    _ensure_private_dir(wallets_dir(datadir))
    _write_new(path, _encode(wallet), name, params.name)
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
        raise _corrupted(path, f"larger than {MAX_FILE_SIZE} bytes")
    return _decode(data, path, params, name)


def unlock(wallet: Wallet, passphrase: str) -> list[PrivateKey]:
    """Every key of the wallet, in file order; `WalletError` on a wrong passphrase."""
    key = _derive(passphrase, wallet.kdf)
    try:
        return _open_all(wallet, key)
    finally:
        del key


def unlock_key(wallet: Wallet, passphrase: str, address: str | None = None) -> PrivateKey:
    """The key of ``address`` (the receiving key when None), after checking the whole file."""
    index = 0 if address is None else _index_of(wallet, address)
    return unlock(wallet, passphrase)[index]


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
    _check_label(label)
    with _locked(wallets_dir(datadir)):
        wallet = load_wallet(datadir, params, name)
        if len(wallet.keys) >= MAX_KEYS:
            raise WalletError(f"wallet {name!r} already holds {MAX_KEYS} keys, the most it may")
        key = _derive(passphrase, wallet.kdf)
        try:
            _open_all(wallet, key)  # the passphrase must be the wallet's before we seal with it
            created = int(time.time()) if now is None else now
            private = PrivateKey.generate()
            if wallet.hd is not None:  # a deterministic wallet derives its next key
                from coinium.wallet.hd import next_key

                private, wallet = next_key(wallet, key)
            new = _seal(key, private, params, name, label, created)
        finally:
            del key
        wallet = replace(wallet, keys=wallet.keys + (new,))
        _write_replace(wallet.path, _encode(wallet))
    log.info("added key %d to wallet %r on %s", len(wallet.keys) - 1, name, params.name)
    return wallet, new


def _index_of(wallet: Wallet, address: str) -> int:
    for i, wk in enumerate(wallet.keys):
        if wk.address == address:
            return i
    raise WalletError(f"address {address} is not in wallet {wallet.name!r}")


def _check_label(label: str) -> None:
    if not isinstance(label, str) or len(label) > MAX_LABEL_LENGTH or not label.isprintable():
        raise WalletError(f"a label is printable text of at most {MAX_LABEL_LENGTH} characters")


# --- encoding ---------------------------------------------------------------------------------
def _encode(wallet: Wallet) -> bytes:
    doc = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "network": wallet.network,
        "name": wallet.name,
        "created": wallet.created,
        "kdf": {
            "algorithm": KDF_ALGORITHM,
            "salt": wallet.kdf.salt.hex(),
            "opslimit": wallet.kdf.opslimit,
            "memlimit": wallet.kdf.memlimit,
        },
        "cipher": CIPHER,
        "keys": [
            {
                "public_key": k.public_key.hex(),
                "address": k.address,
                "label": k.label,
                "created": k.created,
                "nonce": k.nonce.hex(),
                "encrypted_seed": k.sealed_seed.hex(),
            }
            for k in wallet.keys
        ],
    }
    if wallet.hd is not None:
        doc["hd"] = wallet.hd
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


class _Corrupt(Exception):
    """Internal: what is malformed, turned into a WalletError naming the file."""


def _corrupted(path: Path, what: str) -> WalletError:
    return WalletError(f"wallet file {path} is corrupted: {what}")


def _decode(data: bytes, path: Path, params: NetworkParams, name: str) -> Wallet:
    try:
        return _decode_doc(data, path, params, name)
    except _Corrupt as exc:
        raise _corrupted(path, str(exc)) from None


def _decode_doc(data: bytes, path: Path, params: NetworkParams, name: str) -> Wallet:
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise _Corrupt("not UTF-8 text") from None
    except json.JSONDecodeError as exc:  # its message names a position, never the content
        raise _Corrupt(f"not valid JSON ({exc})") from None
    except RecursionError:  # 100,000 "[": nesting no wallet has
        raise _Corrupt("not a coinium wallet file (nested too deep)") from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise _Corrupt(f"not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise _Corrupt("not a coinium wallet file")
    version = _field(doc, "version", int, "")
    if version > FORMAT_VERSION:
        raise WalletError(
            f"wallet file {path} has format version {version}, from a newer coinium; this one "
            f"reads version {FORMAT_VERSION}"
        )
    if version != FORMAT_VERSION:
        raise _Corrupt(f"unknown format version {version}")
    network = _field(doc, "network", str, "")
    if network != params.name:
        raise WalletError(f"wallet file {path} is for the {network!r} network, not {params.name!r}")
    stored_name = _field(doc, "name", str, "")
    if stored_name != name:
        raise WalletError(
            f"wallet file {path} holds wallet {stored_name!r}, not {name!r} (a wallet file cannot "
            "be renamed: its name is bound into the encryption)"
        )
    created = _time(doc, "created", "")
    kdf_doc = _field(doc, "kdf", dict, "")
    if kdf_doc.get("algorithm") != KDF_ALGORITHM:
        raise _Corrupt(f"kdf.algorithm must be {KDF_ALGORITHM!r}")
    kdf = KdfParams(
        _hex(kdf_doc, "salt", SALT_SIZE, "kdf."),
        _field(kdf_doc, "opslimit", int, "kdf."),
        _field(kdf_doc, "memlimit", int, "kdf."),
    )
    problem = _check_kdf_limits(kdf.opslimit, kdf.memlimit)
    if problem:
        raise _Corrupt(problem)
    if doc.get("cipher") != CIPHER:
        raise _Corrupt(f"cipher must be {CIPHER!r}")
    key_docs = _field(doc, "keys", list, "")
    if not 1 <= len(key_docs) <= MAX_KEYS:
        raise _Corrupt(f"keys must hold 1 to {MAX_KEYS} keys, it holds {len(key_docs)}")
    keys = []
    for i, kd in enumerate(key_docs):
        where = f"keys[{i}]."
        if not isinstance(kd, dict):
            raise _Corrupt(f"keys[{i}] is not an object")
        public_key = _hex(kd, "public_key", PUBLIC_KEY_SIZE, where)
        address = _field(kd, "address", str, where)
        if address != encode_address(params.address_prefix, account_id(public_key)):
            raise _Corrupt(f"{where}address does not match its public key")
        label = _field(kd, "label", str, where)
        if len(label) > MAX_LABEL_LENGTH:
            raise _Corrupt(f"{where}label is longer than {MAX_LABEL_LENGTH} characters")
        keys.append(
            WalletKey(
                public_key,
                address,
                label,
                _time(kd, "created", where),
                _hex(kd, "nonce", NONCE_SIZE, where),
                _hex(kd, "encrypted_seed", SEALED_SEED_SIZE, where),
            )
        )
    if len({k.public_key for k in keys}) != len(keys):
        raise _Corrupt("the same key appears twice")
    hd = doc.get("hd")
    if hd is not None and not isinstance(hd, dict):
        raise _Corrupt("hd must be an object")
    return Wallet(name, network, created, kdf, tuple(keys), path, hd)


def _field(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in obj:
        raise _Corrupt(f"{where}{key} is missing")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Corrupt(f"{where}{key} must be {kind.__name__}, not {type(value).__name__}")
    return value


MAX_TIME = 253_402_300_799  # 9999-12-31 23:59:59 UTC: the last time a date can show


def _time(obj: dict[str, Any], key: str, where: str) -> int:
    value = _field(obj, key, int, where)
    if value < 0:
        raise _Corrupt(f"{where}{key} is negative")
    if value > MAX_TIME:
        raise _Corrupt(f"{where}{key} is beyond any time (after the year 9999)")
    return value


def _hex(obj: dict[str, Any], key: str, size: int, where: str) -> bytes:
    text = _field(obj, key, str, where)
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise _Corrupt(f"{where}{key} is not hex") from None
    if len(value) != size:
        raise _Corrupt(f"{where}{key} must be {size} bytes, it is {len(value)}")
    return value


# --- files ------------------------------------------------------------------------------------
def _ensure_private_dir(folder: Path) -> None:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)  # mkdir's mode is cut by the umask and skips an existing folder
    except OSError as exc:
        raise WalletError(f"cannot prepare the wallets folder {folder}: {exc.strerror}") from None


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive advisory lock on the wallets folder (where flock exists)."""
    _ensure_private_dir(folder)
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


def _write_new(path: Path, data: bytes, name: str, network: str) -> None:
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


def _write_replace(path: Path, data: bytes) -> None:
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
