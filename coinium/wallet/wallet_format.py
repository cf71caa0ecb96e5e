"""The wallet file's format: a `Wallet` to bytes and back, every field of a read file checked.

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

(`coinium.wallet.seed_sealing` says how the seeds are sealed; an HD wallet has one more
top-level object, "hd", described in `coinium.wallet.hd`.) Anything malformed reads "wallet file
<path> is corrupted: <what>"; a file of another network, name or a newer version says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from coinium.core.params import NetworkParams
from coinium.crypto.address import account_id, encode_address
from coinium.wallet.seed_sealing import (
    CIPHER,
    KDF_ALGORITHM,
    NONCE_SIZE,
    SALT_SIZE,
    SEALED_SEED_SIZE,
    check_kdf_limits,
)
from coinium.wallet.wallet_data import (
    MAX_KEYS,
    MAX_LABEL_LENGTH,
    KdfParams,
    Wallet,
    WalletError,
    WalletKey,
    corrupted,
)

FORMAT_NAME = "coinium-wallet"
FORMAT_VERSION = 1
PUBLIC_KEY_SIZE = 32
MAX_FILE_SIZE = 8 << 20  # far above MAX_KEYS keys; stops reading a huge stray file whole
MAX_TIME = 253_402_300_799  # 9999-12-31 23:59:59 UTC: the last time a date can show


def encode_wallet(wallet: Wallet) -> bytes:
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


def decode_wallet(data: bytes, path: Path, params: NetworkParams, name: str) -> Wallet:
    try:
        return _decode_doc(data, path, params, name)
    except _Corrupt as exc:
        raise corrupted(path, str(exc)) from None


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
    problem = check_kdf_limits(kdf.opslimit, kdf.memlimit)
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


